package admin_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// outbox is a mail.Sender that keeps messages.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

var _ mail.Sender = (*outbox)(nil)

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

var linkRE = regexp.MustCompile(`https://ui\.example(/[a-z]+/[A-Za-z0-9_-]{43})`)

// lastLink returns the path of the last link mailed to addr.
func (o *outbox) lastLink(t *testing.T, addr string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.msgs) - 1; i >= 0; i-- {
		if o.msgs[i].To == addr {
			if m := linkRE.FindStringSubmatch(o.msgs[i].Body); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no link mailed to %s", addr)
	return ""
}

// auditLog is a fake audit.Recorder.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Entry
}

var _ audit.Recorder = (*auditLog)(nil)

func (a *auditLog) Record(_ context.Context, _ palisade.Scope, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *auditLog) RecordPlatform(ctx context.Context, e audit.Entry) error {
	return a.Record(ctx, palisade.Scope{}, e)
}

func (a *auditLog) has(action audit.Action, outcome audit.Outcome) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.events {
		if e.Action == action && e.Outcome == outcome {
			return true
		}
	}
	return false
}

type env struct {
	t      *testing.T
	store  store.Store
	svc    *account.Service
	hasher *auth.Hasher
	tokens *auth.TokenKey
	clock  *clock
	mail   *outbox
	audit  *auditLog
	h      http.Handler
	// limiter and limits are shared by the account service and the UI.
	limiter ratelimit.Limiter
	limits  ratelimit.Table
	// refusals counts the UI's rate-limit refusals for the dashboard.
	refusals *conversation.RefusalCounter
}

// testTokenKey is the key of the tests' stored token hashes.
func testTokenKey(t *testing.T) *auth.TokenKey {
	t.Helper()
	k, err := auth.NewTokenKey([]byte("admin tests' token key, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type setupOpts struct {
	limits ratelimit.Table
	signup bool
	// queryHook sees every statement the store runs.
	queryHook func(query string)
	// sealer seals the store's sealed columns (channel credentials); nil
	// refuses them.
	sealer store.Sealer
	// mailer replaces the outbox, such as the console sender the server
	// uses without SMTP.
	mailer mail.Sender
}

func setup(t *testing.T, o setupOpts) *env {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), store.Options{UserSealer: testUserSealer(t), QueryHook: o.queryHook, Sealer: o.sealer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := &env{t: t, store: s, hasher: auth.NewInsecureTestHasher(), tokens: testTokenKey(t), clock: &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		mail: &outbox{}, audit: &auditLog{}}
	limits := o.limits
	if limits == nil {
		// Generous limits unless a test is about them.
		limits = ratelimit.Defaults()
		for _, c := range ratelimit.Classes() {
			p := limits[c]
			p.Limit = 10_000
			limits[c] = p
		}
	}
	e.limiter, e.limits = ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: e.clock.Now}), limits
	e.refusals = conversation.NewRefusalCounter(s, e.clock.Now, nil)
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	auditKeys, err := audit.NewKeys(mk)
	if err != nil {
		t.Fatal(err)
	}
	chain := audit.New(s, audit.Options{Keys: auditKeys})
	var mailer mail.Sender = e.mail
	if o.mailer != nil {
		mailer = o.mailer
	}
	e.svc, err = account.New(account.Options{Store: s, Hasher: e.hasher, Tokens: e.tokens, Mailer: mailer,
		Limiter: e.limiter, Limits: limits, Audit: e.audit,
		DeleteWorkspace: func(ctx context.Context, scope palisade.Scope, en audit.Entry) error {
			if err := chain.DeleteWorkspace(ctx, s, scope, en); err != nil {
				return err
			}
			// The test's recorder sees the deletion too.
			en.Action, en.Target, en.Outcome = audit.ActionWorkspaceDeleted, string(scope.Workspace()), audit.OutcomeSuccess
			return e.audit.Record(ctx, scope, en)
		},
		Now: e.clock.Now, BaseURL: "https://ui.example", AllowSignup: o.signup})
	if err != nil {
		t.Fatal(err)
	}
	e.mount(t, testModels, nil)
	return e
}

// mount serves the UI with a bot service over models, issuing gateway
// tokens with tokens (nil issues none).
func (e *env) mount(t *testing.T, models []string, tokens bot.TokenIssuer) {
	t.Helper()
	ui := newUIWith(t, e.svc, e.store, e.audit, e.clock.Now, models, tokens, e.limiter, e.limits, e.refusals.Refused)
	e.h = httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.DiscardHandler), Format: httpx.FormatHTML}, ui.Handler())
}

// newUI builds the UI over its services, as the server does.
func newUI(t *testing.T, accounts *account.Service, s store.Store, rec audit.Recorder, now func() time.Time, models []string, tokens bot.TokenIssuer,
	lim ratelimit.Limiter, limits ratelimit.Table) *admin.UI {
	t.Helper()
	return newUIWith(t, accounts, s, rec, now, models, tokens, lim, limits, nil)
}

// newUIWith is newUI telling onLimited of each rate-limit refusal.
func newUIWith(t *testing.T, accounts *account.Service, s store.Store, rec audit.Recorder, now func() time.Time, models []string, tokens bot.TokenIssuer,
	lim ratelimit.Limiter, limits ratelimit.Table, onLimited func(palisade.WorkspaceID, string)) *admin.UI {
	t.Helper()
	bots, err := bot.New(bot.Options{Store: s, Knowledge: &knowledge.Service{Store: s, Now: now}, Models: models,
		Tokens: tokens, Audit: rec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	exports := export.New(export.Options{Store: s, Audit: rec, Limiter: lim, Policy: limits[ratelimit.ClassExport], Now: now})
	chats := &conversation.Service{Store: s, Knowledge: &knowledge.Service{Store: s, Now: now}, Now: now}
	ui, err := admin.New(admin.Options{Account: accounts, Bots: bots, Audit: audit.NewHistory(s), Limiter: lim, Limits: limits, Export: exports, Chats: chats,
		Activity: &conversation.Dashboard{Store: s, Now: now}, OnRateLimited: onLimited})
	if err != nil {
		t.Fatal(err)
	}
	return ui
}

// browser holds cookies for one client, by hand: the cookies are Secure
// and these requests are plain httptest ones.
type browser struct {
	e       *env
	cookies map[string]string
	ip      string
}

func (e *env) browser() *browser {
	return &browser{e: e, cookies: map[string]string{}, ip: "192.0.2.10"}
}

func (b *browser) request(method, path string, form url.Values) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "https://ui.example"+path, body)
	r.RemoteAddr = b.ip + ":4711"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	return r
}

func (b *browser) send(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.e.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return w
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.send(b.request(http.MethodGet, path, nil))
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf fetches a page and returns its form token.
func (b *browser) csrf(page string) string {
	b.e.t.Helper()
	w := b.get(page)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		b.e.t.Fatalf("GET %s: no form token (status %d)", page, w.Code)
	}
	return m[1]
}

// post submits a form with the token of page.
func (b *browser) post(page, path string, form url.Values) *httptest.ResponseRecorder {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf(page))
	return b.send(b.request(http.MethodPost, path, form))
}

const goodPassword = "quartz fjord glimmer 8141 vex"

// owner creates a user with a workspace of its own and returns them.
func (e *env) owner(email string) (palisade.User, palisade.Workspace) {
	e.t.Helper()
	h, err := e.hasher.Hash(goodPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	u, w, err := e.store.CreateOwner(e.t.Context(), store.CreateOwnerParams{Email: email, Name: "Test", PasswordHash: h, WorkspaceName: "WS " + email, Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return u, w
}

// member creates a user with role in ws.
func (e *env) member(ws palisade.WorkspaceID, email string, role palisade.Role) palisade.User {
	e.t.Helper()
	h, _ := e.hasher.Hash(goodPassword)
	u, err := e.store.CreateUser(e.t.Context(), store.CreateUserParams{Email: email, Name: "Test", PasswordHash: h, Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.AddMember(e.t.Context(), palisade.ScopeFor(ws), u.ID, role, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login signs b in with the UI's own form.
func (b *browser) login(email string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	w := b.post("/login", "/login", url.Values{"email": {email}, "password": {goodPassword}})
	if w.Code != http.StatusSeeOther {
		b.e.t.Fatalf("login %s: status %d: %s", email, w.Code, w.Body.String())
	}
	return w
}

func testUserSealer(t *testing.T) store.UserSealer {
	t.Helper()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{0x42}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	u, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// location is a redirect's target without its query (the flash message
// the next page shows).
func location(w *httptest.ResponseRecorder) string {
	l := w.Header().Get("Location")
	if i := strings.IndexByte(l, '?'); i >= 0 {
		return l[:i]
	}
	return l
}
