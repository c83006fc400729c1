package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
)

// HeaderRequestID carries the request id on every response.
const HeaderRequestID = "X-Request-Id"

// RequestID gives every request an id: a fresh random one, or the
// X-Request-Id sent by a trusted proxy when it has the strict format
// ValidRequestID accepts. A client's own id is never taken, so it cannot
// forge or collide log lines. The id is set on the response, stored in the
// context (RequestIDFrom) and attached to a request-scoped logger (Logger).
// A nil proxies trusts nobody.
func RequestID(logger *slog.Logger, proxies *TrustedProxies) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if v := r.Header.Get(HeaderRequestID); v != "" && ValidRequestID(v) && proxies.PeerTrusted(r) {
				id = v
			}
			if id == "" {
				id = randomID("req_", 16)
			}
			w.Header().Set(HeaderRequestID, id)
			ctx := context.WithValue(r.Context(), keyRequestID, id)
			// The request's logger is built when something first logs
			// through it: most requests log only their access line, which
			// names the request id itself.
			ctx = context.WithValue(ctx, keyLogger, &requestLogger{base: logger, id: id})
			// The request's shared record, made here so that the middlewares
			// inside (AccessLog, the error format, SecurityHeaders) fill it
			// in instead of each copying the request to add a value.
			if infoFrom(ctx) == nil {
				ctx = contextWithInfo(ctx, &requestInfo{})
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// ValidRequestID reports whether a proxy-supplied id is acceptable: 8 to 64
// ASCII letters, digits, '-' or '_' (UUIDs and our own ids fit), nothing that
// could break a log line or a header.
func ValidRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// LogHandler wraps h so that every record logged with a request's context
// (logger.InfoContext(ctx, ...)) carries its request_id, even from a logger
// that was not taken from Logger(ctx).
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{Handler: h} }

type requestIDHandler struct {
	slog.Handler
	// hasID is set once a request_id attribute was bound with WithAttrs
	// (the logger from Logger(ctx)), so the record does not get it twice.
	hasID bool
}

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" && !h.hasID && !hasAttr(rec, "request_id") {
		rec = rec.Clone()
		rec.AddAttrs(slog.String("request_id", id))
	}
	if as := annotations(ctx); len(as) > 0 {
		rec = rec.Clone()
		for _, a := range as {
			if !hasAttr(rec, a.Key) {
				rec.AddAttrs(a)
			}
		}
	}
	return h.Handler.Handle(ctx, rec)
}

func hasAttr(rec slog.Record, key string) bool {
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.hasID
	for _, a := range as {
		has = has || a.Key == "request_id"
	}
	return requestIDHandler{Handler: h.Handler.WithAttrs(as), hasID: has}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{Handler: h.Handler.WithGroup(name), hasID: h.hasID}
}

// requestLogger is a request's logger, made on first use: the base logger
// with the request id attached.
type requestLogger struct {
	base *slog.Logger
	id   string
	once sync.Once
	l    *slog.Logger
}

func (rl *requestLogger) get() *slog.Logger {
	rl.once.Do(func() { rl.l = rl.base.With(slog.String("request_id", rl.id)) })
	return rl.l
}
