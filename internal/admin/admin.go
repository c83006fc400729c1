// Package admin is the admin web UI: server-rendered html/template pages on
// their own mux, usable without JavaScript, for signing in, accounts,
// sessions, two-factor authentication, members, invitations, API keys,
// bots with their knowledge documents, chat channels and a preview chat,
// the workspace's home, conversations, dashboard and audit log.
// routes.go lists every route with the permission it needs; the router
// checks path parameters, the session, the workspace role and the CSRF
// token before any handler runs, behind Go's http.CrossOriginProtection.
//
// Handlers are thin: they read forms, call the account, bot, conversation
// and audit services through the narrow interfaces in Options (the UI never holds
// the store), and render one view struct per page (view.go), so a
// template naming a field or permission that does not exist fails when it
// runs instead of rendering nothing.
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
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
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
	// DeviceCookie marks a browser that has signed in before (a known
	// device, see account.DeviceTTL). It outlives the session and log-out:
	// it grants nothing by itself, it only lets this browser's correct
	// password through while failures from elsewhere hold the account's
	// log-in limit.
	DeviceCookie = "__Host-palisade_device"
	csrfField    = "csrf"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the UI. The UI reaches data only through these
// services: it never holds the store.
type Options struct {
	// Account is the account use cases behind signing in, the user's own
	// account and the workspace's members, keys and settings.
	Account Accounts
	// Bots is the bot use cases behind the bot and document pages.
	Bots Bots
	// Audit lists the workspace's audit log.
	Audit AuditLog
	// Limiter and Limits apply the management limits of SPEC R4 to each
	// signed-in user on the workspace pages (ClassMgmtRead for GET,
	// ClassMgmtWrite for POST), as the API does per key. Limiter is
	// required; nil Limits means ratelimit.Defaults().
	Limiter ratelimit.Limiter
	Limits  ratelimit.Table
	// OnRateLimited, when set, is told of each workspace page or action a
	// limit refused, by workspace and limit class; it must not block or
	// write per call.
	OnRateLimited func(ws palisade.WorkspaceID, class string)
	// Channels is the channel use cases behind a bot's channels page; nil
	// when the server runs no chat channel (the page says so).
	Channels Channels
	// Chats is the conversation use cases behind the preview chat; nil
	// answers its routes 404 and the pages offer none.
	Chats Chats
	// Activity reads the workspace's traffic for the dashboard; nil
	// answers its route 404 and the navigation leaves it out.
	Activity Activity
	// Export writes workspace and account exports; nil answers their
	// routes 404 and the pages offer none.
	Export  Exports
	Proxies *httpx.TrustedProxies
	Logger  *slog.Logger
}

// Accounts is the account use cases the UI offers (*account.Service).
type Accounts interface {
	// Before sign-in: log-in and its second factor, sign-up, the first
	// owner's set-up, invitations, password reset, e-mail verification.
	SignupOpen() bool
	// SetupPending: no account exists yet, so a set-up link may still
	// work; MailToConsole: account e-mails go to the server's output.
	SetupPending(ctx context.Context) (bool, error)
	MailToConsole() bool
	Authenticate(ctx context.Context, token secret.Secret) (account.Current, error)
	Login(ctx context.Context, email, password string, previous secret.Secret, c account.Client) (account.Issued, error)
	CompleteMFA(ctx context.Context, pending account.Current, code string, c account.Client) (account.Issued, error)
	Logout(ctx context.Context, cur account.Current, c account.Client) error
	Signup(ctx context.Context, n account.NewAccount, c account.Client) error
	SetupOwner(ctx context.Context, token secret.Secret, n account.NewAccount, c account.Client) (account.Issued, error)
	Invitation(ctx context.Context, token secret.Secret) (palisade.Invitation, palisade.Workspace, error)
	AcceptInvitation(ctx context.Context, token secret.Secret, cur account.Current, c account.Client) (palisade.Membership, error)
	AcceptInvitationNewAccount(ctx context.Context, token secret.Secret, name, password string, c account.Client) (account.Issued, error)
	RequestReset(ctx context.Context, email string, c account.Client) error
	ResetPassword(ctx context.Context, token secret.Secret, pw string, c account.Client) error
	VerifyEmail(ctx context.Context, token secret.Secret, c account.Client) error

	// The signed-in user's own account: workspaces, password, sessions,
	// two-factor authentication.
	Workspaces(ctx context.Context, cur account.Current) ([]account.UserWorkspace, error)
	ChangePassword(ctx context.Context, cur account.Current, current, next string, c account.Client) (account.Issued, error)
	ResendVerification(ctx context.Context, cur account.Current, c account.Client) error
	Sessions(ctx context.Context, cur account.Current) ([]palisade.Session, error)
	RevokeSession(ctx context.Context, cur account.Current, id palisade.SessionID, c account.Client) error
	PendingTOTP(ctx context.Context, cur account.Current) (account.Enrolment, bool, error)
	BeginTOTP(ctx context.Context, cur account.Current) (account.Enrolment, error)
	ConfirmTOTP(ctx context.Context, cur account.Current, code string, c account.Client) ([]secret.Secret, account.Issued, error)
	DisableTOTP(ctx context.Context, cur account.Current, password, code string, c account.Client) error
	RegenerateRecoveryCodes(ctx context.Context, cur account.Current, code string, c account.Client) ([]secret.Secret, error)

	// A workspace, entered as a checked member: its members, invitations,
	// API keys and security settings.
	EnterWorkspace(ctx context.Context, cur account.Current, ws palisade.WorkspaceID) (account.Actor, palisade.Workspace, error)
	Members(ctx context.Context, a account.Actor) ([]account.Member, error)
	Invitations(ctx context.Context, a account.Actor) ([]palisade.Invitation, error)
	Invite(ctx context.Context, a account.Actor, email string, role palisade.Role, c account.Client) (palisade.Invitation, error)
	ChangeRole(ctx context.Context, a account.Actor, id palisade.MembershipID, role palisade.Role, c account.Client) (palisade.Membership, error)
	RemoveMember(ctx context.Context, a account.Actor, id palisade.MembershipID, c account.Client) error
	RevokeInvitation(ctx context.Context, a account.Actor, id palisade.InvitationID, c account.Client) error
	APIKeys(ctx context.Context, a account.Actor) ([]account.APIKey, error)
	CreateAPIKey(ctx context.Context, a account.Actor, name string, scopes []string, days int, c account.Client) (account.NewKey, error)
	RevokeAPIKey(ctx context.Context, a account.Actor, id palisade.APIKeyID, c account.Client) error
	SetRequireMFA(ctx context.Context, a account.Actor, require bool, c account.Client) error
	// Deleting a workspace (its owner, typing its name) or one's own
	// account (with the password), for good.
	DeleteWorkspace(ctx context.Context, a account.Actor, confirm string, c account.Client) error
	DeleteAccount(ctx context.Context, cur account.Current, password string, c account.Client) error
	SoleWorkspaces(ctx context.Context, cur account.Current) ([]string, error)
	// Now is the service's clock, for key expiry.
	Now() time.Time
}

var _ Accounts = (*account.Service)(nil)

// AuditLog is the read side of the audit log the UI shows
// (*audit.History).
type AuditLog interface {
	List(ctx context.Context, scope palisade.Scope, p audit.ListParams) ([]audit.Record, error)
}

var _ AuditLog = (*audit.History)(nil)

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
	SetRetention(ctx context.Context, c palisade.Caller, days int) error
	Documents(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	AddDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error)
	DeleteDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.DocumentID) error
}

var _ Bots = (*bot.Service)(nil)

// UI is the admin web UI.
type UI struct {
	o     Options
	pages map[string]*template.Template
}

// New parses the templates and returns the UI.
func New(o Options) (*UI, error) {
	if o.Account == nil || o.Bots == nil || o.Audit == nil || o.Limiter == nil {
		return nil, errors.New("admin: Account, Bots, Audit and Limiter are required")
	}
	if o.Limits == nil {
		o.Limits = ratelimit.Defaults()
	}
	for _, c := range []ratelimit.Class{ratelimit.ClassMgmtRead, ratelimit.ClassMgmtWrite, ratelimit.ClassIngest} {
		if _, ok := o.Limits.Policy(c); !ok {
			return nil, fmt.Errorf("admin: no rate-limit policy for %s", c)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &UI{o: o, pages: pages}, nil
}

// parseTemplates parses each page's template with the layout, keyed by
// its file name without .html.
func parseTemplates() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("admin: parsing layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("admin: parsing %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Handler is the UI's whole handler, to mount at "/": cross-origin
// protection, the HTML error format, then the routes.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, u.guard(rt))
	}
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	// A directory is never served: the file server would list it.
	mux.Handle("GET /static/", httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasSuffix(r.URL.Path, "/") {
			return palisade.ErrNotFound
		}
		files.ServeHTTP(w, r)
		return nil
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, errCrossOrigin)
	}))
	return httpx.UseErrorFormat(httpx.FormatHTML)(cop.Handler(httpx.Mux(mux)))
}

var (
	errCrossOrigin = palisade.Errorf(palisade.CodeForbidden, "cross-origin request refused")
	errCSRF        = palisade.Errorf(palisade.CodeForbidden, "the form has expired or did not come from this site; reload the page and try again")
	// errInsecure replaces errCSRF when the form could not have worked:
	// the browser refused the form's cookie because the page is not
	// HTTPS, and reloading would not change that.
	errInsecure    = palisade.Errorf(palisade.CodeForbidden, insecureMessage)
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
	// insecure: the page came over plain HTTP to a host browsers do not
	// treat as a secure context, so they drop every cookie the UI sets.
	insecure bool
	// path is the request's path, for the navigation; done names the
	// flash message of the action that redirected here (view.go).
	path, done string
	// dashboard: the server offers the dashboard (for the navigation).
	dashboard bool
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
// token on POST, the management limit on workspace routes, then the
// handler.
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
		q := &req{client: account.Client{IP: ipKey(addr), Addr: addr, UserAgent: r.UserAgent(), RequestID: httpx.RequestIDFrom(ctx)},
			insecure: r.TLS == nil && !u.o.Proxies.ForwardedTLS(r) && !secureContextHost(r.Host) && !claimsHTTPS(r),
			path:     r.URL.Path, done: r.URL.Query().Get("done"), dashboard: u.o.Activity != nil}
		if c, err := r.Cookie(DeviceCookie); err == nil {
			if tok, err := auth.ParseToken(c.Value); err == nil {
				q.client.Device = tok
			}
		}
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
				// A non-member sees the same 404 as for a workspace
				// that does not exist.
				a, ws, err := u.o.Account.EnterWorkspace(ctx, *q.cur, palisade.WorkspaceID(r.PathValue("workspaceId")))
				if err != nil {
					return err
				}
				q.actor, q.ws = &a, ws
				httpx.Annotate(ctx, slog.String("workspace_id", string(ws.ID)))
				p.Role = a.Role
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
				if q.insecure {
					return errInsecure
				}
				return errCSRF
			}
		}
		if q.actor != nil {
			if err := u.limit(w, r, q, rt); err != nil {
				return err
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

// limit applies the management limits to the signed-in user on a
// workspace route: every page and action under /w/{workspaceId} reads or
// changes the workspace's bots, documents, members, keys, settings or
// audit log. A GET is a read, adding documents is ingestion, anything
// else a write. It runs after the
// CSRF check, so a forged request spends no one's quota, and counts per
// user across workspaces, as the API counts per key.
func (u *UI) limit(w http.ResponseWriter, r *http.Request, q *req, rt Route) error {
	class := ratelimit.ClassMgmtWrite
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		class = ratelimit.ClassMgmtRead
	case rt.Perm == auth.PermDocumentsWrite && strings.HasSuffix(rt.Pattern, "/documents"):
		// Adding documents is ingestion, with its own budget; deleting
		// one (…/documents/{documentId}/delete) stays a management write.
		class = ratelimit.ClassIngest
	}
	policy, _ := u.o.Limits.Policy(class) // checked in New
	d, err := u.o.Limiter.Allow(r.Context(), policy, ratelimit.Key("user", string(q.cur.User.ID)))
	if err != nil {
		return err
	}
	ratelimit.WriteHeaders(w.Header(), d)
	if !d.Allowed {
		if u.o.OnRateLimited != nil {
			u.o.OnRateLimited(q.actor.Scope.Workspace(), policy.Name)
		}
		return palisade.Errorf(palisade.CodeRateLimited, "too many requests; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}

const insecureMessage = "This page was opened over plain HTTP, so your browser refuses the sign-in cookies, which are marked Secure to keep them off the network. " +
	"Open it over HTTPS, or on this machine as http://localhost, to sign in."

// claimsHTTPS reports whether anything in the request says the browser
// used HTTPS: a proxy's X-Forwarded-Proto or Forwarded header (trusted or
// not), or the page's own Origin or Referer. It only decides whether to
// show the plain-HTTP explanation, and grants nothing, so an untrusted
// claim may be believed: a proxy terminating TLS that the operator did not
// list under --trusted-proxies must not make every page say HTTPS is
// missing.
func claimsHTTPS(r *http.Request) bool {
	for _, v := range r.Header.Values("X-Forwarded-Proto") {
		if strings.Contains(strings.ToLower(v), "https") {
			return true
		}
	}
	for _, v := range r.Header.Values("Forwarded") {
		if strings.Contains(strings.ToLower(v), "proto=https") {
			return true
		}
	}
	return strings.HasPrefix(r.Header.Get("Origin"), "https://") || strings.HasPrefix(r.Header.Get("Referer"), "https://")
}

// secureContextHost reports whether browsers treat plain HTTP to host as a
// secure context, where they keep Secure cookies: localhost and loopback
// addresses.
func secureContextHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
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
	if !is.Device.IsZero() {
		http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: is.Device.Reveal(), Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, MaxAge: int(account.DeviceTTL.Seconds())})
	}
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
