package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// Header values applied to every response (SPEC.md R4).
const (
	// HSTSValue is sent only on responses to requests that arrived over TLS.
	HSTSValue = "max-age=63072000; includeSubDomains; preload"
	// ReferrerPolicy same-origin sends no Referer to other sites, and, unlike
	// no-referrer, keeps a real Origin header on our own form posts, which
	// CSRF checks read (with no-referrer browsers send "Origin: null").
	ReferrerPolicy = "same-origin"
	// PermissionsPolicy denies the powerful features nothing of ours uses.
	PermissionsPolicy = "accelerometer=(), autoplay=(), browsing-topics=(), camera=(), " +
		"display-capture=(), geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), " +
		"payment=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()"
)

// SecurityOptions configures SecurityHeaders.
type SecurityOptions struct {
	// Proxies, when set, lets a trusted proxy's X-Forwarded-Proto: https
	// count as TLS for HSTS.
	Proxies *TrustedProxies
}

// securityState is the per-request policy: its nonce and the relaxations a
// handler asked for. Handlers change it only through AllowFraming and
// AllowCrossOriginResource, from the handler goroutine, before writing.
type securityState struct {
	// nonce is made on first use: by Nonce while a page renders, or as the
	// headers are written.
	nonce          string
	tls            bool
	frameAncestors []string // nil: 'none'
	crossOrigin    bool
}

// SecurityHeaders sets the security headers on every response that passes
// through it, errors and 404s included: a strict CSP with a fresh nonce,
// X-Frame-Options, nosniff, HSTS over TLS, Referrer-Policy,
// Permissions-Policy, COOP and CORP, and no Server banner. The headers are
// set before the handler runs and set again when the status is written, so
// a handler cannot drop them by accident; it relaxes them only through
// AllowFraming and AllowCrossOriginResource.
func SecurityHeaders(opts SecurityOptions) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &securityState{tls: r.TLS != nil || opts.Proxies.ForwardedTLS(r)}
			// The headers are set once, as the status is committed, so
			// whatever the handler set or removed, they are what goes out;
			// finish commits a response that wrote nothing.
			iw := &interceptWriter{ResponseWriter: w}
			iw.before = func(int) { st.apply(iw.Header()) }
			next.ServeHTTP(iw, r.WithContext(context.WithValue(r.Context(), keySecurity, st)))
			iw.finish()
		})
	}
}

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (st *securityState) apply(h http.Header) {
	// Keys are written in their canonical form straight into the map:
	// Header.Set would canonicalise each of them again on every response.
	if st.nonce == "" {
		st.nonce = newNonce()
	}
	h["Content-Security-Policy"] = []string{st.csp()}
	if st.frameAncestors == nil {
		h["X-Frame-Options"] = []string{"DENY"}
	} else {
		delete(h, "X-Frame-Options")
	}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	if st.tls {
		h["Strict-Transport-Security"] = []string{HSTSValue}
	} else {
		delete(h, "Strict-Transport-Security")
	}
	h["Referrer-Policy"] = []string{ReferrerPolicy}
	h["Permissions-Policy"] = []string{PermissionsPolicy}
	h["Cross-Origin-Opener-Policy"] = []string{"same-origin"}
	if st.crossOrigin {
		h["Cross-Origin-Resource-Policy"] = []string{"cross-origin"}
	} else {
		h["Cross-Origin-Resource-Policy"] = []string{"same-origin"}
	}
	delete(h, "Server")
	delete(h, "X-Powered-By")
}

func (st *securityState) csp() string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("default-src 'self'; script-src 'self' 'nonce-")
	b.WriteString(st.nonce)
	b.WriteString("'; style-src 'self' 'nonce-")
	b.WriteString(st.nonce)
	b.WriteString("'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors ")
	if len(st.frameAncestors) == 0 {
		b.WriteString("'none'")
	} else {
		b.WriteString(strings.Join(st.frameAncestors, " "))
	}
	return b.String()
}

func securityFrom(ctx context.Context) *securityState {
	st, _ := ctx.Value(keySecurity).(*securityState)
	return st
}

// Nonce returns the CSP nonce of the request, for templates:
// <script nonce="{{.Nonce}}">. It is "" outside SecurityHeaders, and then no
// inline script or style runs.
func Nonce(ctx context.Context) string {
	if st := securityFrom(ctx); st != nil {
		if st.nonce == "" {
			st.nonce = newNonce()
		}
		return st.nonce
	}
	return ""
}

// ErrNoSecurityHeaders reports a relaxation asked for outside
// SecurityHeaders, where it would silently do nothing.
var ErrNoSecurityHeaders = errors.New("httpx: no SecurityHeaders middleware on this request")

// AllowFraming lets this one response be framed by sources (the widget
// frame and its bot's allowed domains): CSP frame-ancestors lists them and
// X-Frame-Options is dropped. Each source must be an https origin
// ("https://shop.example", "https://shop.example:8443"), a bare host
// ("shop.example") or 'self'. An empty list keeps frame-ancestors 'none'.
// Call it before writing the response.
func AllowFraming(ctx context.Context, sources []string) error {
	st := securityFrom(ctx)
	if st == nil {
		return ErrNoSecurityHeaders
	}
	if len(sources) == 0 {
		st.frameAncestors = nil
		return nil
	}
	out := make([]string, 0, len(sources))
	for _, s := range sources {
		if !validFrameSource(s) {
			return errors.New("httpx: frame source is not an https origin, a host or 'self'")
		}
		out = append(out, s)
	}
	st.frameAncestors = out
	return nil
}

// AllowCrossOriginResource lets other sites load this response as a
// subresource (Cross-Origin-Resource-Policy: cross-origin), which the widget
// script needs to load on customers' pages. Call it before writing.
func AllowCrossOriginResource(ctx context.Context) error {
	st := securityFrom(ctx)
	if st == nil {
		return ErrNoSecurityHeaders
	}
	st.crossOrigin = true
	return nil
}

// validFrameSource accepts only what cannot change the meaning of the
// policy: no spaces, semicolons, commas, quotes or wildcards, so a stored
// domain can never inject a directive.
func validFrameSource(s string) bool {
	if s == "'self'" {
		return true
	}
	host := strings.TrimPrefix(s, "https://")
	if host == "" || len(s) > 260 {
		return false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		port := host[i+1:]
		if port == "" || len(port) > 5 {
			return false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return false
			}
		}
		host = host[:i]
	}
	if host == "" || host[0] == '.' || host[0] == '-' || host[len(host)-1] == '.' || host[len(host)-1] == '-' {
		return false
	}
	for j := 0; j < len(host); j++ {
		c := host[j]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.Contains(host, "..")
}

// NoStore marks every response of next as not to be stored by any cache
// (Cache-Control: no-store), for anything authenticated. It is set again
// when the status is written so a handler cannot weaken it.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		iw := &interceptWriter{ResponseWriter: w}
		iw.before = func(int) { iw.Header().Set("Cache-Control", "no-store") }
		next.ServeHTTP(iw, r)
		iw.finish()
	})
}
