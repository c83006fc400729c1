package httpx

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
)

// DefaultMaxBody is the body limit of SPEC.md R4 (1 MiB).
const DefaultMaxBody int64 = 1 << 20

const errBodyUnread = "request body could not be read"

var (
	errTooLarge    = palisade.Errorf(palisade.CodeTooLarge, "request body too large")
	errBadFraming  = palisade.Errorf(palisade.CodeInvalid, "request framing is not accepted")
	defaultMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
)

// LimitBody refuses a body larger than max bytes with 413 before the next
// handler runs, so a handler never sees part of a too-large body:
//   - with a Content-Length, by the header alone, without reading;
//   - without one (chunked, HTTP/2 without content-length), by reading at
//     most max+1 bytes into memory first and handing the handler a reader
//     over that buffer.
//
// It also refuses with 400 a request whose framing is ambiguous: both
// Content-Length and Transfer-Encoding, or any Transfer-Encoding but a
// single "chunked". Go's HTTP/1 server hides those from handlers (it drops
// Content-Length and answers 501 itself), which is why GuardListener exists;
// this check holds for every other way a request can arrive.
func LimitBody(max int64) Middleware { return LimitBodyRoutes(max, nil) }

// LimitBodyRoutes is LimitBody with a different limit for a few routes,
// each named by a ServeMux pattern ("POST /api/v1/bots/{botId}/documents"):
// the narrow exception for file uploads. Every other request keeps max,
// and a route's own limit is enforced the same way, before the handler
// reads anything.
func LimitBodyRoutes(max int64, routes map[string]int64) Middleware {
	if max < 0 {
		panic("httpx: LimitBody with a negative limit")
	}
	var match *http.ServeMux
	if len(routes) > 0 {
		match = http.NewServeMux()
		for pattern, n := range routes {
			if n < 0 {
				panic("httpx: LimitBodyRoutes with a negative limit for " + pattern)
			}
			match.Handle(pattern, http.NotFoundHandler())
		}
	}
	limitOf := func(r *http.Request) int64 {
		if match == nil {
			return max
		}
		if _, pattern := match.Handler(r); pattern != "" {
			return routes[pattern]
		}
		return max
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			max := limitOf(r)
			if badFraming(r) {
				w.Header().Set("Connection", "close")
				WriteError(w, r, errBadFraming)
				return
			}
			if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > max {
				// Closing spares the server draining a body it refused.
				w.Header().Set("Connection", "close")
				WriteError(w, r, errTooLarge)
				return
			}
			if r.ContentLength > 0 {
				// The server already stops the body at Content-Length; the
				// MaxBytesReader is a second fence for callers that lie.
				r2 := *r
				r2.Body = http.MaxBytesReader(w, r.Body, max)
				next.ServeHTTP(w, &r2)
				return
			}
			buf, err := readCapped(r.Body, max)
			if err != nil {
				w.Header().Set("Connection", "close")
				if errors.Is(err, errTooLarge) {
					WriteError(w, r, errTooLarge)
				} else {
					WriteError(w, r, palisade.WrapError(err, palisade.CodeInvalid, errBodyUnread))
				}
				return
			}
			r2 := *r
			r2.Body = io.NopCloser(bytes.NewReader(buf))
			r2.ContentLength = int64(len(buf))
			r2.TransferEncoding = nil
			next.ServeHTTP(w, &r2)
		})
	}
}

// readCapped reads all of body if it has at most max bytes.
func readCapped(body io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

func badFraming(r *http.Request) bool {
	te := r.TransferEncoding
	if len(te) > 1 || len(te) == 1 && !strings.EqualFold(te[0], "chunked") {
		return true
	}
	// Present only when a request did not come through Go's HTTP/1 parser,
	// which removes both.
	_, hasTE := r.Header["Transfer-Encoding"]
	_, hasCL := r.Header["Content-Length"]
	if hasTE && hasCL || len(te) > 0 && (hasCL || r.ContentLength > 0) {
		return true
	}
	if hasTE {
		v := r.Header.Values("Transfer-Encoding")
		return len(v) != 1 || !strings.EqualFold(strings.TrimSpace(v[0]), "chunked")
	}
	return false
}

// Methods answers 405, with an Allow header, any method outside allowed
// before routing: TRACE, CONNECT and invented methods never reach a
// handler. With no arguments it allows GET, HEAD, POST, PUT, PATCH, DELETE
// and OPTIONS.
func Methods(allowed ...string) Middleware {
	if len(allowed) == 0 {
		allowed = defaultMethods
	}
	set := make(map[string]bool, len(allowed))
	for _, m := range allowed {
		if m == http.MethodTrace || m == http.MethodConnect {
			panic("httpx: Methods must not allow " + m)
		}
		set[m] = true
	}
	list := append([]string(nil), allowed...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !set[r.Method] {
				WriteError(w, r, MethodNotAllowed(list...))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
