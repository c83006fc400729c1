package httpx

import (
	"log/slog"
	"net/http"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain wraps h in mws, the first being the outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// EdgeConfig configures Edge for one surface.
type EdgeConfig struct {
	Logger  *slog.Logger
	Proxies *TrustedProxies
	// Format of error responses: FormatHTML for the admin UI, FormatJSON
	// (the zero value) for the API, webhooks and the widget API.
	Format ErrorFormat
	// MaxBody is the body limit; 0 means DefaultMaxBody.
	MaxBody int64
	// BodyLimits are the routes, by ServeMux pattern, allowed another
	// body limit than MaxBody (file uploads).
	BodyLimits map[string]int64
	// Methods accepted at all; empty means GET, HEAD, POST, PUT, PATCH,
	// DELETE and OPTIONS.
	Methods []string
	// Observe, when set, is told of every finished request, for metrics.
	Observe func(RequestStats)
}

// Edge wraps a surface's handler in the whole edge, outermost first:
// RequestID, the error format, AccessLog, SecurityHeaders, Recover,
// Methods, LimitBody. The order is the point: every response, including a
// recovered panic, a 405 or a 413, carries a request id, the security
// headers and an access-log line, and no handler runs before the method and
// body checks. Wrap a *http.ServeMux with Mux before passing it, so its 404
// and 405 go through WriteError too.
func Edge(cfg EdgeConfig, h http.Handler) http.Handler {
	max := cfg.MaxBody
	if max == 0 {
		max = DefaultMaxBody
	}
	return Chain(h,
		RequestID(cfg.Logger, cfg.Proxies),
		UseErrorFormat(cfg.Format),
		ObservedAccessLog(cfg.Logger, cfg.Proxies, cfg.Observe),
		SecurityHeaders(SecurityOptions{Proxies: cfg.Proxies}),
		Recover(),
		Methods(cfg.Methods...),
		LimitBodyRoutes(max, cfg.BodyLimits),
	)
}
