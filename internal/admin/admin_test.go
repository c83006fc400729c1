package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
)

// A wrong password and an unknown account get the same
// status and the same page, and the unknown account runs a full dummy
// verification (counted by the Hasher, not timed).
func TestLoginDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("known@example.com")
	b := e.browser()
	try := func(email, pw string) (int, string, uint64) {
		before := e.hasher.Derivations()
		w := b.post("/login", "/login", url.Values{"email": {email}, "password": {pw}})
		// The e-mail typed is echoed back in the form; blank it so only
		// the answer is compared.
		return w.Code, strings.ReplaceAll(w.Body.String(), email, "EMAIL"), e.hasher.Derivations() - before
	}
	wrongCode, wrongBody, wrongDerivs := try("known@example.com", "not the right password 1")
	unknownCode, unknownBody, unknownDerivs := try("nobody@example.com", "not the right password 1")
	if wrongCode != http.StatusUnauthorized || unknownCode != wrongCode {
		t.Fatalf("status: wrong password %d, unknown account %d; want both 401", wrongCode, unknownCode)
	}
	if wrongBody != unknownBody {
		t.Fatalf("pages differ:\n--- wrong password\n%s\n--- unknown account\n%s", wrongBody, unknownBody)
	}
	if !strings.Contains(wrongBody, "invalid email or password") {
		t.Fatalf("page lacks the message: %s", wrongBody)
	}
	if wrongDerivs != 1 || unknownDerivs != 1 {
		t.Fatalf("argon2id derivations: wrong password %d, unknown account %d; want 1 each", wrongDerivs, unknownDerivs)
	}
	if !e.audit.has(audit.ActionLoginFailure, audit.OutcomeFailure) {
		t.Fatal("failed log-in not audited")
	}
}

func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	e.owner("rl@example.com")
	tests := []struct {
		name  string
		email func(i int) string
		ip    func(i int) string
	}{
		{"per account from many addresses", func(int) string { return "rl@example.com" }, func(i int) string { return "198.51.100." + string(rune('1'+i)) }},
		{"per address over many accounts", func(i int) string { return string(rune('a'+i)) + "@example.com" }, func(int) string { return "203.0.113.9" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 6 {
				b := e.browser()
				b.ip = tt.ip(i)
				w := b.post("/login", "/login", url.Values{"email": {tt.email(i)}, "password": {"wrong password here"}})
				want := http.StatusUnauthorized
				if i == 5 {
					want = http.StatusTooManyRequests
				}
				if w.Code != want {
					t.Fatalf("attempt %d: status %d, want %d", i+1, w.Code, want)
				}
				if i == 5 && w.Header().Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
			}
		})
	}
}

// The session id changes at log-in; the cookie is refused
// after log-out, idle and absolute expiry, and revocation.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(e *env, b *browser)
	}{
		{"logout", func(e *env, b *browser) {
			saved := b.cookies[admin.SessionCookie]
			if w := b.post("/account", "/logout", nil); w.Code != http.StatusSeeOther {
				t.Fatalf("logout: %d", w.Code)
			}
			b.cookies[admin.SessionCookie] = saved // a copied cookie replayed
		}},
		{"idle", func(e *env, b *browser) { e.clock.Advance(account.DefaultIdleTimeout) }},
		{"absolute", func(e *env, b *browser) {
			// Stay active so only the absolute time-out can end it.
			for range 35 {
				e.clock.Advance(20 * time.Minute)
				if w := b.get("/account"); w.Code != http.StatusOK {
					t.Fatalf("active session ended early at %v: %d", e.clock.Now(), w.Code)
				}
			}
			e.clock.Advance(20 * time.Minute) // 12 hours after log-in
		}},
		{"revoked from another session", func(e *env, b *browser) {
			other := e.browser()
			other.login("life@example.com")
			list, err := e.store.ListSessions(t.Context(), mustUserID(t, e, "life@example.com"), e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			mine, _ := e.store.GetSessionByHash(t.Context(), e.tokens.HashSessionToken(mustToken(t, b)))
			found := false
			for _, x := range list {
				if x.ID == mine.ID {
					found = true
				}
			}
			if !found {
				t.Fatal("session not listed")
			}
			if w := other.post("/account/sessions", "/account/sessions/"+string(mine.ID)+"/revoke", nil); w.Code != http.StatusSeeOther {
				t.Fatalf("revoke: %d %s", w.Code, w.Body.String())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpts{})
			e.owner("life@example.com")
			b := e.browser()
			// A session cookie from before log-in (say, planted) is replaced.
			b.login("life@example.com")
			first := b.cookies[admin.SessionCookie]
			b.login("life@example.com")
			second := b.cookies[admin.SessionCookie]
			if first == "" || first == second {
				t.Fatal("session token did not change at log-in")
			}
			x1, _ := e.store.GetSessionByHash(t.Context(), e.tokens.HashSessionToken(mustParse(t, first)))
			x2, _ := e.store.GetSessionByHash(t.Context(), e.tokens.HashSessionToken(mustParse(t, second)))
			if x1.ID == x2.ID || x1.RevokedAt == nil {
				t.Fatalf("old session %s not replaced by %s (revoked %v)", x1.ID, x2.ID, x1.RevokedAt)
			}
			if w := b.get("/account"); w.Code != http.StatusOK {
				t.Fatalf("signed-in page: %d", w.Code)
			}
			if cc := b.get("/account").Header().Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q", cc)
			}
			tt.end(e, b)
			w := b.get("/account")
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
				t.Fatalf("after %s: status %d, location %q; want redirect to /login", tt.name, w.Code, w.Header().Get("Location"))
			}
		})
	}
}

func mustParse(t *testing.T, s string) (tok secret.Secret) {
	t.Helper()
	tok, err := auth.ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustToken(t *testing.T, b *browser) secret.Secret {
	return mustParse(t, b.cookies[admin.SessionCookie])
}

func mustUserID(t *testing.T, e *env, email string) palisade.UserID {
	u, err := e.store.GetUserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// The session cookie's attributes.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("c@example.com")
	w := e.browser().login("c@example.com")
	var c *http.Cookie
	for _, x := range w.Result().Cookies() {
		if x.Name == admin.SessionCookie {
			c = x
		}
	}
	if c == nil || !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie = %+v", c)
	}
	raw, err := auth.ParseToken(c.Value)
	if err != nil {
		t.Fatalf("cookie value is not a 256-bit token: %v", err)
	}
	// Only the hash is stored.
	if _, err := e.store.GetSessionByHash(t.Context(), []byte(raw.Reveal())); err == nil {
		t.Fatal("session found by its plaintext token")
	}
}

// roleUsers makes one user per role (and one non-member) in one workspace.
func roleUsers(t *testing.T, e *env) (palisade.WorkspaceID, map[string]string) {
	u, ws := e.owner("owner@example.com")
	_ = u
	emails := map[string]string{string(palisade.RoleOwner): "owner@example.com"}
	for _, r := range []palisade.Role{palisade.RoleViewer, palisade.RoleEditor, palisade.RoleAdmin} {
		email := string(r) + "@example.com"
		e.member(ws.ID, email, r)
		emails[string(r)] = email
	}
	e.owner("stranger@example.com")
	emails["non-member"] = "stranger@example.com"
	return ws.ID, emails
}

// fill replaces a pattern's wildcards with well-formed values.
func fill(pattern string, ws palisade.WorkspaceID) string {
	p := strings.TrimSuffix(pattern, "{$}")
	for _, name := range palisade.PathWildcards(pattern) {
		v := ""
		switch name {
		case "workspaceId":
			v = string(ws)
		case "token":
			v = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		default:
			pre, _ := palisade.PathParamPrefix(name)
			v = palisade.NewID(pre)
		}
		p = strings.Replace(p, "{"+name+"}", v, 1)
	}
	return p
}

// Every route x every role (and anonymous, and a signed-in
// non-member) is exercised; a route without a declared permission fails.
func TestRoutePermissions(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{signup: true})
	ws, emails := roleUsers(t, e)
	ui := newUI(t, e.svc, e.store, e.audit, e.clock.Now, testModels, nil, e.limiter, e.limits)
	routes := ui.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.Perm == "" || !rt.Perm.Valid() {
			t.Errorf("%s %s declares no valid permission (%q)", rt.Method, rt.Pattern, rt.Perm)
		}
		if rt.Handle == nil {
			t.Errorf("%s %s has no handler", rt.Method, rt.Pattern)
		}
		for _, name := range palisade.PathWildcards(rt.Pattern) {
			if _, ok := palisade.PathParamPrefix(name); !ok && name != "token" {
				t.Errorf("%s %s: wildcard %q is not validated", rt.Method, rt.Pattern, name)
			}
		}
		if seen[rt.Method+rt.Pattern] {
			t.Errorf("duplicate route %s %s", rt.Method, rt.Pattern)
		}
		seen[rt.Method+rt.Pattern] = true
		if strings.Contains(rt.Pattern, "{workspaceId}") && (rt.Perm == auth.PermPublic || rt.Perm == auth.PermAccount) {
			t.Errorf("%s %s: a workspace route needs a workspace permission", rt.Method, rt.Pattern)
		}
	}
	principals := []string{"anonymous", "non-member", "viewer", "editor", "admin", "owner"}
	for _, who := range principals {
		for _, rt := range routes {
			name := who + " " + rt.Method + " " + rt.Pattern
			b := e.browser()
			if who != "anonymous" {
				b.login(emails[who])
			}
			path := fill(rt.Pattern, ws)
			var w *httptest.ResponseRecorder
			if rt.Method == http.MethodGet {
				w = b.get(path)
			} else {
				page := "/account"
				if rt.Perm == auth.PermPublic || who == "anonymous" {
					page = "/login"
				}
				w = b.post(page, path, url.Values{"role": {"viewer"}, "email": {"x@example.com"}})
			}
			// A public route may answer 401 for its own reasons (a wrong
			// password, no pending log-in); only a 403 is a refusal there.
			denied := w.Code == http.StatusForbidden
			if rt.Perm != auth.PermPublic {
				denied = denied || w.Code == http.StatusUnauthorized
				// Log-out's success is a redirect to /login; anything
				// else sent there by the guard was refused.
				if rt.Pattern != "/logout" && w.Code == http.StatusSeeOther && w.Header().Get("Location") == "/login" {
					denied = true
				}
			}
			var allowed bool
			switch {
			case rt.Perm == auth.PermPublic:
				allowed = true
			case who == "anonymous":
				allowed = false
			case strings.Contains(rt.Pattern, "{workspaceId}"):
				if who == "non-member" {
					// Not a member: the workspace does not exist for them.
					if w.Code != http.StatusNotFound {
						t.Errorf("%s: status %d, want 404", name, w.Code)
					}
					continue
				}
				allowed = auth.Allows(palisade.Role(who), rt.Perm)
			default:
				allowed = auth.Authorize(auth.Principal{User: true}, rt.Perm)
			}
			if allowed && denied {
				t.Errorf("%s: refused (%d) but the permission table allows it", name, w.Code)
			}
			if !allowed && !denied {
				t.Errorf("%s: status %d, want refusal", name, w.Code)
			}
			if w.Code >= 500 {
				t.Errorf("%s: server error %d", name, w.Code)
			}
		}
	}
}

// A cross-site POST is refused on every state-changing
// route, even with a valid session and form token; a POST without the
// form token is refused too.
func TestCrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{signup: true})
	ws, emails := roleUsers(t, e)
	ui := newUI(t, e.svc, e.store, e.audit, e.clock.Now, testModels, nil, e.limiter, e.limits)
	attacks := []struct {
		name string
		set  func(r *http.Request, form url.Values)
	}{
		{"foreign Origin", func(r *http.Request, _ url.Values) { r.Header.Set("Origin", "https://evil.example") }},
		{"Sec-Fetch-Site cross-site", func(r *http.Request, _ url.Values) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
		{"no form token", func(r *http.Request, form url.Values) {
			form.Del("csrf")
			r.Body = io.NopCloser(strings.NewReader(form.Encode()))
			r.ContentLength = int64(len(form.Encode()))
		}},
	}
	b := e.browser()
	b.login(emails["owner"])
	n := 0
	for _, rt := range ui.Routes() {
		if rt.Method == http.MethodGet {
			continue
		}
		n++
		for _, a := range attacks {
			page := "/account"
			if rt.Perm == auth.PermPublic {
				page = "/login"
			}
			form := url.Values{"csrf": {b.csrf(page)}, "email": {"x@example.com"}, "password": {goodPassword}, "role": {"viewer"}}
			r := b.request(rt.Method, fill(rt.Pattern, ws), form)
			a.set(r, form)
			saved := map[string]string{}
			for k, v := range b.cookies {
				saved[k] = v
			}
			w := b.send(r)
			b.cookies = saved
			if w.Code != http.StatusForbidden {
				t.Errorf("%s %s with %s: status %d, want 403", rt.Method, rt.Pattern, a.name, w.Code)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d state-changing routes", n)
	}
	// Still signed in: nothing above took effect.
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("session lost: %d", w.Code)
	}
	if _, err := e.store.GetUserByEmail(t.Context(), "x@example.com"); err == nil {
		t.Fatal("a refused cross-site POST created an account")
	}
	invs, _ := e.store.ListInvitations(t.Context(), palisade.ScopeFor(ws))
	if len(invs) != 0 {
		t.Fatal("a refused cross-site POST created an invitation")
	}
}
