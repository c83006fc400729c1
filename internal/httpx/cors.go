package httpx

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// CORSOptions configures CORS beyond the allowed origins.
type CORSOptions struct {
	// Methods a preflight may approve; default GET, POST.
	Methods []string
	// Headers a preflight may approve (compared case-insensitively);
	// default Content-Type and Authorization.
	Headers []string
	// ExposeHeaders lists response headers scripts may read.
	ExposeHeaders []string
	// Credentials sends Access-Control-Allow-Credentials: true. The origin
	// is always echoed exactly, never "*", so this stays safe.
	Credentials bool
	// MaxAge lets browsers cache a preflight; default 10 minutes.
	MaxAge time.Duration
}

// CORS answers cross-origin requests for the widget API only. allowed
// returns the exact origins (scheme://host[:port]) permitted for r, e.g.
// the domains of the bot the path names. An Origin outside that list, or
// the literal "null" (sandboxed frames, file: pages), gets no CORS header at
// all; a preflight from it is refused with 403. The answer is never "*".
// CORS only controls what scripts may read: pair it with CSRF protection
// (http.CrossOriginProtection) for anything that changes state.
func CORS(allowed func(*http.Request) []string, opts CORSOptions) Middleware {
	methods := opts.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodPost}
	}
	headers := opts.Headers
	if len(headers) == 0 {
		headers = []string{"Content-Type", "Authorization"}
	}
	allowHeaders := make(map[string]string, len(headers))
	for _, h := range headers {
		allowHeaders[strings.ToLower(h)] = http.CanonicalHeaderKey(h)
	}
	maxAge := opts.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	methodList := strings.Join(methods, ", ")
	exposed := strings.Join(opts.ExposeHeaders, ", ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			// The answer depends on these request headers; caches must key
			// on them even when no CORS header is sent.
			h.Add("Vary", "Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			origins := r.Header.Values("Origin")
			if len(origins) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			origin := origins[0]
			ok := len(origins) == 1 && origin != "null" && originListed(origin, allowed(r))
			if !ok {
				if preflight {
					WriteError(w, r, errCORSRefused)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			if opts.Credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if !preflight {
				if exposed != "" {
					h.Set("Access-Control-Expose-Headers", exposed)
				}
				next.ServeHTTP(w, r)
				return
			}
			reqMethod := r.Header.Get("Access-Control-Request-Method")
			if !containsExact(methods, reqMethod) {
				h.Del("Access-Control-Allow-Origin")
				h.Del("Access-Control-Allow-Credentials")
				WriteError(w, r, errCORSRefused)
				return
			}
			var approved []string
			for _, v := range r.Header.Values("Access-Control-Request-Headers") {
				for name := range strings.SplitSeq(v, ",") {
					name = strings.ToLower(strings.TrimSpace(name))
					if name == "" {
						continue
					}
					canon, ok := allowHeaders[name]
					if !ok {
						h.Del("Access-Control-Allow-Origin")
						h.Del("Access-Control-Allow-Credentials")
						WriteError(w, r, errCORSRefused)
						return
					}
					approved = append(approved, canon)
				}
			}
			h.Set("Access-Control-Allow-Methods", methodList)
			if len(approved) > 0 {
				h.Set("Access-Control-Allow-Headers", strings.Join(approved, ", "))
			}
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(maxAge/time.Second)))
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

var errCORSRefused = palisade.Errorf(palisade.CodeForbidden, "cross-origin request not allowed")

func originListed(origin string, allowed []string) bool {
	for _, a := range allowed {
		// Exact match only: origins are compared as strings, never as
		// suffixes or patterns, so "https://shop.example.evil" and
		// "https://evilshop.example" stay out.
		if a == origin && a != "null" && a != "*" {
			return true
		}
	}
	return false
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
