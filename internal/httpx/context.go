package httpx

import (
	"context"
	"log/slog"
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
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
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
}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(keyInfo).(*requestInfo)
	return ri
}

func contextWithInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, keyInfo, ri)
}
