package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Categories, in the order the checks run.
const (
	CatHeaders    = "headers"
	CatDisclosure = "disclosure"
	CatDebug      = "debug"
	CatMethods    = "methods"
	CatCORS       = "cors"
	CatBody       = "body-limits"
	CatWebhook    = "webhook-forgery"
	CatAuth       = "authentication"
	CatCookies    = "cookies"
)

// notFoundPath is a path no deployment serves.
const notFoundPath = "/palisade-probe-does-not-exist"

// headerRoutes are the routes whose security headers are checked: the
// admin UI's root and sign-in page, an API collection (anonymous: its
// 401), the health check and a 404, so that errors carry them too.
var headerRoutes = []string{"/", "/login", "/api/v1/bots", "/v1/models", "/healthz", "/static/admin.css", notFoundPath}

// noStoreRoutes must not be stored by any cache: the API, the sign-in page
// and the health check are per-request answers.
var noStoreRoutes = []string{"/login", "/api/v1/bots", "/v1/models", "/healthz"}

// All returns every check, in a stable order.
func All() []Check {
	var cs []Check
	cs = append(cs, headerChecks()...)
	cs = append(cs, disclosureChecks()...)
	cs = append(cs, debugChecks()...)
	cs = append(cs, methodChecks()...)
	cs = append(cs, corsChecks()...)
	cs = append(cs, bodyChecks()...)
	cs = append(cs, webhookChecks()...)
	cs = append(cs, authChecks()...)
	cs = append(cs, cookieChecks()...)
	cs = append(cs, hostChecks()...)
	cs = append(cs, redirectChecks()...)
	cs = append(cs, injectionChecks()...)
	cs = append(cs, smugglingChecks()...)
	cs = append(cs, proxyTrustChecks()...)
	cs = append(cs, tlsChecks()...)
	cs = append(cs, sessionChecks()...)
	cs = append(cs, gatewayChecks()...)
	cs = append(cs, idorChecks()...)
	cs = append(cs, ssrfChecks()...)
	cs = append(cs, replayChecks()...)
	cs = append(cs, rateLimitChecks()...)
	for i := range cs {
		cs[i] = annotate(cs[i])
	}
	return cs
}

// Categories lists the categories of checks, in order, without repeats.
func Categories(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if !slices.Contains(out, c.Category) {
			out = append(out, c.Category)
		}
	}
	return out
}

// headerCheck builds a check of one route's anonymous GET answer.
func headerCheck(route, name string, f func(t *Target, r *Response) Outcome) Check {
	return Check{Category: CatHeaders, Name: name + " " + route, Run: func(ctx context.Context, t *Target) Outcome {
		r, err := t.Get(ctx, route, false)
		if err != nil {
			return requestFailed(ctx, err)
		}
		return f(t, r)
	}}
}

// parseCSP splits a Content-Security-Policy into its directives.
func parseCSP(v string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(v, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			if _, dup := out[strings.ToLower(f[0])]; !dup {
				out[strings.ToLower(f[0])] = f[1:]
			}
		}
	}
	return out
}

func cspScripts(r *Response) Outcome {
	v := r.Header.Get("Content-Security-Policy")
	if v == "" {
		return Failf("%d: no Content-Security-Policy", r.Status)
	}
	csp := parseCSP(v)
	src, ok := csp["script-src"]
	if !ok {
		src, ok = csp["default-src"]
	}
	if !ok {
		return Failf("%d: neither script-src nor default-src: scripts from anywhere run", r.Status)
	}
	nonce := false
	for _, s := range src {
		switch strings.ToLower(s) {
		case "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:":
			return Failf("%d: script-src allows %s", r.Status, s)
		}
		if v, ok := strings.CutPrefix(s, "'nonce-"); ok && len(v) >= 17 {
			nonce = true
		}
	}
	if !nonce {
		return Failf("%d: script-src %q has no nonce of at least 16 characters", r.Status, strings.Join(src, " "))
	}
	return Passf("%d: script-src %s", r.Status, strings.Join(src, " "))
}

func cspDirectiveNone(dir string) func(*Target, *Response) Outcome {
	return func(_ *Target, r *Response) Outcome {
		csp := parseCSP(r.Header.Get("Content-Security-Policy"))
		got, ok := csp[dir]
		if !ok {
			return Failf("%d: CSP has no %s", r.Status, dir)
		}
		if strings.Join(got, " ") != "'none'" {
			return Failf("%d: CSP %s %s, want 'none'", r.Status, dir, strings.Join(got, " "))
		}
		return Passf("%d: %s 'none'", r.Status, dir)
	}
}

func headerEquals(name, want string) func(*Target, *Response) Outcome {
	return func(_ *Target, r *Response) Outcome {
		vs := r.Header.Values(name)
		if len(vs) != 1 || !strings.EqualFold(strings.TrimSpace(vs[0]), want) {
			return Failf("%d: %s = %q, want %q", r.Status, name, vs, want)
		}
		return Passf("%d: %s: %s", r.Status, name, vs[0])
	}
}

var hstsMaxAge = regexp.MustCompile(`(?i)max-age=(\d+)`)

func hsts(t *Target, r *Response) Outcome {
	v := r.Header.Get("Strict-Transport-Security")
	if !t.HTTPS() {
		if v != "" {
			return Failf("%d: HSTS sent over plain HTTP, where browsers ignore it: %q", r.Status, v)
		}
		return Skipf("the target is plain HTTP; HSTS applies only over HTTPS (and is correctly absent)")
	}
	m := hstsMaxAge.FindStringSubmatch(v)
	if m == nil {
		return Failf("%d: no Strict-Transport-Security over HTTPS", r.Status)
	}
	if age, err := strconv.Atoi(m[1]); err != nil || age < 31536000 {
		return Failf("%d: HSTS max-age %s is under a year", r.Status, m[1])
	}
	return Passf("%d: %s", r.Status, v)
}

func referrerPolicy(_ *Target, r *Response) Outcome {
	v := strings.ToLower(r.Header.Get("Referrer-Policy"))
	switch {
	case v == "":
		return Failf("%d: no Referrer-Policy", r.Status)
	case strings.Contains(v, "unsafe-url") || strings.Contains(v, "no-referrer-when-downgrade") || v == "origin-when-cross-origin":
		return Failf("%d: Referrer-Policy %q leaks paths to other sites", r.Status, v)
	}
	return Passf("%d: Referrer-Policy %s", r.Status, v)
}

func permissionsPolicy(_ *Target, r *Response) Outcome {
	v := r.Header.Get("Permissions-Policy")
	if v == "" {
		return Failf("%d: no Permissions-Policy", r.Status)
	}
	for _, f := range []string{"camera=()", "microphone=()", "geolocation=()"} {
		if !strings.Contains(v, f) {
			return Failf("%d: Permissions-Policy does not deny %s", r.Status, f)
		}
	}
	return Passf("%d: camera, microphone and geolocation denied", r.Status)
}

func noStore(_ *Target, r *Response) Outcome {
	v := r.Header.Get("Cache-Control")
	if !strings.Contains(strings.ToLower(v), "no-store") {
		return Failf("%d: Cache-Control %q, want no-store", r.Status, v)
	}
	return Passf("%d: Cache-Control %s", r.Status, v)
}

func headerChecks() []Check {
	var cs []Check
	for _, route := range headerRoutes {
		cs = append(cs,
			headerCheck(route, "csp-script-nonce", func(_ *Target, r *Response) Outcome { return cspScripts(r) }),
			headerCheck(route, "csp-frame-ancestors-none", cspDirectiveNone("frame-ancestors")),
			headerCheck(route, "csp-object-src-none", cspDirectiveNone("object-src")),
			headerCheck(route, "csp-base-uri-none", cspDirectiveNone("base-uri")),
			headerCheck(route, "x-frame-options-deny", headerEquals("X-Frame-Options", "DENY")),
			headerCheck(route, "nosniff", headerEquals("X-Content-Type-Options", "nosniff")),
			headerCheck(route, "hsts", hsts),
			headerCheck(route, "referrer-policy", referrerPolicy),
			headerCheck(route, "permissions-policy", permissionsPolicy),
			headerCheck(route, "coop-same-origin", headerEquals("Cross-Origin-Opener-Policy", "same-origin")),
			headerCheck(route, "corp-same-origin", headerEquals("Cross-Origin-Resource-Policy", "same-origin")),
		)
	}
	for _, route := range noStoreRoutes {
		cs = append(cs, headerCheck(route, "cache-control-no-store", noStore))
	}
	cs = append(cs, Check{Category: CatHeaders, Name: "csp-nonce-fresh-per-response", Run: func(ctx context.Context, t *Target) Outcome {
		var nonces []string
		for range 2 {
			r, err := t.Do(ctx, Request{Path: "/login"})
			if err != nil {
				return requestFailed(ctx, err)
			}
			n := ""
			for _, s := range parseCSP(r.Header.Get("Content-Security-Policy"))["script-src"] {
				if v, ok := strings.CutPrefix(s, "'nonce-"); ok {
					n = v
				}
			}
			if n == "" {
				return Failf("%d: no nonce in script-src", r.Status)
			}
			nonces = append(nonces, n)
		}
		if nonces[0] == nonces[1] {
			return Failf("two answers carry the same nonce %s: an attacker who reads one can inject into the next", nonces[0])
		}
		return Passf("two answers, two nonces")
	}})
	return cs
}

// refused reports whether status refuses to serve the resource: anything
// but a 2xx (a redirect to a sign-in page serves nothing either).
func refused(status int) bool { return status < 200 || status > 299 }

// pathCheck builds a check that a GET of path is refused.
func pathCheck(cat, name, path string, extra func(*Response) Outcome) Check {
	return Check{Category: cat, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
		r, err := t.Get(ctx, path, false)
		if err != nil {
			return requestFailed(ctx, err)
		}
		if !refused(r.Status) {
			return Failf("GET %s = %d (%d bytes): it is served", path, r.Status, len(r.Body))
		}
		if extra != nil {
			return extra(r)
		}
		return Passf("GET %s = %d", path, r.Status)
	}}
}

var (
	stackTrace    = regexp.MustCompile(`goroutine \d+ \[|\.go:\d+|panic:|runtime/debug|Traceback \(most recent|at [\w.$]+\([\w]+\.java:\d+\)`)
	versionBanner = regexp.MustCompile(`(?i)(go\d+\.\d+|go-http|nginx/\d|apache/\d|caddy/\d|palisade/v?\d|express|php/\d)`)
	dirListing    = regexp.MustCompile(`(?i)<title>\s*index of|<pre>\s*<a href=`)
)

func disclosureChecks() []Check {
	files := []struct{ name, path string }{
		{"git-head", "/.git/HEAD"},
		{"git-config", "/.git/config"},
		{"git-index", "/.git/index"},
		{"dotenv", "/.env"},
		{"dotenv-production", "/.env.production"},
		{"backup-zip", "/backup.zip"},
		{"backup-tar", "/backup.tar.gz"},
		{"sql-dump", "/dump.sql"},
		{"sqlite-database", "/palisade.db"},
		{"sqlite-wal", "/palisade.db-wal"},
		{"data-dir-database", "/palisade-data/palisade.db"},
		{"master-key", "/master.key"},
		{"config-yaml", "/palisade.yaml"},
		{"docker-compose", "/docker-compose.yml"},
		{"ds-store", "/.DS_Store"},
		{"ssh-key", "/.ssh/id_rsa"},
		{"git-logs", "/.git/logs/HEAD"},
		{"svn-entries", "/.svn/entries"},
		{"hg-store", "/.hg/store/00manifest.i"},
		{"config-json", "/config.json"},
		{"npmrc", "/.npmrc"},
		{"aws-credentials", "/.aws/credentials"},
		{"tls-key", "/server.key"},
		{"tls-key-pem", "/key.pem"},
		{"limits-yaml", "/limits.yaml"},
		{"go-mod", "/go.mod"},
	}
	var cs []Check
	for _, f := range files {
		cs = append(cs, pathCheck(CatDisclosure, f.name, f.path, nil))
	}
	for _, dir := range []string{"/static/", "/.git/", "/palisade-data/"} {
		cs = append(cs, Check{Category: CatDisclosure, Name: "no-directory-listing " + dir, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Get(ctx, dir, false)
			if err != nil {
				return requestFailed(ctx, err)
			}
			if dirListing.Match(r.Body) {
				return Failf("GET %s = %d lists the directory", dir, r.Status)
			}
			return Passf("GET %s = %d, no listing", dir, r.Status)
		}})
	}
	for _, route := range []string{"/", "/login", "/api/v1/bots", notFoundPath} {
		cs = append(cs, Check{Category: CatDisclosure, Name: "no-version-banner " + route, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Get(ctx, route, false)
			if err != nil {
				return requestFailed(ctx, err)
			}
			for _, h := range []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-Runtime"} {
				if v := r.Header.Get(h); v != "" {
					return Failf("%d: %s: %s", r.Status, h, v)
				}
			}
			if m := versionBanner.Find(r.Body); m != nil {
				return Failf("%d: the body names %q", r.Status, m)
			}
			return Passf("%d: no Server or X-Powered-By, no version in the body", r.Status)
		}})
	}
	bad := []struct {
		name string
		rq   Request
	}{
		{"no-stack-trace invalid-json", Request{Method: http.MethodPost, Path: "/api/v1/bots", Header: jsonHeader(), Body: []byte(`{"name":`)}},
		{"no-stack-trace bad-percent-escape", Request{Path: "/api/v1/bots/%00%ff%c0%af..%2f"}},
		{"no-stack-trace huge-header", Request{Path: "/login", Header: http.Header{"X-Probe": {strings.Repeat("A", 16<<10)}}}},
		{"no-stack-trace wrong-content-type", Request{Method: http.MethodPost, Path: "/login", Header: http.Header{"Content-Type": {"multipart/form-data; boundary="}}, Body: []byte("--\r\n")}},
	}
	for _, b := range bad {
		cs = append(cs, Check{Category: CatDisclosure, Name: b.name, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, b.rq)
			if err != nil {
				return requestFailed(ctx, err)
			}
			if m := stackTrace.Find(r.Body); m != nil {
				return Failf("%d: the body shows internals: %q", r.Status, m)
			}
			if r.Status >= 500 {
				return Failf("%d: a malformed request is a server error, not a refusal", r.Status)
			}
			return Passf("%d, no internals in the body", r.Status)
		}})
	}
	return cs
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func debugChecks() []Check {
	var cs []Check
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2", "/debug/vars", "/swagger", "/swagger/index.html", "/swagger-ui/", "/actuator/env", "/server-status"} {
		cs = append(cs, pathCheck(CatDebug, "not-public "+strings.SplitN(p, "?", 2)[0], p, nil))
	}
	cs = append(cs, Check{Category: CatDebug, Name: "openapi-document-public", Run: func(ctx context.Context, t *Target) Outcome {
		r, err := t.Get(ctx, "/api/v1/openapi.json", false)
		if err != nil {
			return requestFailed(ctx, err)
		}
		if r.Status != http.StatusOK {
			return Skipf("GET /api/v1/openapi.json = %d: no public API description here", r.Status)
		}
		if !bytes.Contains(r.Body, []byte(`"openapi"`)) {
			return Failf("200 but the body is not an OpenAPI document")
		}
		if m := stackTrace.Find(r.Body); m != nil {
			return Failf("the API description names internals: %q", m)
		}
		return Passf("200: the published API description, which is meant to be public")
	}})
	return cs
}

func methodChecks() []Check {
	refusedMethod := func(name, method, path string) Check {
		return Check{Category: CatMethods, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, Request{Method: method, Path: path, Header: http.Header{"X-Probe-Echo": {"palisade-probe-echo"}}})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if bytes.Contains(r.Body, []byte("palisade-probe-echo")) {
				return Failf("%s %s = %d echoes the request headers (cross-site tracing)", method, path, r.Status)
			}
			switch r.Status {
			case http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusBadRequest, http.StatusNotFound:
				return Passf("%s %s = %d", method, path, r.Status)
			}
			return Failf("%s %s = %d, want 405 or 501", method, path, r.Status)
		}}
	}
	cs := []Check{
		refusedMethod("trace-refused /", http.MethodTrace, "/"),
		refusedMethod("trace-refused /api/v1/bots", http.MethodTrace, "/api/v1/bots"),
		refusedMethod("track-refused /", "TRACK", "/"),
		refusedMethod("unknown-verb-refused /api/v1/bots", "BREW", "/api/v1/bots"),
		refusedMethod("propfind-refused /", "PROPFIND", "/"),
		refusedMethod("connect-refused /api/v1/bots", "PURGE", "/api/v1/bots"),
		refusedMethod("delete-refused /healthz", http.MethodDelete, "/healthz"),
	}
	for _, path := range []string{"/api/v1/bots", "/login"} {
		cs = append(cs, Check{Category: CatMethods, Name: "options-without-cors " + path, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, Request{Method: http.MethodOptions, Path: path})
			if err != nil {
				return requestFailed(ctx, err)
			}
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Credentials"} {
				if v := r.Header.Get(h); v != "" {
					return Failf("OPTIONS %s = %d carries %s: %s", path, r.Status, h, v)
				}
			}
			if r.Status >= 500 {
				return Failf("OPTIONS %s = %d", path, r.Status)
			}
			return Passf("OPTIONS %s = %d, no CORS headers", path, r.Status)
		}})
	}
	return cs
}

func corsChecks() []Check {
	origins := []struct {
		name string
		f    func(t *Target) string
	}{
		{"foreign-origin", func(*Target) string { return "https://evil.example" }},
		{"null-origin", func(*Target) string { return "null" }},
		{"lookalike-suffix", func(t *Target) string { return "https://" + t.Base.Hostname() + ".evil.example" }},
		{"lookalike-prefix", func(t *Target) string { return "https://evil" + t.Base.Hostname() }},
		{"scheme-downgrade", func(t *Target) string { return "http://" + t.Base.Host }},
	}
	var cs []Check
	for _, path := range []string{"/api/v1/bots", "/login", "/v1/models"} {
		for _, o := range origins {
			cs = append(cs, Check{Category: CatCORS, Name: o.name + " " + path, Run: func(ctx context.Context, t *Target) Outcome {
				origin := o.f(t)
				if o.name == "scheme-downgrade" && !t.HTTPS() {
					return Skipf("the target is plain HTTP: there is no weaker scheme to try")
				}
				r, err := t.Do(ctx, Request{Path: path, Header: http.Header{"Origin": {origin}}})
				if err != nil {
					return requestFailed(ctx, err)
				}
				return noCORS(r, origin)
			}})
		}
		cs = append(cs, Check{Category: CatCORS, Name: "preflight-foreign " + path, Run: func(ctx context.Context, t *Target) Outcome {
			origin := "https://evil.example"
			r, err := t.Do(ctx, Request{Method: http.MethodOptions, Path: path, Header: http.Header{
				"Origin":                         {origin},
				"Access-Control-Request-Method":  {http.MethodPost},
				"Access-Control-Request-Headers": {"authorization, content-type"},
			}})
			if err != nil {
				return requestFailed(ctx, err)
			}
			return noCORS(r, origin)
		}})
	}
	return cs
}

func noCORS(r *Response, origin string) Outcome {
	acao := r.Header.Get("Access-Control-Allow-Origin")
	if acao == "*" || (acao != "" && acao == origin) {
		return Failf("%d: Access-Control-Allow-Origin %q for Origin %q", r.Status, acao, origin)
	}
	if strings.EqualFold(r.Header.Get("Access-Control-Allow-Credentials"), "true") && acao != "" {
		return Failf("%d: credentials allowed for %q", r.Status, acao)
	}
	return Passf("%d: no Access-Control-Allow-Origin for %q", r.Status, origin)
}

// oneMiB is the body limit of SPEC R4; a body one byte over must be refused.
const oneMiB = 1 << 20

func bodyChecks() []Check {
	over := func(name, path string, bearer bool) Check {
		return Check{Category: CatBody, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			if bearer && !t.HasKey() {
				return Skipf("needs --api-key")
			}
			body := append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), oneMiB)...)
			body = append(body, `"}`...)
			r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: path, Header: jsonHeader(), Body: body, Bearer: bearer})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status != http.StatusRequestEntityTooLarge {
				return Failf("a %d-byte body = %d, want 413", len(body), r.Status)
			}
			return Passf("a %d-byte body = 413", len(body))
		}}
	}
	cs := []Check{
		over("over-1mib-anonymous /api/v1/bots", "/api/v1/bots", false),
		over("over-1mib-with-key /api/v1/bots", "/api/v1/bots", true),
		over("over-1mib /login", "/login", false),
		over("over-1mib /hooks/telegram", "/hooks/telegram/"+randomID("bot"), false),
	}
	for _, v := range []struct{ name, value string }{
		{"null-byte", `a\u0000b`},
		{"control-character", `a\u0007b`},
		{"escape-sequence", `a\u001b[31mb`},
	} {
		cs = append(cs, Check{Category: CatBody, Name: v.name + "-in-json-field", Run: func(ctx context.Context, t *Target) Outcome {
			if !t.HasKey() {
				return Skipf("needs --api-key (the field is read only after authentication)")
			}
			body := []byte(`{"name":"probe-` + v.value + `","model":"gpt-4o-mini"}`)
			r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/api/v1/bots", Header: jsonHeader(), Body: body, Bearer: true})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status/100 == 2 {
				cleanup(ctx, t, r)
				return Failf("%d: a name with %s was stored (and deleted again)", r.Status, v.name)
			}
			if r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
				return Failf("%d, want 400", r.Status)
			}
			// The refusal must be for the name, not for something else
			// of the body, or it proves nothing about the field.
			if f := fieldOf(r.Body); f != "" && f != "name" {
				return Failf("%d, but for the field %q, not the name", r.Status, f)
			}
			return Passf("%d: %s", r.Status, oneLine(normaliseIDs(r.Body)))
		}})
	}
	return cs
}

// fieldOf returns the field an error body names, if any.
func fieldOf(body []byte) string {
	var e struct {
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Field
}

var idField = regexp.MustCompile(`"id"\s*:\s*"(bot_[a-z2-7]{26})"`)

// cleanup deletes a bot a failing check created, so a probe leaves no data.
func cleanup(ctx context.Context, t *Target, r *Response) {
	if m := idField.FindSubmatch(r.Body); m != nil {
		_, _ = t.Do(context.WithoutCancel(ctx), Request{Method: http.MethodDelete, Path: "/api/v1/bots/" + string(m[1]), Bearer: true})
	}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID is a well-formed Palisade id of prefix p that names nothing.
func randomID(p string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return p + "_" + idEncoding.EncodeToString(b[:])
}

func webhookChecks() []Check {
	forged := func(name, kind string, hdr func() http.Header, body string) Check {
		return Check{Category: CatWebhook, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			path := "/hooks/" + kind + "/" + randomID("bot")
			h := hdr()
			h.Set("Content-Type", "application/json")
			r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: path, Header: h, Body: []byte(body)})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status/100 == 2 || r.Status >= 500 {
				return Failf("POST /hooks/%s/<unknown bot> = %d, want a 4xx refusal", kind, r.Status)
			}
			return Passf("POST /hooks/%s/<unknown bot> = %d", kind, r.Status)
		}}
	}
	none := func() http.Header { return http.Header{} }
	telegramBody := `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"from":{"id":1,"is_bot":false,"first_name":"p"},"text":"hi"}}`
	cs := []Check{
		forged("telegram-no-secret", "telegram", none, telegramBody),
		forged("telegram-wrong-secret", "telegram", func() http.Header {
			return http.Header{"X-Telegram-Bot-Api-Secret-Token": {randomToken()}}
		}, telegramBody),
		forged("slack-no-signature", "slack", none, `{"type":"event_callback","event":{"type":"message","text":"hi"}}`),
		forged("slack-wrong-signature", "slack", func() http.Header {
			return http.Header{"X-Slack-Request-Timestamp": {"1700000000"}, "X-Slack-Signature": {"v0=" + strings.Repeat("ab", 32)}}
		}, `{"type":"event_callback","event":{"type":"message","text":"hi"}}`),
		forged("slack-url-verification-unsigned", "slack", none, `{"type":"url_verification","challenge":"palisade-probe"}`),
		forged("whatsapp-no-signature", "whatsapp", none, `{"object":"whatsapp_business_account","entry":[]}`),
		forged("whatsapp-wrong-signature", "whatsapp", func() http.Header {
			return http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("ab", 32)}}
		}, `{"object":"whatsapp_business_account","entry":[]}`),
		forged("discord-no-signature", "discord", none, `{"type":1}`),
		forged("discord-wrong-signature", "discord", func() http.Header {
			return http.Header{"X-Signature-Ed25519": {strings.Repeat("ab", 64)}, "X-Signature-Timestamp": {"1700000000"}}
		}, `{"type":1}`),
	}
	for _, kind := range []string{"telegram", "slack", "whatsapp", "discord"} {
		for _, bad := range []struct{ name, id string }{
			{"malformed-bot-id", "not-an-id"},
			{"wrong-prefix-id", randomID("wsp")},
			{"traversal-bot-id", "..%2f..%2fapi%2fv1%2fbots"},
		} {
			cs = append(cs, Check{Category: CatWebhook, Name: kind + "-" + bad.name, Run: func(ctx context.Context, t *Target) Outcome {
				r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/hooks/" + kind + "/" + bad.id, Header: jsonHeader(), Body: []byte(`{}`)})
				if err != nil {
					return requestFailed(ctx, err)
				}
				switch r.Status {
				case http.StatusNotFound, http.StatusBadRequest, http.StatusUnauthorized:
					return Passf("%d", r.Status)
				}
				return Failf("POST /hooks/%s/%s = %d, want 400, 401 or 404", kind, bad.id, r.Status)
			}})
		}
		cs = append(cs, Check{Category: CatWebhook, Name: kind + "-refusals-indistinguishable", Run: func(ctx context.Context, t *Target) Outcome {
			var answers [2]string
			for i, id := range []string{"not-an-id", randomID("bot")} {
				r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/hooks/" + kind + "/" + id, Header: jsonHeader(), Body: []byte(`{}`)})
				if err != nil {
					return requestFailed(ctx, err)
				}
				answers[i] = fmt.Sprintf("%d %s", r.Status, normaliseIDs(r.Body))
			}
			if answers[0] != answers[1] {
				return Failf("a malformed and an unknown bot id are answered differently: %q vs %q", answers[0], answers[1])
			}
			return Passf("both: %s", oneLine(answers[0]))
		}})
	}
	cs = append(cs, Check{Category: CatWebhook, Name: "whatsapp-verify-wrong-token", Run: func(ctx context.Context, t *Target) Outcome {
		path := "/hooks/whatsapp/" + randomID("bot") + "?hub.mode=subscribe&hub.verify_token=" + randomToken() + "&hub.challenge=palisade-probe-challenge"
		r, err := t.Do(ctx, Request{Path: path})
		if err != nil {
			return requestFailed(ctx, err)
		}
		if r.Status/100 == 2 || bytes.Contains(r.Body, []byte("palisade-probe-challenge")) {
			return Failf("%d: the subscription challenge was answered without the verify token", r.Status)
		}
		return Passf("%d, challenge not echoed", r.Status)
	}})
	cs = append(cs, Check{Category: CatWebhook, Name: "unknown-platform", Run: func(ctx context.Context, t *Target) Outcome {
		r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/hooks/probe-platform/" + randomID("bot"), Header: jsonHeader(), Body: []byte(`{}`)})
		if err != nil {
			return requestFailed(ctx, err)
		}
		if r.Status/100 == 2 || r.Status >= 500 {
			return Failf("%d, want a 4xx refusal", r.Status)
		}
		return Passf("%d", r.Status)
	}})
	return cs
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// unknownAPIKey is a well-formed API key that names no key.
func unknownAPIKey() string {
	var p [8]byte
	_, _ = rand.Read(p[:])
	var s [32]byte
	_, _ = rand.Read(s[:])
	return "pal_" + idEncoding.EncodeToString(p[:])[:12] + "_" + base64.RawURLEncoding.EncodeToString(s[:])
}

func authChecks() []Check {
	anon := func(name string, hdr func() http.Header, path string) Check {
		return Check{Category: CatAuth, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Do(ctx, Request{Path: path, Header: hdr()})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status != http.StatusUnauthorized {
				return Failf("GET %s = %d, want 401", path, r.Status)
			}
			return Passf("401")
		}}
	}
	bearer := func(v string) func() http.Header {
		return func() http.Header { return http.Header{"Authorization": {"Bearer " + v}} }
	}
	cs := []Check{
		anon("no-key /api/v1/bots", func() http.Header { return http.Header{} }, "/api/v1/bots"),
		anon("no-key /v1/models", func() http.Header { return http.Header{} }, "/v1/models"),
		anon("malformed-key", bearer("not-a-key"), "/api/v1/bots"),
		anon("unknown-key", func() http.Header { return bearer(unknownAPIKey())() }, "/api/v1/bots"),
		anon("unknown-key /v1/models", func() http.Header { return bearer(unknownAPIKey())() }, "/v1/models"),
		anon("empty-bearer", bearer(""), "/api/v1/bots"),
		anon("basic-scheme", func() http.Header {
			return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))}}
		}, "/api/v1/bots"),
		anon("key-in-query-ignored", func() http.Header { return http.Header{} }, "/api/v1/bots?api_key="+unknownAPIKey()),
		anon("no-key single bot", func() http.Header { return http.Header{} }, "/api/v1/bots/"+randomID("bot")),
		{Category: CatAuth, Name: "malformed-and-unknown-key-same-answer", Run: func(ctx context.Context, t *Target) Outcome {
			var bodies [2]string
			for i, k := range []string{"not-a-key", unknownAPIKey()} {
				r, err := t.Do(ctx, Request{Path: "/api/v1/bots", Header: bearer(k)()})
				if err != nil {
					return requestFailed(ctx, err)
				}
				bodies[i] = fmt.Sprintf("%d %s", r.Status, normaliseIDs(r.Body))
			}
			if bodies[0] != bodies[1] {
				return Failf("the answers differ, telling which keys exist: %q vs %q", bodies[0], bodies[1])
			}
			return Passf("identical: %s", bodies[0])
		}},
		{Category: CatAuth, Name: "wrong-shape-id", Run: func(ctx context.Context, t *Target) Outcome {
			if !t.HasKey() {
				return Skipf("needs --api-key (without one every id gets 401)")
			}
			r, err := t.Do(ctx, Request{Path: "/api/v1/bots/" + randomID("wsp"), Bearer: true})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status != http.StatusNotFound && r.Status != http.StatusBadRequest {
				return Failf("an id of the wrong kind = %d, want 404 or 400", r.Status)
			}
			return Passf("%d", r.Status)
		}},
		{Category: CatAuth, Name: "unknown-id", Run: func(ctx context.Context, t *Target) Outcome {
			if !t.HasKey() {
				return Skipf("needs --api-key (without one every id gets 401)")
			}
			r, err := t.Do(ctx, Request{Path: "/api/v1/bots/" + randomID("bot"), Bearer: true})
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status != http.StatusNotFound {
				return Failf("an id naming nothing = %d, want 404", r.Status)
			}
			return Passf("404")
		}},
		{Category: CatAuth, Name: "key-works", Run: func(ctx context.Context, t *Target) Outcome {
			if !t.HasKey() {
				return Skipf("needs --api-key")
			}
			r, err := t.Get(ctx, "/api/v1/bots", true)
			if err != nil {
				return requestFailed(ctx, err)
			}
			if r.Status != http.StatusOK {
				return Failf("GET /api/v1/bots with the key given = %d: the keyed checks prove nothing", r.Status)
			}
			return Passf("200")
		}},
	}
	return cs
}

var volatile = regexp.MustCompile(`"(request_id|error_id)"\s*:\s*"[^"]*"`)

// normaliseIDs blanks the per-request ids in an error body.
func normaliseIDs(b []byte) string {
	return volatile.ReplaceAllString(string(b), `"$1":""`)
}

func cookieChecks() []Check {
	attr := func(name string, ok func(c *http.Cookie, raw string) bool, want string) Check {
		return Check{Category: CatCookies, Name: name, Run: func(ctx context.Context, t *Target) Outcome {
			r, err := t.Get(ctx, "/login", false)
			if err != nil {
				return requestFailed(ctx, err)
			}
			raws := r.Header.Values("Set-Cookie")
			if len(raws) == 0 {
				return Skipf("GET /login sets no cookie to inspect")
			}
			for _, raw := range raws {
				c, err := http.ParseSetCookie(raw)
				if err != nil {
					return Failf("unparsable Set-Cookie %q", raw)
				}
				if !ok(c, raw) {
					return Failf("cookie %s: %s", c.Name, want)
				}
			}
			return Passf("%d cookie(s) on /login: %s", len(raws), want)
		}}
	}
	return []Check{
		attr("host-prefix", func(c *http.Cookie, _ string) bool { return strings.HasPrefix(c.Name, "__Host-") }, "named __Host-"),
		attr("secure", func(c *http.Cookie, _ string) bool { return c.Secure }, "Secure"),
		attr("httponly", func(c *http.Cookie, _ string) bool { return c.HttpOnly }, "HttpOnly"),
		attr("samesite", func(c *http.Cookie, _ string) bool {
			return c.SameSite == http.SameSiteStrictMode || c.SameSite == http.SameSiteLaxMode
		}, "SameSite Lax or Strict"),
		attr("path-root-no-domain", func(c *http.Cookie, _ string) bool { return c.Path == "/" && c.Domain == "" }, "Path=/ and no Domain"),
	}
}
