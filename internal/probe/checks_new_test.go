package probe_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/secret"

	"github.com/palisadehq/palisade/internal/probe"
)

// check returns the check of that category and name.
func check(t *testing.T, cat, name string) probe.Check {
	t.Helper()
	for _, c := range probe.All() {
		if c.Category == cat && c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s/%s", cat, name)
	return probe.Check{}
}

// one runs a single check against base and returns its result.
func one(t *testing.T, base string, c probe.Check, opts probe.Options) probe.Result {
	t.Helper()
	if opts.Budget == 0 {
		opts.Budget = 400
	}
	rep, err := probe.Run(t.Context(), base, []probe.Check{c}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Results[0]
}

// expect runs c against a good and a bad server: it must pass against the
// good one and fail against the bad one.
func expect(t *testing.T, c probe.Check, good, bad string, opts probe.Options) {
	t.Helper()
	if r := one(t, good, c, opts); r.Status != probe.Pass {
		t.Errorf("%s/%s against the correct server = %s (%s), want pass", c.Category, c.Name, r.Status, r.Evidence)
	}
	if r := one(t, bad, c, opts); r.Status != probe.Fail {
		t.Errorf("%s/%s against the server that breaks it = %s (%s), want fail", c.Category, c.Name, r.Status, r.Evidence)
	}
}

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func randHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fakeSignIn stands in for the admin UI's session handling; each flag
// breaks one property.
type fakeSignIn struct {
	acceptAnySession bool // any session cookie signs in
	adoptPlanted     bool // a pre-session cookie the browser sent is set back
	fixedPre         bool // every browser gets the same pre-session cookie
	unprefixed       bool // the pre-session cookie has no __Host- prefix
	logoutNoCSRF     bool // POST /logout without a token starts a session
}

func (f fakeSignIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pre := "__Host-palisade_pre"
	if f.unprefixed {
		pre = "palisade_pre"
	}
	switch {
	case r.URL.Path == "/account":
		if c, err := r.Cookie("__Host-palisade_session"); err == nil && f.acceptAnySession && c.Value != "" {
			_, _ = w.Write([]byte("your account"))
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	case r.URL.Path == "/login" || r.URL.Path == "/signup" || r.URL.Path == "/forgot":
		v := randHex()
		if f.fixedPre {
			v = "0123456789abcdef"
		}
		if c, err := r.Cookie(pre); err == nil && f.adoptPlanted {
			v = c.Value
		}
		if c, err := r.Cookie(pre); err == nil && r.Method == http.MethodPost && !f.adoptPlanted {
			_ = c // a real form checks the token; the fake only answers
		}
		http.SetCookie(w, &http.Cookie{Name: pre, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
		}
		_, _ = w.Write([]byte(`<form><input type="hidden" name="csrf" value="tok-` + v[:8] + `"></form>`))
	case r.URL.Path == "/logout":
		if f.logoutNoCSRF {
			http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_session", Value: randHex(), Path: "/", Secure: true})
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "forbidden", http.StatusForbidden)
	default:
		http.NotFound(w, r)
	}
}

// TestSessionChecks: each session check passes against sign-in pages that
// issue their own ids and fails against one that breaks it.
func TestSessionChecks(t *testing.T) {
	t.Parallel()
	good := serveHTTP(t, fakeSignIn{})
	for name, bad := range map[string]fakeSignIn{
		"planted-session-cookie-refused": {acceptAnySession: true},
		"planted-cookies-not-adopted":    {adoptPlanted: true},
		"pre-session-fresh-per-browser":  {fixedPre: true},
		"session-cookies-host-prefixed":  {unprefixed: true},
		"logout-needs-csrf":              {logoutNoCSRF: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			expect(t, check(t, probe.CatSession, name), good, serveHTTP(t, bad), probe.Options{})
		})
	}
}

// fakeGateway refuses every call from outside unless open says it takes
// this one.
func fakeGateway(open func(r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/gateway/") && open(r) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"hi"}}]}`))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/gateway/") {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		http.NotFound(w, r)
	})
}

// TestGatewayChecks: every gateway check passes when the gateway refuses
// callers from outside and fails when it takes the call it tries.
func TestGatewayChecks(t *testing.T) {
	t.Parallel()
	good := serveHTTP(t, fakeGateway(func(*http.Request) bool { return false }))
	for name, open := range map[string]func(r *http.Request) bool{
		"no-token":                   func(r *http.Request) bool { return r.Header.Get("Authorization") == "" },
		"forged-token-and-signature": func(r *http.Request) bool { return r.Header.Get("X-Palisade-Signature") != "" },
		"token-without-signature": func(r *http.Request) bool {
			return r.Header.Get("Authorization") != "" && r.Header.Get("X-Palisade-Signature") == ""
		},
		"stale-signature": func(r *http.Request) bool {
			ts, _ := strconv.ParseInt(r.Header.Get("X-Palisade-Timestamp"), 10, 64)
			return ts > 0 && ts < timeNow().Add(-30*60e9).Unix()
		},
		"api-key-is-not-a-gateway-token": func(r *http.Request) bool { return strings.HasPrefix(r.Header.Get("Authorization"), "Bearer pal_") },
		"get-refused /gateway/":          func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == "/gateway/" },
		"get-refused /gateway/v1/models": func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == "/gateway/v1/models" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			expect(t, check(t, probe.CatGateway, name), good, serveHTTP(t, fakeGateway(open)), probe.Options{})
		})
	}
}

// fakeLimits answers the API's bot list and the sign-in form with a
// limit of five a window; each flag breaks one property of the 429.
type fakeLimits struct {
	noLimit      bool // never 429
	noRetryAfter bool
	noRateLimit  bool // no RateLimit fields
	textBody     bool // the 429 is not the JSON error
	mu           sync.Mutex
	counts       map[string]int
}

func (f *fakeLimits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if r.Method == http.MethodGet && r.URL.Path == "/login" {
		http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_pre", Value: randHex(), Path: "/", Secure: true})
		_, _ = w.Write([]byte(`<input type="hidden" name="csrf" value="t">`))
		return
	}
	if key != "GET /api/v1/bots" && key != "POST /login" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[key]++
	n := f.counts[key]
	f.mu.Unlock()
	policy := "mgmt_read"
	if key == "POST /login" {
		policy = "login_ip"
	}
	left := max(5-n, 0)
	if !f.noRateLimit {
		w.Header().Set("RateLimit-Policy", policy+";q=5;w=60")
		w.Header().Set("RateLimit", fmt.Sprintf("%s;r=%d;t=30", policy, left))
	}
	if n > 5 && !f.noLimit {
		if !f.noRetryAfter {
			w.Header().Set("Retry-After", "30")
		}
		if f.textBody {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"code":"rate_limited","message":"too many requests"}}`))
		return
	}
	if key == "POST /login" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = w.Write([]byte(`{"data":[]}`))
}

// TestRateLimitChecks: the burst checks pass against a deployment that
// answers the sixth request 429 with Retry-After, RateLimit fields and the
// JSON error, and each fails when its part is missing.
func TestRateLimitChecks(t *testing.T) {
	t.Parallel()
	opts := probe.Options{APIKey: testKey()}
	cases := map[string]func() *fakeLimits{
		"api-burst-meets-429":         func() *fakeLimits { return &fakeLimits{noLimit: true} },
		"api-429-retry-after":         func() *fakeLimits { return &fakeLimits{noRetryAfter: true} },
		"api-429-ratelimit-headers":   func() *fakeLimits { return &fakeLimits{noRateLimit: true} },
		"api-429-json-error":          func() *fakeLimits { return &fakeLimits{textBody: true} },
		"login-burst-meets-429":       func() *fakeLimits { return &fakeLimits{noLimit: true} },
		"login-429-retry-after":       func() *fakeLimits { return &fakeLimits{noRetryAfter: true} },
		"login-429-ratelimit-headers": func() *fakeLimits { return &fakeLimits{noRateLimit: true} },
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			expect(t, check(t, probe.CatRateLimit, name), serveHTTP(t, &fakeLimits{}), serveHTTP(t, bad()), opts)
		})
	}
	// Without a key the API burst is skipped, saying so; the sign-in
	// burst needs none.
	if r := one(t, serveHTTP(t, &fakeLimits{}), check(t, probe.CatRateLimit, "api-burst-meets-429"), probe.Options{}); r.Status != probe.Skip || !strings.Contains(r.Evidence, "--api-key") {
		t.Errorf("without a key: %s %s", r.Status, r.Evidence)
	}
	if len(cases) != len(category(t, probe.CatRateLimit)) {
		t.Errorf("%d cases for %d rate-limit checks", len(cases), len(category(t, probe.CatRateLimit)))
	}
}

func timeNow() time.Time { return time.Now() }

func testKey() secret.Secret { return secret.New("pal_aaaaaaaaaaaa_" + strings.Repeat("k", 43)) }

// fakeLogin signs ada@example.com in with her password; fixate keeps the
// session id the browser already carried (session fixation).
type fakeLogin struct {
	fixate   bool
	mu       sync.Mutex
	sessions map[string]bool
	logouts  int
}

func (f *fakeLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = map[string]bool{}
	}
	session := ""
	if c, err := r.Cookie("__Host-palisade_session"); err == nil {
		session = c.Value
	}
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_pre", Value: randHex(), Path: "/", Secure: true})
		_, _ = w.Write([]byte(`<input type="hidden" name="csrf" value="pre-token">`))
	case r.URL.Path == "/login":
		if r.PostFormValue("email") != "ada@example.com" || r.PostFormValue("password") != "correct horse battery" || r.PostFormValue("csrf") != "pre-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := randHex()
		if f.fixate && session != "" {
			id = session
		}
		f.sessions[id] = true
		http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_session", Value: id, Path: "/", Secure: true, HttpOnly: true})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	case r.URL.Path == "/account":
		if !f.sessions[session] {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		_, _ = w.Write([]byte(`<form method="post" action="/logout"><input type="hidden" name="csrf" value="acct-token"></form>`))
	case r.URL.Path == "/logout" && r.PostFormValue("csrf") == "acct-token" && f.sessions[session]:
		delete(f.sessions, session)
		f.logouts++
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	default:
		http.NotFound(w, r)
	}
}

// TestLoginIssuesFreshSession: with credentials, signing in while carrying
// a planted session id passes when the server issues its own and fails
// when it keeps the planted one; the probe signs out again either way, and
// without credentials the check is skipped saying what it needs.
func TestLoginIssuesFreshSession(t *testing.T) {
	t.Parallel()
	c := check(t, probe.CatSession, "login-issues-fresh-session")
	opts := probe.Options{Secrets: probe.Secrets{Login: probe.Login{Email: "ada@example.com", Password: secret.New("correct horse battery")}}}
	good, bad := &fakeLogin{}, &fakeLogin{fixate: true}
	expect(t, c, serveHTTP(t, good), serveHTTP(t, bad), opts)
	for _, f := range []*fakeLogin{good, bad} {
		f.mu.Lock()
		if f.logouts != 1 || len(f.sessions) != 0 {
			t.Errorf("%d sign-outs, %d sessions left", f.logouts, len(f.sessions))
		}
		f.mu.Unlock()
	}
	wrong := opts
	wrong.Secrets.Login.Password = secret.New("wrong")
	if r := one(t, serveHTTP(t, &fakeLogin{}), c, wrong); r.Status != probe.Fail || !strings.Contains(r.Evidence, "login in --secrets") {
		t.Errorf("wrong credentials = %s (%s)", r.Status, r.Evidence)
	}
	if r := one(t, serveHTTP(t, &fakeLogin{}), c, probe.Options{}); r.Status != probe.Skip || !strings.Contains(r.Evidence, "e-mail and password") {
		t.Errorf("without credentials = %s (%s)", r.Status, r.Evidence)
	}
}
