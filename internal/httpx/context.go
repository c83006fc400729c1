package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyFormat
	keySecurity
	keyInfo
)

// RequestIDFrom returns the id RequestID gave this request, or "" outside
// that middleware.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// Logger returns the request-scoped logger (already carrying request_id)
// that RequestID put in ctx. Outside that middleware it falls back to
// slog.Default so an internal error is never dropped silently.
func Logger(ctx context.Context) *slog.Logger {
	switch l := ctx.Value(keyLogger).(type) {
	case *slog.Logger:
		return l
	case *requestLogger:
		return l.get()
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l as the request-scoped logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, keyLogger, l)
}

// requestInfo is filled in by inner layers (Mux) for outer ones
// (AccessLog), which cannot see r.Pattern once a middleware between them
// has replaced the request with r.WithContext.
type requestInfo struct {
	pattern string
	// patternSet: a Mux recorded pattern (even ""), which then wins over
	// r.Pattern, which an outer ServeMux may have set on the same request.
	patternSet bool
	// surface names the mounted part of the listener that served the
	// request (SetSurface), for metrics.
	surface string

	// format and security are the error format and the security policy
	// of the request when the edge's own middlewares chose them: kept here
	// rather than in a context of their own, they spare a copy of the
	// request each. A value set with its own context key (WithErrorFormat,
	// a nested middleware) is nearer and wins.
	format    ErrorFormat
	hasFormat bool
	security  *securityState

	mu sync.Mutex
	// attrs are what Annotate learned of the request once inside (the
	// workspace it acts in, the request of another process it serves);
	// every log line of the request carries them.
	attrs []slog.Attr
}

// SetSurface records which surface serves the request; a later call (an
// inner mount) wins. Outside RequestID and AccessLog it does nothing.
func SetSurface(ctx context.Context, name string) {
	if ri := infoFrom(ctx); ri != nil {
		ri.surface = name
	}
}

// Surface wraps h so that its requests are counted under surface name.
func Surface(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetSurface(r.Context(), name)
		h.ServeHTTP(w, r)
	})
}

// Annotate adds attributes to every later log line of the request made
// with its context, the access-log line included: the workspace_id once a
// handler knows it, or the id of the request of another process that this
// one serves. An attribute given again replaces the earlier value. Outside
// RequestID and AccessLog it does nothing.
func Annotate(ctx context.Context, attrs ...slog.Attr) {
	ri := infoFrom(ctx)
	if ri == nil {
		return
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
next:
	for _, a := range attrs {
		for i, b := range ri.attrs {
			if b.Key == a.Key {
				ri.attrs[i] = a
				continue next
			}
		}
		ri.attrs = append(ri.attrs, a)
	}
}

// annotations returns a copy of the attributes Annotate recorded.
func annotations(ctx context.Context) []slog.Attr {
	ri := infoFrom(ctx)
	if ri == nil {
		return nil
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return append([]slog.Attr(nil), ri.attrs...)
}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(keyInfo).(*requestInfo)
	return ri
}

func contextWithInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, keyInfo, ri)
}
