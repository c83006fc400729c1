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
	// nonce is made on first use (hasNonce): by Nonce while a page
	// renders, or as the headers are written.
	nonce          [nonceLen]byte
	hasNonce       bool
	vals           *headerValues
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
	vals := newHeaderValues()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &securityState{vals: vals, tls: r.TLS != nil || opts.Proxies.ForwardedTLS(r)}
			// The headers are set once, as the status is committed, so
			// whatever the handler set or removed, they are what goes out;
			// finish commits a response that wrote nothing.
			iw := &interceptWriter{ResponseWriter: w}
			iw.before = func(int) { st.apply(iw.Header()) }
			if ri := infoFrom(r.Context()); ri != nil && ri.security == nil && r.Context().Value(keySecurity) == nil {
				ri.security = st
			} else {
				r = r.WithContext(context.WithValue(r.Context(), keySecurity, st))
			}
			next.ServeHTTP(iw, r)
			iw.finish()
		})
	}
}

// headerValues are the constant header values, made once per middleware.
// Every response's header map points at these same slices: nothing writes
// through them, and their capacity equals their length, so a handler's
// Header().Add appends into a copy of its own instead of into the array
// the next response shares.
type headerValues struct {
	deny, nosniff, hsts, referrer, permissions, sameOrigin, crossOrigin []string
}

func newHeaderValues() *headerValues {
	return &headerValues{
		deny:        fixed("DENY"),
		nosniff:     fixed("nosniff"),
		hsts:        fixed(HSTSValue),
		referrer:    fixed(ReferrerPolicy),
		permissions: fixed(PermissionsPolicy),
		sameOrigin:  fixed("same-origin"),
		crossOrigin: fixed("cross-origin"),
	}
}

func fixed(v string) []string { s := []string{v}; return s[:1:1] }

// nonceBytes is the randomness of a nonce: 144 bits, 24 base64 characters.
const (
	nonceBytes = 18
	nonceLen   = 24
)

// The CSP around its two nonces and its frame-ancestors list.
const (
	cspScript  = "default-src 'self'; script-src 'self' 'nonce-"
	cspStyle   = "'; style-src 'self' 'nonce-"
	cspFrame   = "'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "
	cspNoFrame = "'none'"
)

// putNonce writes a fresh nonce into dst[:nonceLen] without allocating.
func putNonce(dst []byte) {
	var raw [nonceBytes]byte
	_, _ = rand.Read(raw[:])
	base64.RawURLEncoding.Encode(dst[:nonceLen], raw[:])
}

func (st *securityState) apply(h http.Header) {
	// Keys are written in their canonical form straight into the map:
	// Header.Set would canonicalise each of them again on every response.
	h["Content-Security-Policy"] = []string{st.csp()}
	if st.frameAncestors == nil {
		h["X-Frame-Options"] = st.vals.deny
	} else {
		delete(h, "X-Frame-Options")
	}
	h["X-Content-Type-Options"] = st.vals.nosniff
	if st.tls {
		h["Strict-Transport-Security"] = st.vals.hsts
	} else {
		delete(h, "Strict-Transport-Security")
	}
	h["Referrer-Policy"] = st.vals.referrer
	h["Permissions-Policy"] = st.vals.permissions
	h["Cross-Origin-Opener-Policy"] = st.vals.sameOrigin
	if st.crossOrigin {
		h["Cross-Origin-Resource-Policy"] = st.vals.crossOrigin
	} else {
		h["Cross-Origin-Resource-Policy"] = st.vals.sameOrigin
	}
	delete(h, "Server")
	delete(h, "X-Powered-By")
}

// ensureNonce makes the request's nonce once; it lives in st, so making it
// allocates nothing.
func (st *securityState) ensureNonce() {
	if !st.hasNonce {
		putNonce(st.nonce[:])
		st.hasNonce = true
	}
}

// csp builds the policy in one allocation.
func (st *securityState) csp() string {
	st.ensureNonce()
	n := len(cspScript) + len(cspStyle) + len(cspFrame) + 2*nonceLen
	if len(st.frameAncestors) == 0 {
		n += len(cspNoFrame)
	} else {
		for _, f := range st.frameAncestors {
			n += len(f) + 1
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(cspScript)
	b.Write(st.nonce[:])
	b.WriteString(cspStyle)
	b.Write(st.nonce[:])
	b.WriteString(cspFrame)
	if len(st.frameAncestors) == 0 {
		b.WriteString(cspNoFrame)
	} else {
		for i, f := range st.frameAncestors {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}

func securityFrom(ctx context.Context) *securityState {
	if st, ok := ctx.Value(keySecurity).(*securityState); ok {
		return st
	}
	if ri := infoFrom(ctx); ri != nil {
		return ri.security
	}
	return nil
}

// Nonce returns the CSP nonce of the request, for templates:
// <script nonce="{{.Nonce}}">. It is "" outside SecurityHeaders, and then no
// inline script or style runs.
func Nonce(ctx context.Context) string {
	if st := securityFrom(ctx); st != nil {
		st.ensureNonce()
		return string(st.nonce[:])
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
