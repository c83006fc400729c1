package admin_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
)

// The first owner's set-up link creates the owner and workspace once.
func TestSetupOwner(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	tok, hash, err := e.tokens.NewOneTimeToken(auth.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateOneTimeToken(t.Context(), store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: hash,
		Now: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	path := "/setup/" + tok.Reveal()
	form := func(email string) url.Values {
		return url.Values{"email": {email}, "name": {"Olga"}, "password": {goodPassword}, "workspace": {"Acme"}}
	}
	b := e.browser()
	// A weak password is refused without spending the token.
	weak := form("olga@example.com")
	weak.Set("password", "short")
	if w := b.post(path, path, weak); w.Code != http.StatusBadRequest {
		t.Fatalf("weak password: %d", w.Code)
	}
	if w := b.post(path, path, form("olga@example.com")); w.Code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", w.Code, w.Body.String())
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("owner not signed in: %d", w.Code)
	}
	if w := e.browser().post("/login", path, form("eve@example.com")); w.Code != http.StatusNotFound {
		t.Fatalf("second use of the set-up link: %d", w.Code)
	}
	// Opened again, the link says it is spent instead of showing the form.
	w := e.browser().get(path)
	if w.Code != http.StatusGone || strings.Contains(w.Body.String(), `name="password"`) || !strings.Contains(w.Body.String(), "spent") {
		t.Fatalf("spent set-up link: %d\n%s", w.Code, w.Body.String())
	}
	// The mail went to a mail server: the notice says so, not the log.
	if body := b.get("/account").Body.String(); !strings.Contains(body, "not verified") || strings.Contains(body, "server's output") {
		t.Fatalf("verification notice with SMTP:\n%s", body)
	}
	// Verification link mailed; following it verifies.
	link := e.mail.lastLink(t, "olga@example.com")
	if w := b.post(link, link, nil); w.Code != http.StatusOK {
		t.Fatalf("verify: %d", w.Code)
	}
	if u, _ := e.store.GetUserByEmail(t.Context(), "olga@example.com"); u.EmailVerifiedAt == nil {
		t.Fatal("email not verified")
	}
}

// An invitation makes a new account a member with the invited role; an
// editor cannot invite and an admin cannot invite an owner.
func TestInvitationAndRoles(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	members := "/w/" + string(ws) + "/members"
	admin := e.browser()
	admin.login(emails["admin"])
	if w := admin.post(members, members+"/invite", url.Values{"email": {"boss@example.com"}, "role": {"owner"}}); w.Code != http.StatusForbidden {
		t.Fatalf("admin inviting an owner: %d", w.Code)
	}
	if w := admin.post(members, members+"/invite", url.Values{"email": {"new@example.com"}, "role": {"editor"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("invite: %d %s", w.Code, w.Body.String())
	}
	link := e.mail.lastLink(t, "new@example.com")
	nb := e.browser()
	if w := nb.post(link, link, url.Values{"name": {"Nia"}, "password": {goodPassword}}); w.Code != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", w.Code, w.Body.String())
	}
	u, err := e.store.GetUserByEmail(t.Context(), "new@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.store.GetMembership(t.Context(), palisade.ScopeFor(ws), u.ID)
	if err != nil || m.Role != palisade.RoleEditor {
		t.Fatalf("membership = %+v, %v", m, err)
	}
	if w := e.browser().post("/login", link, url.Values{"name": {"X"}, "password": {goodPassword}}); w.Code != http.StatusNotFound {
		t.Fatalf("second acceptance: %d", w.Code)
	}
	// The last owner cannot be demoted, even by themselves.
	owner := e.browser()
	owner.login(emails["owner"])
	om, _ := e.store.GetMembership(t.Context(), palisade.ScopeFor(ws), mustUserID(t, e, emails["owner"]))
	if w := owner.post(members, members+"/"+string(om.ID)+"/role", url.Values{"role": {"viewer"}}); w.Code != http.StatusConflict {
		t.Fatalf("demoting the last owner: %d", w.Code)
	}
	if !e.audit.has(audit.ActionInvitationCreated, audit.OutcomeSuccess) || !e.audit.has(audit.ActionInvitationAccepted, audit.OutcomeSuccess) {
		t.Fatal("invitation not audited")
	}
}

// A password reset changes the password once and ends every session.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("r@example.com")
	old := e.browser()
	old.login("r@example.com")
	b := e.browser()
	if w := b.post("/forgot", "/forgot", url.Values{"email": {"r@example.com"}}); w.Code != http.StatusOK {
		t.Fatalf("forgot: %d", w.Code)
	}
	// An unknown address gets the same answer and no mail.
	if w := b.post("/forgot", "/forgot", url.Values{"email": {"nobody@example.com"}}); w.Code != http.StatusOK {
		t.Fatalf("forgot unknown: %d", w.Code)
	}
	link := e.mail.lastLink(t, "r@example.com")
	const next = "a brand new passphrase 77"
	if w := b.post(link, link, url.Values{"password": {next}}); w.Code != http.StatusOK {
		t.Fatalf("reset: %d %s", w.Code, w.Body.String())
	}
	if w := b.post("/login", link, url.Values{"password": {next}}); w.Code != http.StatusNotFound {
		t.Fatalf("second reset: %d", w.Code)
	}
	if w := old.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("old session survived the reset: %d", w.Code)
	}
	if w := b.post("/login", "/login", url.Values{"email": {"r@example.com"}, "password": {next}}); w.Code != http.StatusSeeOther {
		t.Fatalf("login with new password: %d", w.Code)
	}
}

// Over plain HTTP to a host that is not localhost the browser drops the
// Secure cookies, so the sign-in page says HTTPS (or localhost) is needed
// and why, and the refused form says the same instead of "the form has
// expired". Over HTTPS or on localhost nothing of the kind shows.
func TestPlainHTTPSignInExplainsHTTPS(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("plain@example.com")
	get := func(target string) string {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		return w.Body.String()
	}
	if body := get("http://ui.example/login"); !strings.Contains(body, "Signing in needs HTTPS") || !strings.Contains(body, "http://localhost") {
		t.Fatalf("plain-HTTP sign-in page does not explain HTTPS:\n%s", body)
	}
	for _, target := range []string{"https://ui.example/login", "http://localhost:8080/login", "http://127.0.0.1:8080/login", "http://[::1]:8080/login"} {
		if body := get(target); strings.Contains(body, "Signing in needs HTTPS") {
			t.Errorf("%s warns about HTTPS", target)
		}
	}
	// Behind a proxy that terminates TLS, even one not listed as trusted,
	// the browser has HTTPS and its cookies work: no warning.
	for _, h := range [][2]string{{"X-Forwarded-Proto", "https"}, {"Forwarded", "for=192.0.2.1;proto=https"}} {
		r := httptest.NewRequest(http.MethodGet, "http://ui.example/login", nil)
		r.Header.Set(h[0], h[1])
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if strings.Contains(w.Body.String(), "Signing in needs HTTPS") {
			t.Errorf("behind a TLS proxy (%s: %s) the page warns about HTTPS", h[0], h[1])
		}
	}
	// The browser kept no cookie, so the form comes back without one.
	r := httptest.NewRequest(http.MethodPost, "http://ui.example/login", strings.NewReader(url.Values{"email": {"plain@example.com"}, "password": {goodPassword}, "csrf": {"x"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "expired") || !strings.Contains(w.Body.String(), "HTTPS") {
		t.Fatalf("plain-HTTP sign-in: %d\n%s", w.Code, w.Body.String())
	}
}

// A set-up link left from an earlier start (the server prints a new one at
// each start until the first owner exists) is spent once an owner exists:
// its page says so and it makes no second owner.
func TestLeftoverSetupLinkIsSpent(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	var paths []string
	for range 2 {
		tok, hash, err := e.tokens.NewOneTimeToken(auth.PurposeSetup)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateOneTimeToken(t.Context(), store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: hash,
			Now: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "/setup/"+tok.Reveal())
	}
	form := url.Values{"email": {"first@example.com"}, "name": {"First"}, "password": {goodPassword}, "workspace": {"One"}}
	if w := e.browser().post(paths[0], paths[0], form); w.Code != http.StatusSeeOther {
		t.Fatalf("setup: %d", w.Code)
	}
	if w := e.browser().get(paths[1]); w.Code != http.StatusGone {
		t.Fatalf("leftover link's page: %d", w.Code)
	}
	form.Set("email", "second@example.com")
	if w := e.browser().post("/login", paths[1], form); w.Code != http.StatusNotFound {
		t.Fatalf("leftover link made a second owner: %d", w.Code)
	}
}

// Without a mail server the verification link goes to the server's
// output, and the first page after set-up says so instead of implying an
// e-mail is on its way.
func TestVerificationNoticeNamesTheServerOutput(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	e := setup(t, setupOpts{mailer: mail.LogSender{Logger: slog.New(slog.DiscardHandler), Out: &out}})
	tok, hash, err := e.tokens.NewOneTimeToken(auth.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateOneTimeToken(t.Context(), store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: hash,
		Now: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	path := "/setup/" + tok.Reveal()
	b := e.browser()
	w := b.post(path, path, url.Values{"email": {"solo@example.com"}, "name": {"Solo"}, "password": {goodPassword}, "workspace": {"Solo"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("setup: %d", w.Code)
	}
	body := b.get("/account").Body.String()
	if !strings.Contains(body, "not verified") || !strings.Contains(body, "printed in the server") {
		t.Fatalf("verification notice without SMTP:\n%s", body)
	}
}

// Error pages lead somewhere: a 404 and a 403 carry links home, to the
// account and to sign-in.
func TestErrorPagesHaveNavigation(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	b := e.browser()
	b.login(emails["viewer"])
	for path, code := range map[string]int{"/no-such-page": http.StatusNotFound, "/w/" + string(ws) + "/audit": http.StatusForbidden} {
		w := b.get(path)
		if w.Code != code {
			t.Fatalf("GET %s: %d, want %d", path, w.Code, code)
		}
		for _, link := range []string{`href="/"`, `href="/account"`, `href="/login"`} {
			if !strings.Contains(w.Body.String(), link) {
				t.Errorf("GET %s: error page lacks %s", path, link)
			}
		}
	}
}

// A list with nothing in it says what would be there and how to add it,
// instead of an empty table or nothing at all.
func TestEmptyListsExplainThemselves(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	base := "/w/" + string(ws)
	b := e.browser()
	b.login(emails["owner"])
	for path, want := range map[string]string{
		base + "/bots":          "No bots yet. A bot answers",
		base + "/keys":          "No API keys yet. A key lets a program",
		base + "/conversations": "No conversations yet. They appear here",
		base + "/members":       "No pending invitations.",
	} {
		body := b.get(path).Body.String()
		if !strings.Contains(body, `class="empty"`) || !strings.Contains(body, want) || strings.Contains(body, "<table>\n<tr><th>") && path != base+"/members" {
			t.Errorf("%s: the empty list does not explain itself:\n%s", path, body)
		}
	}
	w := b.post(base+"/bots/new", base+"/bots", botForm("Helper"))
	bot := location(w)
	if body := b.get(bot + "/documents").Body.String(); !strings.Contains(body, "No documents yet. The bot answers only from its knowledge") {
		t.Errorf("documents: the empty list does not explain itself:\n%s", body)
	}
}
