// Package api is the public REST API under /api/v1 and the
// OpenAI-compatible endpoint under /v1 (openai.go): JSON only, bearer API
// keys only, no cookies, no CORS. routes.go and openai_routes.go list every
// route with the permission it needs; the router checks path ids, then the
// key, then the permission, before any handler runs.
//
// It must never trust a workspace id from a request: the scope comes from
// the authenticated key alone.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/idempotency"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
)

// Keys authenticates bearer API keys (*account.Service): the key's
// workspace, its scopes and its creator's current role, read on every
// request.
type Keys interface {
	AuthenticateAPIKey(ctx context.Context, key secret.Secret) (account.KeyPrincipal, error)
	// WorkspaceActive refuses a suspended workspace
	// (palisade.ErrWorkspaceSuspended).
	WorkspaceActive(ctx context.Context, scope palisade.Scope) error
}

var _ Keys = (*account.Service)(nil)

// Bots is the bot use cases the API offers (*bot.Service).
type Bots interface {
	List(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
	Page(ctx context.Context, scope palisade.Scope, p bot.PageParams) ([]palisade.Bot, error)
	Get(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	Create(ctx context.Context, c palisade.Caller, in bot.Input) (palisade.Bot, error)
	Update(ctx context.Context, c palisade.Caller, id palisade.BotID, in bot.Input) (palisade.Bot, error)
	Delete(ctx context.Context, c palisade.Caller, id palisade.BotID) error
	RotateGatewayToken(ctx context.Context, c palisade.Caller, id palisade.BotID) (palisade.Bot, error)
	Documents(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	DocumentsPage(ctx context.Context, scope palisade.Scope, bot palisade.BotID, p bot.DocumentPageParams) ([]palisade.Document, error)
	AddDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error)
	// AddDocumentFromURL fetches a page on one of the bot's allowed
	// domains and adds it.
	AddDocumentFromURL(ctx context.Context, c palisade.Caller, bot palisade.BotID, title, url string) (palisade.Document, error)
	Document(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.DocumentID) (palisade.Document, error)
	DeleteDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.DocumentID) error
	Budget(ctx context.Context, scope palisade.Scope, id palisade.BotID) (bot.Budget, error)
	SetBudget(ctx context.Context, c palisade.Caller, id palisade.BotID, tokens int64) (bot.Budget, error)
}

var _ Bots = (*bot.Service)(nil)

// Conversations answers a message sent to a bot, and lists, shows and
// deletes conversations (*conversation.Service).
type Conversations interface {
	Handle(ctx context.Context, scope palisade.Scope, in conversation.Inbound) (conversation.Reply, error)
	Continue(ctx context.Context, scope palisade.Scope, id palisade.ConversationID, text string, onDelta func(string) error) (conversation.Reply, error)
	Conversations(ctx context.Context, scope palisade.Scope, p conversation.ListParams) ([]palisade.Conversation, error)
	Conversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error)
	Transcript(ctx context.Context, scope palisade.Scope, id palisade.ConversationID, afterSeq int64, limit int) ([]palisade.Message, error)
	DeleteConversation(ctx context.Context, c palisade.Caller, id palisade.ConversationID) error
}

var _ Conversations = (*conversation.Service)(nil)

// KeyAdmin manages a workspace's API keys on behalf of a key
// (*account.Service): never wider than the key that asks.
type KeyAdmin interface {
	KeysFor(ctx context.Context, p account.KeyPrincipal) ([]account.APIKey, error)
	CreateKeyFor(ctx context.Context, p account.KeyPrincipal, in account.KeyRequest, c account.Client) (account.NewKey, error)
	RevokeKeyFor(ctx context.Context, p account.KeyPrincipal, id palisade.APIKeyID, c account.Client) error
}

var _ KeyAdmin = (*account.Service)(nil)

// ProviderKeys manages the provider keys a workspace brings
// (*gateway.ProviderKeys).
type ProviderKeys interface {
	Set(ctx context.Context, c palisade.Caller, provider string, key secret.Secret) (gateway.MaskedProviderKey, error)
	List(ctx context.Context, scope palisade.Scope) ([]gateway.MaskedProviderKey, error)
	Delete(ctx context.Context, c palisade.Caller, id gateway.ProviderKeyID) error
}

var _ ProviderKeys = (*gateway.ProviderKeys)(nil)

// AuditLog lists a workspace's audit chain (*audit.History).
type AuditLog interface {
	List(ctx context.Context, scope palisade.Scope, p audit.ListParams) ([]audit.Record, error)
}

var _ AuditLog = (*audit.History)(nil)

// Idempotency claims and settles Idempotency-Keys (*idempotency.Keeper).
type Idempotency interface {
	Claim(ctx context.Context, scope palisade.Scope, principal, key string, requestHash []byte) (idempotency.Record, bool, error)
	Complete(ctx context.Context, scope palisade.Scope, principal, key string, status int, response []byte) error
	Release(ctx context.Context, scope palisade.Scope, principal, key string) error
}

var _ Idempotency = (*idempotency.Keeper)(nil)

// Channels is the channel use cases the API offers (*channel.Service).
type Channels interface {
	List(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]channel.View, error)
	Get(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.ChannelID) (channel.View, error)
	Connect(ctx context.Context, c palisade.Caller, bot palisade.BotID, kind string, in channel.Credentials) (channel.View, error)
	Test(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (channel.TestResult, error)
	Disconnect(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) error
	RotateSecret(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (channel.View, error)
}

var _ Channels = (*channel.Service)(nil)

// API serves the public REST API. It is a thin translator between HTTP and
// the use-case services, which validate, store and audit.
type API struct {
	Keys          Keys
	Bots          Bots
	Conversations Conversations
	Channels      Channels
	// Events manages outgoing webhooks; nil answers their routes 404.
	Events Events
	// Billing shows the plan; nil (billing off) answers its route 404.
	Billing      Billing
	KeyAdmin     KeyAdmin
	ProviderKeys ProviderKeys
	Audit        AuditLog
	// Export streams the workspace's export; nil answers its route 404.
	Export Exports
	// Idempotency keeps the answers of creating requests sent with an
	// Idempotency-Key; nil leaves the header unused.
	Idempotency Idempotency
	// Limiter and Limits rate-limit each key per route class (R4); a nil
	// Limiter limits nothing (unit tests of handlers).
	Limiter ratelimit.Limiter
	Limits  ratelimit.Table
	// OnRateLimited, when set, is told of each request a limit refused,
	// by workspace and limit class, for the dashboard's refusal counts; it
	// must not block or write per call.
	OnRateLimited func(ws palisade.WorkspaceID, class string)
	// DocumentMaxBytes is the largest document file accepted
	// (knowledge.DefaultMaxFileBytes when zero); the edge must allow the
	// upload route UploadBodyLimits.
	DocumentMaxBytes int64
	// Proxies names the proxies whose X-Forwarded-For is believed, for
	// the client address the audit log records; nil believes none.
	Proxies *httpx.TrustedProxies
}

// Route is one API route and the permission it needs.
type Route struct {
	Method  string
	Pattern string // path pattern under the mux, e.g. /api/v1/bots/{botId}
	Perm    auth.Permission
	Handle  httpx.HandlerFunc
}

// Principal is who a request acts for: an API key, bounded by its scopes
// and its creator's current role.
type Principal = account.KeyPrincipal

// caller is the principal as the services see it: the key acts, in its
// workspace.
func caller(r *http.Request) palisade.Caller {
	p, _ := PrincipalFrom(r.Context())
	ip, _ := r.Context().Value(clientIPKey{}).(netip.Addr)
	return palisade.Caller{Scope: p.Scope, Actor: string(p.KeyID), ClientIP: ip, RequestID: httpx.RequestIDFrom(r.Context())}
}

// scope is the workspace the request acts in.
func scope(r *http.Request) palisade.Scope {
	p, _ := PrincipalFrom(r.Context())
	return p.Scope
}

type principalKey struct{}

// clientIPKey carries the client's address next to the principal, so the
// audit entries of what a key did say where it came from.
type clientIPKey struct{}

// withPrincipal is r acting for p from its client's address.
func (a *API) withPrincipal(r *http.Request, p Principal) *http.Request {
	ctx := context.WithValue(r.Context(), principalKey{}, p)
	return r.WithContext(context.WithValue(ctx, clientIPKey{}, a.Proxies.ClientIP(r)))
}

// PrincipalFrom returns the authenticated principal of a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Handler builds the API's mux from Routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, a.guard(rt))
	}
	return httpx.Mux(mux)
}

// guard runs, in order: path id validation (no query yet), key
// authentication, the permission check (the key's scopes and its
// creator's current role), the rate limit, then the handler.
func (a *API) guard(rt Route) http.Handler {
	params := palisade.PathWildcards(rt.Pattern)
	idempotent := Docs()[rt.Method+" "+rt.Pattern].Idempotent
	maxBody := httpx.DefaultMaxBody
	if rt.Method+" "+rt.Pattern == DocumentsRoute {
		maxBody = a.documentMaxBytes() + uploadOverhead
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range params {
			prefix, ok := palisade.PathParamPrefix(name)
			if !ok || !palisade.ValidID(prefix, r.PathValue(name)) {
				return palisade.ErrNotFound
			}
		}
		// API responses are per-key data: never cached anywhere.
		w.Header().Set("Cache-Control", "no-store")
		if rt.Perm == auth.PermPublic {
			return rt.Handle(w, r)
		}
		p, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="palisade"`)
			return err
		}
		if err := p.Authorize(rt.Perm); err != nil {
			return err
		}
		if err := a.limit(w, r, rt, p); err != nil {
			return err
		}
		if err := a.checkActive(r, rt.Method, p); err != nil {
			return err
		}
		r = a.withPrincipal(r, p)
		if idempotent {
			return a.idempotent(w, r, p, maxBody, rt.Handle)
		}
		return rt.Handle(w, r)
	})
}

// checkActive refuses every request but a read when the key's workspace is
// suspended: sending a message and changing anything alike. Reads stay
// open, so the workspace's own tools can still see and export its data.
func (a *API) checkActive(r *http.Request, method string, p Principal) error {
	if method == http.MethodGet || method == http.MethodHead {
		return nil
	}
	return a.Keys.WorkspaceActive(r.Context(), p.Scope)
}

// routeClass is the rate-limit class of a route: messages to a bot,
// documents added to a bot's knowledge, or a management read or write.
func routeClass(rt Route) ratelimit.Class {
	switch {
	case rt.Perm == auth.PermMessagesSend:
		return ratelimit.ClassAPIMessage
	case rt.Perm == auth.PermDocumentsWrite && rt.Method == http.MethodPost:
		return ratelimit.ClassIngest
	case rt.Method == http.MethodGet || rt.Method == http.MethodHead:
		return ratelimit.ClassMgmtRead
	}
	return ratelimit.ClassMgmtWrite
}

// limit applies the route's rate limit to the key, after authentication so
// one key's flood never spends another's quota.
func (a *API) limit(w http.ResponseWriter, r *http.Request, rt Route, p Principal) error {
	if a.Limiter == nil {
		return nil
	}
	policy, ok := a.Limits.Policy(routeClass(rt))
	if !ok {
		return nil
	}
	d, err := a.Limiter.Allow(r.Context(), policy, ratelimit.Key("key", string(p.KeyID)))
	if err != nil {
		return err
	}
	ratelimit.WriteHeaders(w.Header(), d)
	if !d.Allowed {
		if a.OnRateLimited != nil {
			a.OnRateLimited(p.Scope.Workspace(), policy.Name)
		}
		return palisade.Errorf(palisade.CodeRateLimited, "too many requests; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}

var errUnauthorized = palisade.Errorf(palisade.CodeUnauthorized, "a valid API key is required (Authorization: Bearer pal_…)")

// authenticate reads the bearer key and hands it to the account service,
// which checks its strict format before any lookup, then the key, its
// hash in constant time, revocation, expiry and its creator's membership.
func (a *API) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	const bearer = "Bearer "
	if len(h) <= len(bearer) || !strings.EqualFold(h[:len(bearer)], bearer) {
		return Principal{}, errUnauthorized
	}
	p, err := a.Keys.AuthenticateAPIKey(r.Context(), secret.New(strings.TrimSpace(h[len(bearer):])))
	if palisade.ErrorCode(err) == palisade.CodeUnauthorized {
		return Principal{}, errUnauthorized
	}
	if err == nil {
		// Every later log line of the request names the workspace.
		httpx.Annotate(r.Context(), slog.String("workspace_id", string(p.Scope.Workspace())))
	}
	return p, err
}
