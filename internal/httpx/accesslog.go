package httpx

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/redact"
)

// AccessLog logs one line per request: method, route pattern, status, body
// bytes, duration, request id and client IP. It never logs the path, the
// query string or any header: paths and queries can carry tokens, and
// Authorization and Cookie headers are credentials. An unmatched request
// logs the pattern as "".
func AccessLog(logger *slog.Logger, proxies *TrustedProxies) Middleware {
	return ObservedAccessLog(logger, proxies, nil)
}

// RequestStats is one finished request as metrics see it: never the path,
// only the route pattern that matched ("" when none did).
type RequestStats struct {
	Surface  string
	Method   string
	Pattern  string
	Status   int
	Duration time.Duration
}

// ObservedAccessLog is AccessLog that also hands every finished request to
// observe (when not nil), for metrics.
func ObservedAccessLog(logger *slog.Logger, proxies *TrustedProxies, observe func(RequestStats)) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ri := infoFrom(r.Context())
			if ri == nil {
				ri = &requestInfo{}
				r = r.WithContext(contextWithInfo(r.Context(), ri))
			}
			iw := &interceptWriter{ResponseWriter: w}
			defer func() {
				status := iw.status
				if !iw.wroteHeader {
					// A panic passing through, or a handler that wrote
					// nothing and left the 200 to net/http.
					status = http.StatusOK
					if v := recover(); v != nil {
						defer panic(v)
						status = 0
					}
				}
				pattern := r.Pattern
				if ri.patternSet {
					pattern = ri.pattern
				}
				d := time.Since(start)
				if observe != nil {
					observe(RequestStats{Surface: ri.surface, Method: r.Method, Pattern: pattern, Status: status, Duration: d})
				}
				// The pattern comes from our routes table, the request id is
				// one we made or checked with ValidRequestID, and the client
				// IP is a parsed address without its zone: safe by
				// construction, they skip the redactor's scans. The method
				// is what the client sent, so it is scanned like any text.
				logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
					slog.String("method", r.Method),
					redact.Safe("pattern", pattern),
					slog.Int("status", status),
					slog.Int64("bytes", iw.bytes),
					slog.Duration("duration", d),
					redact.Safe("request_id", RequestIDFrom(r.Context())),
					redact.Safe("client_ip", proxies.ClientIP(r).WithZone("").String()),
				)
			}()
			next.ServeHTTP(iw, r)
		})
	}
}
