// Package api is the public REST API under /api/v1 (and, later, the
// OpenAI-compatible endpoint): JSON only, bearer API keys only, no cookies,
// no CORS. routes.go lists every route with the permission it needs; the
// router checks path ids, then the key, then the permission, before any
// handler runs.
//
// It must never trust a workspace id from a request: the scope comes from
// the authenticated key alone.
package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
)

// Keys finds API keys by their public prefix and records their last use.
type Keys interface {
	LookupAPIKey(ctx context.Context, prefix string) (palisade.APIKey, error)
	TouchAPIKey(ctx context.Context, scope palisade.Scope, id palisade.APIKeyID, now time.Time) error
}

// Bots is the bot use cases the API offers (*bot.Service).
type Bots interface {
	List(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
	Get(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	Create(ctx context.Context, c palisade.Caller, in bot.Input) (palisade.Bot, error)
	Update(ctx context.Context, c palisade.Caller, id palisade.BotID, in bot.Input) (palisade.Bot, error)
	Delete(ctx context.Context, c palisade.Caller, id palisade.BotID) error
	RotateGatewayToken(ctx context.Context, c palisade.Caller, id palisade.BotID) (palisade.Bot, error)
	Documents(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	AddDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error)
}

// Conversations answers a message sent to a bot (*conversation.Service).
type Conversations interface {
	Handle(ctx context.Context, scope palisade.Scope, in conversation.Inbound) (conversation.Reply, error)
}

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
	Now           func() time.Time
	// Limiter and Limits rate-limit each key per route class (R4); a nil
	// Limiter limits nothing (unit tests of handlers).
	Limiter ratelimit.Limiter
	Limits  ratelimit.Table
}

// Route is one API route and the permission it needs.
type Route struct {
	Method  string
	Pattern string // path pattern under the mux, e.g. /api/v1/bots/{botId}
	Perm    auth.Permission
	Handle  httpx.HandlerFunc
}

// Principal is who a request acts for.
type Principal struct {
	Scope  palisade.Scope
	KeyID  palisade.APIKeyID
	Scopes []auth.Scope
}

// caller is the principal as the services see it: the key acts, in its
// workspace.
func caller(r *http.Request) palisade.Caller {
	p, _ := PrincipalFrom(r.Context())
	return palisade.Caller{Scope: p.Scope, Actor: string(p.KeyID), RequestID: httpx.RequestIDFrom(r.Context())}
}

// scope is the workspace the request acts in.
func scope(r *http.Request) palisade.Scope {
	p, _ := PrincipalFrom(r.Context())
	return p.Scope
}

type principalKey struct{}

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
// authentication, the permission check, then the handler.
func (a *API) guard(rt Route) http.Handler {
	params := palisade.PathWildcards(rt.Pattern)
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
		if !auth.ScopeAllows(p.Scopes, rt.Perm) {
			return palisade.Errorf(palisade.CodeForbidden, "this API key lacks the scope for %s", rt.Perm)
		}
		if err := a.limit(w, r, rt, p); err != nil {
			return err
		}
		return rt.Handle(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// routeClass is the rate-limit class of a route: messages to a bot, or a
// management read or write.
func routeClass(rt Route) ratelimit.Class {
	switch {
	case rt.Perm == auth.PermMessagesSend:
		return ratelimit.ClassAPIMessage
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
		return palisade.Errorf(palisade.CodeRateLimited, "too many requests; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}

var errUnauthorized = palisade.Errorf(palisade.CodeUnauthorized, "a valid API key is required (Authorization: Bearer pal_…)")

// authenticate checks the bearer key: strict format first (a malformed key
// never reaches a lookup), then the lookup by public prefix, then the hash
// in constant time, then revocation and expiry.
func (a *API) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	const bearer = "Bearer "
	if len(h) <= len(bearer) || !strings.EqualFold(h[:len(bearer)], bearer) {
		return Principal{}, errUnauthorized
	}
	raw := strings.TrimSpace(h[len(bearer):])
	prefix, err := auth.ParseAPIKey(raw)
	if err != nil {
		return Principal{}, errUnauthorized
	}
	key, err := a.Keys.LookupAPIKey(r.Context(), prefix)
	if err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return Principal{}, errUnauthorized
		}
		return Principal{}, err
	}
	now := a.Now()
	plaintext := secret.New(raw)
	if !auth.CheckAPIKey(plaintext, key.Hash) || !key.Usable(now) {
		return Principal{}, errUnauthorized
	}
	scopes, err := auth.ParseScopeList(key.Scopes)
	if err != nil {
		return Principal{}, errUnauthorized
	}
	scope := palisade.ScopeFor(key.WorkspaceID)
	// Last-used time is best effort and kept to the minute: a write on
	// every request would put one on the hot path, and a failure to record
	// it must not fail the request.
	if key.LastUsedAt == nil || now.Sub(*key.LastUsedAt) >= time.Minute {
		_ = a.Keys.TouchAPIKey(r.Context(), scope, key.ID, now)
	}
	return Principal{Scope: scope, KeyID: key.ID, Scopes: scopes}, nil
}
