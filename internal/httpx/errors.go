package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
)

// HandlerFunc is a handler that reports failure by returning an error
// instead of writing it; the error reaches the client only through
// WriteError.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP runs f and writes its error, if any, with WriteError.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The wrapper lets WriteError see whether f already began the
	// response, in which case a clean error response is impossible.
	iw := &interceptWriter{ResponseWriter: w}
	if err := f(iw, r); err != nil {
		WriteError(iw, r, err)
	}
}

// Handle adapts an error-returning handler to http.Handler.
func Handle(f HandlerFunc) http.Handler { return f }

// Status maps each code of the closed set to exactly one HTTP status.
// Anything else, including an unknown code, is a 500.
func Status(code palisade.Code) int {
	switch code {
	case palisade.CodeInvalid:
		return http.StatusBadRequest
	case palisade.CodeUnauthorized:
		return http.StatusUnauthorized
	case palisade.CodeForbidden, palisade.CodeSuspended:
		return http.StatusForbidden
	case palisade.CodeNotFound:
		return http.StatusNotFound
	case palisade.CodeConflict:
		return http.StatusConflict
	case palisade.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case palisade.CodeRateLimited:
		return http.StatusTooManyRequests
	case palisade.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ErrorFormat selects how WriteError renders an error.
type ErrorFormat int

const (
	// FormatJSON renders {"error":{...}}: the API, webhooks and the widget API.
	FormatJSON ErrorFormat = iota
	// FormatHTML renders a minimal escaped page: the admin UI.
	FormatHTML
)

// WithErrorFormat returns ctx in which WriteError renders with f.
func WithErrorFormat(ctx context.Context, f ErrorFormat) context.Context {
	return context.WithValue(ctx, keyFormat, f)
}

// UseErrorFormat is a middleware choosing the error format for a surface.
func UseErrorFormat(f ErrorFormat) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if ri := infoFrom(ctx); ri != nil && !ri.hasFormat && ctx.Value(keyFormat) == nil {
				ri.format, ri.hasFormat = f, true
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithErrorFormat(ctx, f)))
		})
	}
}

func formatFrom(ctx context.Context) ErrorFormat {
	if f, ok := ctx.Value(keyFormat).(ErrorFormat); ok {
		return f
	}
	if ri := infoFrom(ctx); ri != nil && ri.hasFormat {
		return ri.format
	}
	return FormatJSON
}

// methodNotAllowedError is the one error outside the closed set of codes:
// 405 is protocol-level, so it renders as code "invalid" with its own status.
type methodNotAllowedError struct{ allowed []string }

func (e *methodNotAllowedError) Error() string { return "method not allowed" }

// MethodNotAllowed returns an error that WriteError answers with 405 and an
// Allow header listing allowed.
func MethodNotAllowed(allowed ...string) error {
	return &methodNotAllowedError{allowed: allowed}
}

// NotFound writes the 404 of every surface through WriteError.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, palisade.ErrNotFound)
}

// Public is everything about an error that a client may see, and the shape
// in which it is sent: the {"error": ...} member of an error response and
// the data of a stream's "error" event. Nothing else about an error ever
// leaves the process.
type Public struct {
	Code    palisade.Code `json:"code"`
	Message string        `json:"message"`
	Field   string        `json:"field,omitempty"`
	// ErrorID is set for 5xx errors only: a fresh random id that the log
	// line holding the cause carries too, so an operator can find it.
	ErrorID   string `json:"error_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	status int
	allow  []string
}

// Status is the HTTP status the error is answered with, or would have been
// had the response not started already.
func (p Public) Status() int { return p.status }

func describe(err error) Public {
	var mna *methodNotAllowedError
	if errors.As(err, &mna) {
		return Public{Code: palisade.CodeInvalid, Message: "method not allowed", status: http.StatusMethodNotAllowed, allow: mna.allowed}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Public{Code: palisade.CodeTooLarge, Message: "request body too large", status: http.StatusRequestEntityTooLarge}
	}
	var pe *palisade.Error
	if !errors.As(err, &pe) {
		return Public{Code: palisade.CodeInternal, Message: "internal error", status: http.StatusInternalServerError}
	}
	status := Status(pe.Code)
	if status == http.StatusInternalServerError {
		// An internal error's message is never shown, even a palisade one,
		// and an unknown code is reported as internal.
		return Public{Code: palisade.CodeInternal, Message: "internal error", status: status}
	}
	msg := pe.Message
	if msg == "" {
		msg = strings.ReplaceAll(string(pe.Code), "_", " ")
	}
	return Public{Code: pe.Code, Message: msg, Field: pe.Field, status: status}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return prefix + idEncoding.EncodeToString(b)
}

func newErrorID() string { return randomID("err_", 10) }

// headers describing a representation the handler may have meant to send;
// they must not describe an error body instead.
var representationHeaders = []string{"Content-Length", "Content-Disposition", "Content-Range", "ETag", "Last-Modified"}

// PublicError reduces err to what a client may see: its code, its public
// message and field, the request id and, for a 5xx, a fresh error id. The
// cause is logged through the request's logger (see Logger) with that
// error id: at error level for a 5xx, at debug level for a refusal. A
// non-palisade error, and a palisade error whose code maps to a 500, become
// "internal error" whatever their text.
//
// Every path by which an error reaches a client goes through it: WriteError
// for ordinary responses, and streams that have already started (the API's
// streamed chat, the gateway role) for their "error" events.
func PublicError(ctx context.Context, err error) Public {
	return publicError(ctx, err)
}

func publicError(ctx context.Context, err error, attrs ...any) Public {
	if err == nil {
		err = errors.New("httpx: an error was expected, got nil")
	}
	p := describe(err)
	p.RequestID = RequestIDFrom(ctx)
	if p.status >= 500 {
		p.ErrorID = newErrorID()
	}
	attrs = append(attrs,
		slog.Int("status", p.status),
		slog.String("code", string(p.Code)),
		slog.Any("err", err),
	)
	log := Logger(ctx)
	if p.ErrorID != "" {
		log.ErrorContext(ctx, "request failed", append(attrs, slog.String("error_id", p.ErrorID))...)
	} else {
		log.DebugContext(ctx, "request refused", attrs...)
	}
	return p
}

// WriteError is the one function that writes an error response. The client
// gets the status of the error's code and what PublicError leaves of it;
// the cause goes to the request's log. A non-palisade error is a bare 500.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if err == nil {
		err = errors.New("httpx: WriteError called with a nil error")
	}
	if started(w) {
		p := describe(err)
		Logger(ctx).ErrorContext(ctx, "error after the response had started; not sent to the client",
			slog.String("method", r.Method), slog.Int("status", p.status), slog.String("code", string(p.Code)), slog.Any("err", err))
		return
	}
	body := publicError(ctx, err, slog.String("method", r.Method))

	h := w.Header()
	for _, k := range representationHeaders {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if body.status == http.StatusMethodNotAllowed {
		h.Set("Allow", strings.Join(body.allow, ", "))
	}
	if formatFrom(ctx) == FormatHTML {
		writeHTMLError(w, r, body)
		return
	}
	writeJSONError(w, body)
}

func writeJSONError(w http.ResponseWriter, body Public) {
	b, err := json.Marshal(struct {
		Error Public `json:"error"`
	}{body})
	if err != nil {
		// Only strings and a code are marshalled; this cannot happen.
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(body.status)
	_, _ = w.Write(append(b, '\n'))
}

// errorPage is parsed once and never changed; html/template escapes every
// value, so a message or field echoing input renders inertly.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Status}} {{.StatusText}}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<style nonce="{{.Nonce}}">body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}small{color:#666}nav{margin:1.5rem 0}nav a{color:#1f4fd1}</style>
</head>
<body>
<h1>{{.StatusText}}</h1>
<p>{{.Message}}</p>
{{- if .Field}}
<p>Field: <code>{{.Field}}</code></p>
{{- end}}
<nav><a href="/">Home</a> &middot; <a href="/account">Your account</a> &middot; <a href="/login">Sign in</a></nav>
<p><small>{{if .RequestID}}Request id: <code>{{.RequestID}}</code>{{end}}{{if .ErrorID}} &middot; Error id: <code>{{.ErrorID}}</code>{{end}}</small></p>
</body>
</html>
`))

func writeHTMLError(w http.ResponseWriter, r *http.Request, body Public) {
	var buf strings.Builder
	err := errorPage.Execute(&buf, struct {
		Public
		Status     int
		StatusText string
		Nonce      string
	}{body, body.status, http.StatusText(body.status), Nonce(r.Context())})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(body.status)
	if err != nil {
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><h1>Error</h1>\n"))
		return
	}
	_, _ = w.Write([]byte(buf.String()))
}
