package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// More categories: Host header handling, open redirects and reflected
// injection. Each sends a hostile value and looks for it in the answer.
const (
	CatHost      = "host-header"
	CatRedirect  = "open-redirect"
	CatInjection = "injection"
)

// evilHost is a host no deployment owns; finding it in an answer means the
// request's value was trusted.
const evilHost = "palisade-probe.invalid"

func hostChecks() []Check {
	hdr := func(name, header string) Check {
		return Check{Category: CatHost, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			for _, path := range []string{"/", "/login"} {
				r, err := t.Do(ctx, Request{Path: path, Header: http.Header{header: {evilHost}}})
				if err != nil {
					return requestFailed(ctx, err)
				}
				if strings.Contains(r.Header.Get("Location"), evilHost) {
					return Failf("GET %s with %s: %s redirects to %s", path, header, evilHost, r.Header.Get("Location"))
				}
				if bytes.Contains(r.Body, []byte(evilHost)) {
					return Failf("GET %s with %s: %s is reflected in the body (cache poisoning)", path, header, evilHost)
				}
			}
			return Passf("%s is not reflected on / or /login", header)
		}}
	}
	return []Check{
		hdr("x-forwarded-host-not-reflected", "X-Forwarded-Host"),
		hdr("x-host-not-reflected", "X-Host"),
		hdr("x-forwarded-server-not-reflected", "X-Forwarded-Server"),
		hdr("forwarded-not-reflected", "Forwarded"),
		{Category: CatHost, Name: "foreign-host-not-reflected", Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, Request{Path: "/", Header: http.Header{"Host": {evilHost}}})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if strings.Contains(r.Header.Get("Location"), evilHost) || bytes.Contains(r.Body, []byte(evilHost)) {
				return Failf("%d: a foreign Host is used in the answer (Location %q)", r.Status, r.Header.Get("Location"))
			}
			return Passf("%d: the foreign Host is not used", r.Status)
		}},
	}
}

func redirectChecks() []Check {
	var cs []Check
	for _, param := range []string{"next", "redirect", "return_to", "returnTo", "url"} {
		for _, path := range []string{"/", "/login"} {
			cs = append(cs, Check{Category: CatRedirect, Name: param + " " + path, Run: func(ctx context.Context, t *Target) Outcome {
				for _, target := range []string{"https://" + evilHost + "/", "//" + evilHost + "/", "/\\" + evilHost + "/"} {
					r, err := t.Do(ctx, Request{Path: path + "?" + param + "=" + queryEscape(target)})
					if err != nil {
						return requestFailed(ctx, err)
					}
					loc := r.Header.Get("Location")
					if strings.Contains(loc, evilHost) {
						return Failf("GET %s?%s=%s redirects to %s", path, param, target, loc)
					}
				}
				return Passf("no redirect off the site")
			}})
		}
	}
	return cs
}

func queryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "/", "%2F", ":", "%3A", "\\", "%5C", "&", "%26", "=", "%3D", "?", "%3F", "#", "%23", " ", "%20", "<", "%3C", ">", "%3E", "\"", "%22", "'", "%27")
	return r.Replace(s)
}

func injectionChecks() []Check {
	const marker = `<script>palisadeProbe()</script>`
	reflected := func(name string, rq func() Request) Check {
		return Check{Category: CatInjection, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, rq())
			if err != nil {
				return requestFailed(ctx, err)
			}
			if bytes.Contains(r.Body, []byte(marker)) {
				return Failf("%d: the script is reflected unescaped", r.Status)
			}
			if m := stackTrace.Find(r.Body); m != nil || r.Status >= 500 {
				return Failf("%d: the input broke the server: %q", r.Status, m)
			}
			return Passf("%d, not reflected", r.Status)
		}}
	}
	esc := queryEscape(marker)
	cs := []Check{
		reflected("script-in-404-path", func() Request { return Request{Path: notFoundPath + "/" + esc} }),
		reflected("script-in-login-query", func() Request { return Request{Path: "/login?email=" + esc + "&next=" + esc} }),
		reflected("script-in-api-id", func() Request { return Request{Path: "/api/v1/bots/" + esc} }),
		reflected("script-in-login-form", func() Request {
			return Request{Method: http.MethodPost, Path: "/login", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body: []byte("email=" + esc + "&password=" + esc)}
		}),
		reflected("sql-quote-in-login-form", func() Request {
			return Request{Method: http.MethodPost, Path: "/login", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body: []byte("email=" + queryEscape("' OR '1'='1' --") + "&password=" + queryEscape("' OR 1=1; --"))}
		}),
		reflected("sql-quote-in-api-id", func() Request { return Request{Path: "/api/v1/bots/" + queryEscape("bot_' OR 1=1 --")} }),
	}
	cs = append(cs, Check{Category: CatInjection, Name: "crlf-in-path", Run: func(ctx context.Context, t *Target) Outcome {
		r, err := t.Do(ctx, Request{Path: "/%0d%0aSet-Cookie:%20palisade_probe=1%0d%0aX-Probe-Injected:%201"})
		if err != nil {
			return requestFailed(ctx, err)
		}
		if r.Header.Get("X-Probe-Injected") != "" {
			return Failf("%d: a header was injected through the path", r.Status)
		}
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.Contains(c, "palisade_probe") {
				return Failf("%d: a cookie was injected through the path", r.Status)
			}
		}
		return Passf("%d, no header injected", r.Status)
	}})
	for _, p := range []string{
		"/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/static/%2e%2e/%2e%2e/go.mod",
		"/static/....//....//etc/passwd",
		"/static/..%5c..%5c..%5cwindows%5cwin.ini",
	} {
		cs = append(cs, Check{Category: CatInjection, Name: "path-traversal " + p, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, Request{Path: p})
			if err != nil {
				return requestFailed(ctx, err)
			}
			for _, leak := range []string{"root:", "module ", "[fonts]", "[extensions]"} {
				if bytes.Contains(r.Body, []byte(leak)) {
					return Failf("%d: the answer contains %q: a file outside the static root was served", r.Status, leak)
				}
			}
			return Passf("%d, nothing outside the static root", r.Status)
		}})
	}
	return cs
}

// CatSmuggling holds the request smuggling checks: a request whose length
// two parsers could read differently must be refused, not guessed.
const CatSmuggling = "request-smuggling"

func smugglingChecks() []Check {
	ambiguous := func(name, headers, body string) Check {
		return Check{Category: CatSmuggling, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			status, err := t.Raw(ctx, "POST /api/v1/bots HTTP/1.1\r\nContent-Type: application/json"+headers, body)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, ErrBudget) && strings.Contains(err.Error(), "reading the answer") {
					// Closing the connection without an answer refuses too.
					return Passf("the connection was closed without an answer")
				}
				return requestFailed(ctx, err)
			}
			if status != http.StatusBadRequest && status != http.StatusNotImplemented {
				return Failf("an ambiguous request = %d, want 400 or 501", status)
			}
			return Passf("%d", status)
		}}
	}
	chunk := "2\r\n{}\r\n0\r\n\r\n"
	return []Check{
		ambiguous("content-length-and-chunked", "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked", chunk),
		ambiguous("duplicate-content-length", "\r\nContent-Length: 2\r\nContent-Length: 40", "{}"),
		ambiguous("content-length-list", "\r\nContent-Length: 2, 40", "{}"),
		ambiguous("obfuscated-te-identity", "\r\nTransfer-Encoding: chunked, identity", chunk),
		ambiguous("obfuscated-te-unknown", "\r\nTransfer-Encoding: xchunked", chunk),
		ambiguous("obfuscated-te-duplicate", "\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity", chunk),
		ambiguous("negative-content-length", "\r\nContent-Length: -1", "{}"),
	}
}

// CatProxyTrust holds the checks that a client cannot choose its own
// identity for rate limits by sending forwarding headers.
const CatProxyTrust = "proxy-trust"

var rateRemaining = regexp.MustCompile(`;\s*r=(\d+)`)

// remaining reads the r= of a RateLimit field, or -1.
func remaining(h http.Header) int {
	m := rateRemaining.FindStringSubmatch(h.Get("RateLimit"))
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

func proxyTrustChecks() []Check {
	spoof := func(name string, header func() http.Header) Check {
		return Check{Category: CatProxyTrust, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			rq := Request{Path: "/api/v1/bots", Bearer: true}
			if !t.HasKey() {
				rq = Request{Path: "/api/v1/bots"}
			}
			var before int
			for range 2 {
				r, err := t.Do(ctx, rq)
				if err != nil {
					return requestFailed(ctx, err)
				}
				before = remaining(r.Header)
			}
			if before < 0 {
				return Skipf("GET /api/v1/bots carries no RateLimit header to compare (give --api-key)")
			}
			spoofed := rq
			spoofed.Header = header()
			r, err := t.Do(ctx, spoofed)
			if err != nil {
				return requestFailed(ctx, err)
			}
			after := remaining(r.Header)
			if after > before {
				return Failf("remaining went from %d to %d: the forwarding header gave a fresh rate-limit identity", before, after)
			}
			return Passf("remaining %d then %d: the same identity", before, after)
		}}
	}
	ip := func() string {
		var b [3]byte
		_, _ = rand.Read(b[:])
		return fmt.Sprintf("203.0.%d.%d", b[0], 1+b[1]%250)
	}
	return []Check{
		spoof("x-forwarded-for-spoof", func() http.Header { return http.Header{"X-Forwarded-For": {ip()}} }),
		spoof("x-real-ip-spoof", func() http.Header { return http.Header{"X-Real-Ip": {ip()}} }),
		spoof("forwarded-for-spoof", func() http.Header { return http.Header{"Forwarded": {"for=" + ip()}} }),
		spoof("true-client-ip-spoof", func() http.Header { return http.Header{"True-Client-Ip": {ip()}} }),
	}
}
