// Package admin is the admin web UI: server-rendered html/template pages on
// their own mux, usable without JavaScript, for signing in, accounts,
// sessions, two-factor authentication, members, invitations, API keys,
// bots with their knowledge documents, and the workspace audit log.
// routes.go lists every route with the permission it needs; the router
// checks path parameters, the session, the workspace role and the CSRF
// token before any handler runs, behind Go's http.CrossOriginProtection.
//
// It must never serve a state-changing request without both checks, never
// put a session token anywhere but its __Host- cookie, never run inline
// scripts or styles, never trust a workspace id without a membership, and
// never write an error but through httpx.WriteError.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Cookie names. The __Host- prefix makes browsers refuse the cookie unless
// it is Secure, has Path=/ and no Domain, so no subdomain or plain-HTTP
// page can plant or overwrite it. Secure is always set: browsers treat
// http://localhost and 127.0.0.1 as secure contexts, so local development
// works, and any other plain-HTTP origin only redirects to HTTPS anyway.
const (
	SessionCookie = "__Host-palisade_session"
	// PreSessionCookie binds the CSRF token of forms shown before sign-in
	// (log-in, sign-up, set-up, invitation, reset) to the browser.
	PreSessionCookie = "__Host-palisade_pre"
	csrfField        = "csrf"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the UI.
type Options struct {
	Account *account.Service
	Store   store.Store
	Proxies *httpx.TrustedProxies
	Logger  *slog.Logger
	// Bots is the bot use cases behind the bot and document pages.
	Bots Bots
}

// Bots is the bot use cases the UI offers (*bot.Service).
type Bots interface {
	OperatorModels() []string
	Models(ctx context.Context, scope palisade.Scope) ([]string, error)
	Draft(ctx context.Context, scope palisade.Scope) (palisade.Bot, error)
	List(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
	Get(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	Create(ctx context.Context, c palisade.Caller, in bot.Input) (palisade.Bot, error)
	Update(ctx context.Context, c palisade.Caller, id palisade.BotID, in bot.Input) (palisade.Bot, error)
	Delete(ctx context.Context, c palisade.Caller, id palisade.BotID) error
	SetAllowedModels(ctx context.Context, c palisade.Caller, models []string) error
	Documents(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	AddDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error)
	DeleteDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.DocumentID) error
}

// UI is the admin web UI.
type UI struct {
	o     Options
	pages map[string]*template.Template
}

// New parses the templates and returns the UI.
func New(o Options) (*UI, error) {
	if o.Account == nil || o.Store == nil || o.Bots == nil {
		return nil, errors.New("admin: Account, Store and Bots are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("admin: parsing layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	u := &UI{o: o, pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("admin: parsing %s: %w", n, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

var funcs = template.FuncMap{
	"fmtTime": func(t any) string {
		switch v := t.(type) {
		case interface{ Format(string) string }:
			return v.Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
}

// Handler is the UI's whole handler, to mount at "/": cross-origin
// protection, the HTML error format, then the routes.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, u.guard(rt))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, errCrossOrigin)
	}))
	return httpx.UseErrorFormat(httpx.FormatHTML)(cop.Handler(httpx.Mux(mux)))
}

var (
	errCrossOrigin = palisade.Errorf(palisade.CodeForbidden, "cross-origin request refused")
	errCSRF        = palisade.Errorf(palisade.CodeForbidden, "the form has expired or did not come from this site; reload the page and try again")
	errMFARequired = palisade.Errorf(palisade.CodeForbidden, "this workspace requires two-factor authentication: turn it on under Account → Two-factor")
)

// req is what the guard established for a handler.
type req struct {
	client  account.Client
	cur     *account.Current // signed in (not pending)
	pending *account.Current // password checked, second factor due
	actor   *account.Actor   // set on workspace routes
	ws      palisade.Workspace
	csrf    string
	token   secret.Secret // the session cookie's token, if any
}

type handler func(w http.ResponseWriter, r *http.Request, q *req) error

// validParam checks one path parameter before anything else runs: ids
// against their pattern, tokens against the token form.
func validParam(name, v string) bool {
	if name == "token" {
		_, err := auth.ParseToken(v)
		return err == nil
	}
	p, ok := palisade.PathParamPrefix(name)
	return ok && palisade.ValidID(p, v)
}

// guard runs, in order: path parameters (no query yet), the session, the
// permission (with the workspace role on workspace routes), the CSRF form
// token on POST, then the handler.
func (u *UI) guard(rt Route) http.Handler {
	params := palisade.PathWildcards(rt.Pattern)
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range params {
			if !validParam(name, r.PathValue(name)) {
				return palisade.ErrNotFound
			}
		}
		ctx := r.Context()
		addr := u.o.Proxies.ClientIP(r)
		q := &req{client: account.Client{IP: ipKey(addr), Addr: addr, UserAgent: r.UserAgent(), RequestID: httpx.RequestIDFrom(ctx)}}
		if c, err := r.Cookie(SessionCookie); err == nil {
			if tok, err := auth.ParseToken(c.Value); err == nil {
				q.token = tok
				cur, err := u.o.Account.Authenticate(ctx, tok)
				switch {
				case err == nil && cur.Session.MFAPending:
					q.pending = &cur
				case err == nil:
					q.cur = &cur
				case palisade.ErrorCode(err) != palisade.CodeUnauthorized:
					return err
				}
			}
		}
		// Every page of the UI is per-user or carries a form token.
		w.Header().Set("Cache-Control", "no-store")
		if rt.Perm == auth.PermPublic {
			q.csrf = u.preSessionCSRF(w, r)
		} else {
			if q.cur == nil {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/login", http.StatusSeeOther)
					return nil
				}
				return account.ErrNoSession
			}
			q.csrf = csrfToken(q.token)
			p := auth.Principal{User: true}
			if len(params) > 0 && params[0] == "workspaceId" {
				if err := u.loadActor(ctx, r, q); err != nil {
					return err
				}
				p.Role = q.actor.Role
			}
			if !auth.Authorize(p, rt.Perm) {
				return palisade.Errorf(palisade.CodeForbidden, "your role does not allow this")
			}
			if q.actor != nil && q.ws.RequireMFA && !q.cur.User.TOTPEnabled {
				return errMFARequired
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !validCSRF(r.PostFormValue(csrfField), q.csrf) {
				return errCSRF
			}
		}
		err := rt.Handle(w, r, q)
		var rl *account.RateLimitError
		if errors.As(err, &rl) {
			ratelimit.WriteHeaders(w.Header(), rl.Decision)
		}
		return err
	})
}

// loadActor checks that the signed-in user is a member of the path's
// workspace; a non-member sees the same 404 as for a workspace that does
// not exist.
func (u *UI) loadActor(ctx context.Context, r *http.Request, q *req) error {
	scope := palisade.ScopeFor(palisade.WorkspaceID(r.PathValue("workspaceId")))
	m, err := u.o.Store.GetMembership(ctx, scope, q.cur.User.ID)
	if err != nil {
		return err
	}
	ws, err := u.o.Store.GetWorkspace(ctx, scope)
	if err != nil {
		return err
	}
	q.ws = ws
	q.actor = &account.Actor{Current: *q.cur, Scope: scope, Role: m.Role}
	return nil
}

// ipKey is the rate-limit key of a client address.
func ipKey(a netip.Addr) string {
	if a.IsValid() {
		return ratelimit.IPKey(a)
	}
	return "unknown"
}

// caller is the signed-in member as the services see it, acting in the
// path's workspace.
func (q *req) caller() palisade.Caller {
	return palisade.Caller{Scope: q.actor.Scope, Actor: string(q.cur.User.ID), ClientIP: q.client.Addr, RequestID: q.client.RequestID}
}

// csrfToken derives a form token from a binding secret (the session token
// or the pre-session cookie): only someone who can read that HttpOnly
// cookie's value can compute it, and it changes whenever the session does.
func csrfToken(binding secret.Secret) string {
	if binding.IsZero() {
		return ""
	}
	h := sha256.Sum256([]byte("palisade csrf v1\x00" + binding.Reveal()))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func validCSRF(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// preSessionCSRF returns the form token for pages shown before sign-in,
// setting the pre-session cookie when the browser has none.
func (u *UI) preSessionCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(PreSessionCookie); err == nil {
		if tok, err := auth.ParseToken(c.Value); err == nil {
			return csrfToken(tok)
		}
	}
	if r.Method != http.MethodGet {
		return "" // a POST without the cookie fails the CSRF check
	}
	tok := auth.NewToken()
	http.SetCookie(w, &http.Cookie{Name: PreSessionCookie, Value: tok.Reveal(), Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 12 * 3600})
	return csrfToken(tok)
}

func (u *UI) setSession(w http.ResponseWriter, is account.Issued) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: is.Token.Reveal(), Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(account.DefaultAbsoluteTimeout.Seconds())})
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// page is what every template gets.
type page struct {
	Title  string
	CSRF   string
	User   *palisade.User
	WS     *wsView
	Error  string
	Field  string
	Notice string
	D      any
}

type wsView struct {
	ID   palisade.WorkspaceID
	Name string
	Role palisade.Role
	Can  map[string]bool
}

func (u *UI) newPage(q *req, title string, d any) page {
	p := page{Title: title, CSRF: q.csrf, D: d}
	if q.cur != nil {
		p.User = &q.cur.User
	}
	if q.actor != nil {
		can := map[string]bool{}
		for _, perm := range auth.RolePermissions(q.actor.Role) {
			can[string(perm)] = true
		}
		p.WS = &wsView{ID: q.ws.ID, Name: q.ws.Name, Role: q.actor.Role, Can: can}
	}
	return p
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("admin: no template %q", name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		return fmt.Errorf("admin: rendering %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write([]byte(b.String()))
	return err
}

// formError re-renders a form with a client error's public message; other
// errors go to WriteError.
func (u *UI) formError(w http.ResponseWriter, r *http.Request, name string, p page, err error) error {
	var pe *palisade.Error
	if !errors.As(err, &pe) || httpx.Status(pe.Code) >= 500 {
		return err
	}
	var rl *account.RateLimitError
	if errors.As(err, &rl) {
		ratelimit.WriteHeaders(w.Header(), rl.Decision)
	}
	p.Error, p.Field = palisade.ErrorMessage(err), pe.Field
	return u.render(w, r, httpx.Status(pe.Code), name, p)
}

func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
