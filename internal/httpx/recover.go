package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// keptOnPanic are the headers a panicking handler's response keeps; anything
// else it set (cookies, content types, redirects) described a response that
// never happened. Security headers are re-applied by SecurityHeaders, which
// sits outside Recover.
var keptOnPanic = map[string]bool{
	HeaderRequestID:                    true,
	"Vary":                             true,
	"Access-Control-Allow-Origin":      true,
	"Access-Control-Allow-Credentials": true,
	"Access-Control-Expose-Headers":    true,
}

// panicError carries a recovered value to WriteError as an unknown error,
// which becomes a bare 500 with an error id. Its text goes to the log only.
type panicError struct{ value any }

func (e panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// Recover turns a panic in next into a bare 500 with an error id, logging
// the value and the stack with that id. http.ErrAbortHandler is passed on,
// as is any panic after the response started: the connection is then
// aborted so the client sees a broken response rather than a complete one.
func Recover() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			iw := &interceptWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log := Logger(r.Context())
				log.ErrorContext(r.Context(), "handler panicked",
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if iw.wroteHeader {
					panic(http.ErrAbortHandler)
				}
				h := iw.Header()
				for k := range h {
					if !keptOnPanic[k] {
						delete(h, k)
					}
				}
				WriteError(iw, r, panicError{v})
			}()
			next.ServeHTTP(iw, r)
		})
	}
}
