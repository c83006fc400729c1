// Package gateway is the LLM gateway: the only component that holds
// provider API keys. Every call names a bot and carries that bot's gateway
// token; the gateway checks the token in constant time against the stored
// hash, enforces the model allowlist, the output ceiling, the cap on each
// inbound message and the bot's daily token budget, calls the provider and
// records usage. It runs in-process or, as `serve --role=gateway`, behind an
// HTTP endpoint where every call is also HMAC-signed (package gatewayhttp,
// which serves a Service to other processes and implements it for them).
//
// It must never return, log or put into an error a provider key, and never
// call a provider for a bot whose token did not verify.
package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Limits of R5.
const (
	MaxInboundChars  = 4000  // characters of the user's newest message
	MaxOutputCeiling = 4096  // output tokens, whatever a bot asks for
	MaxTurnChars     = 64000 // any one turn, passages included: a bound on cost
)

// Call is one request to the gateway on behalf of a bot.
type Call struct {
	BotID   palisade.BotID
	Token   secret.Secret // the bot's gateway token
	Request llm.Request
	// Inbound is the end user's own message when the last turn wraps it
	// with other data (retrieved passages); the 4,000-character cap applies
	// to it. Empty: the cap applies to the last turn itself.
	Inbound string
}

// Service is what callers use: the in-process Gateway and gatewayhttp's
// Client both implement it.
type Service interface {
	Complete(ctx context.Context, c Call) (llm.Response, error)
	Stream(ctx context.Context, c Call, onDelta func(string) error) (llm.Response, error)
}

var _ Service = (*Gateway)(nil)

// Store is what the gateway reads and writes.
type Store interface {
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	AddUsage(ctx context.Context, scope palisade.Scope, p store.AddUsageParams) error
	UsageOn(ctx context.Context, scope palisade.Scope, bot palisade.BotID, day time.Time) (store.DailyUsage, error)
}

// Gateway is the in-process gateway.
type Gateway struct {
	store     Store
	providers map[string]llm.Provider // model → provider
	allowed   []string
	now       func() time.Time
	logger    *slog.Logger
	observe   func(Observation)
}

// Observation is one finished call, for metrics.
type Observation struct {
	Model     string
	Outcome   string // ok, refused, provider_error
	Latency   time.Duration
	TokensIn  int
	TokensOut int
}

// Options configure a Gateway.
type Options struct {
	Store Store
	// Providers maps each allowed model to the provider serving it. The
	// allowlist is exactly these models.
	Providers map[string]llm.Provider
	Now       func() time.Time
	Logger    *slog.Logger
	Observe   func(Observation) // optional
}

// New builds a gateway.
func New(o Options) *Gateway {
	g := &Gateway{store: o.Store, providers: o.Providers, now: o.Now, logger: o.Logger, observe: o.Observe}
	if g.now == nil {
		g.now = time.Now
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	for m := range o.Providers {
		g.allowed = append(g.allowed, m)
	}
	slices.Sort(g.allowed)
	return g
}

// Models is the allowlist.
func (g *Gateway) Models() []string { return slices.Clone(g.allowed) }

// HasProvider reports whether any provider is configured at all; without one
// bots answer in retrieval-only mode.
func (g *Gateway) HasProvider() bool { return len(g.providers) > 0 }

// Errors of the gateway, all public-safe.
var (
	ErrUnauthorized = palisade.Errorf(palisade.CodeUnauthorized, "the gateway token is not valid for this bot")
	ErrModel        = palisade.Errorf(palisade.CodeForbidden, "the model is not on the allowlist")
	ErrTooLong      = palisade.FieldError("message", "the message is longer than %d characters", MaxInboundChars)
	ErrBudget       = palisade.Errorf(palisade.CodeRateLimited, "the bot's daily token budget is spent; it resets at 00:00 UTC")
	ErrProvider     = palisade.Errorf(palisade.CodeUnavailable, "the language model is unavailable; try again later")
)

// HashToken is how gateway tokens are stored.
func HashToken(tok secret.Secret) []byte {
	h := sha256.Sum256([]byte(tok.Reveal()))
	return h[:]
}

// admit runs every check before a provider is called, and returns the
// bot's scope and the request as it will be sent.
func (g *Gateway) admit(ctx context.Context, c Call) (palisade.Scope, llm.Request, llm.Provider, error) {
	req := c.Request
	// The token is checked first, and every way it can fail looks the same:
	// a malformed id, an unknown bot and a wrong token all read as
	// unauthorized, so the gateway tells an attacker nothing.
	if !palisade.ValidID(palisade.PrefixBot, string(c.BotID)) || c.Token.IsZero() {
		return palisade.Scope{}, req, nil, ErrUnauthorized
	}
	presented := HashToken(c.Token)
	ws, err := g.store.LookupBotWorkspace(ctx, c.BotID)
	if err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return palisade.Scope{}, req, nil, ErrUnauthorized
		}
		return palisade.Scope{}, req, nil, fmt.Errorf("gateway: looking up bot: %w", err)
	}
	scope := palisade.ScopeFor(ws)
	bot, err := g.store.GetBot(ctx, scope, c.BotID)
	if err != nil {
		return scope, req, nil, fmt.Errorf("gateway: reading bot: %w", err)
	}
	if len(bot.GatewayTokenHash) != sha256.Size || subtle.ConstantTimeCompare(presented, bot.GatewayTokenHash) != 1 {
		return scope, req, nil, ErrUnauthorized
	}
	p, ok := g.providers[req.Model]
	if !ok {
		return scope, req, nil, ErrModel
	}
	// The workspace's own allowlist narrows the operator's.
	workspace, err := g.store.GetWorkspace(ctx, scope)
	if err != nil {
		return scope, req, nil, fmt.Errorf("gateway: reading workspace: %w", err)
	}
	if !workspace.AllowsModel(req.Model) {
		return scope, req, nil, ErrModel
	}
	inbound := c.Inbound
	if n := len(req.Messages); inbound == "" && n > 0 {
		inbound = req.Messages[n-1].Content
	}
	if utf8.RuneCountInString(inbound) > MaxInboundChars {
		return scope, req, nil, ErrTooLong
	}
	for _, m := range req.Messages {
		if utf8.RuneCountInString(m.Content) > MaxTurnChars {
			return scope, req, nil, palisade.FieldError("messages", "a turn is longer than %d characters", MaxTurnChars)
		}
	}
	ceiling := MaxOutputCeiling
	if bot.MaxOutputTokens > 0 && bot.MaxOutputTokens < ceiling {
		ceiling = bot.MaxOutputTokens
	}
	if req.MaxTokens <= 0 || req.MaxTokens > ceiling {
		req.MaxTokens = ceiling
	}
	if bot.DailyTokenBudget > 0 {
		u, err := g.store.UsageOn(ctx, scope, bot.ID, g.now())
		if err != nil {
			return scope, req, nil, fmt.Errorf("gateway: reading usage: %w", err)
		}
		if u.TokensIn+u.TokensOut >= bot.DailyTokenBudget {
			return scope, req, nil, ErrBudget
		}
	}
	if err := req.Validate(); err != nil {
		return scope, req, nil, palisade.WrapError(err, palisade.CodeInvalid, "the request is not valid")
	}
	return scope, req, p, nil
}

// Complete answers a call in one piece.
func (g *Gateway) Complete(ctx context.Context, c Call) (llm.Response, error) {
	return g.call(ctx, c, func(p llm.Provider, req llm.Request) (llm.Response, error) { return p.Complete(ctx, req) })
}

// Stream answers a call piece by piece.
func (g *Gateway) Stream(ctx context.Context, c Call, onDelta func(string) error) (llm.Response, error) {
	return g.call(ctx, c, func(p llm.Provider, req llm.Request) (llm.Response, error) { return p.Stream(ctx, req, onDelta) })
}

func (g *Gateway) call(ctx context.Context, c Call, do func(llm.Provider, llm.Request) (llm.Response, error)) (llm.Response, error) {
	scope, req, p, err := g.admit(ctx, c)
	if err != nil {
		g.note(Observation{Model: c.Request.Model, Outcome: "refused"})
		return llm.Response{}, err
	}
	start := g.now()
	resp, err := do(p, req)
	lat := g.now().Sub(start)
	failed := err != nil
	if uerr := g.store.AddUsage(ctx, scope, store.AddUsageParams{BotID: c.BotID, Day: start, TokensIn: int64(resp.Usage.InputTokens),
		TokensOut: int64(resp.Usage.OutputTokens), Latency: lat, Failed: failed}); uerr != nil {
		g.logger.ErrorContext(ctx, "gateway could not record usage", "bot", string(c.BotID), "err", uerr)
	}
	obs := Observation{Model: req.Model, Outcome: "ok", Latency: lat, TokensIn: resp.Usage.InputTokens, TokensOut: resp.Usage.OutputTokens}
	if failed {
		obs.Outcome = "provider_error"
		g.note(obs)
		// llm errors carry no key, but their provider text is still not
		// for end users: log it, answer with the generic message.
		g.logger.WarnContext(ctx, "provider call failed", "bot", string(c.BotID), "model", req.Model, "err", err)
		var le *llm.Error
		if errors.As(err, &le) && le.Type == llm.TypeInvalidRequest {
			return llm.Response{}, palisade.WrapError(err, palisade.CodeInvalid, "the request is not valid")
		}
		return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
	}
	g.note(obs)
	return resp, nil
}

func (g *Gateway) note(o Observation) {
	if g.observe != nil {
		g.observe(o)
	}
}
