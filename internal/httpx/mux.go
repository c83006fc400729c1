package httpx

import (
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Mux serves m, but sends the 404s and 405s that http.ServeMux would write
// itself (as text/plain through http.Error) through WriteError instead, so
// they carry the surface's error format like every other error. It also
// records the matched pattern for AccessLog.
func Mux(m *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" {
			// "OPTIONS *" and friends name no resource.
			w.Header().Set("Connection", "close")
			WriteError(w, r, palisade.Errorf(palisade.CodeInvalid, "request target * is not accepted"))
			return
		}
		h, pattern := m.Handler(r)
		if pattern != "" {
			if ri := infoFrom(r.Context()); ri != nil {
				ri.pattern, ri.patternSet = pattern, true
			}
			m.ServeHTTP(w, r)
			return
		}
		// No pattern: ServeMux's own not-found, method-not-allowed or
		// clean-path redirect. An outer mux's pattern (the mount) no
		// longer describes the request. Run it against a scratch writer
		// to learn which, then answer through WriteError.
		if ri := infoFrom(r.Context()); ri != nil {
			ri.pattern, ri.patternSet = "", true
		}
		var c captureWriter
		h.ServeHTTP(&c, r)
		switch c.status {
		case http.StatusNotFound:
			WriteError(w, r, palisade.ErrNotFound)
		case http.StatusMethodNotAllowed:
			var allowed []string
			for m := range strings.SplitSeq(c.header.Get("Allow"), ",") {
				if m = strings.TrimSpace(m); m != "" {
					allowed = append(allowed, m)
				}
			}
			WriteError(w, r, MethodNotAllowed(allowed...))
		default:
			if loc := c.header.Get("Location"); loc != "" && c.status >= 300 && c.status < 400 {
				http.Redirect(w, r, loc, c.status)
				return
			}
			WriteError(w, r, palisade.ErrNotFound)
		}
	})
}

// captureWriter records what ServeMux's fallback handlers would have sent.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header {
	if c.header == nil {
		c.header = make(http.Header)
	}
	return c.header
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}
