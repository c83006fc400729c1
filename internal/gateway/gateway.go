// Package gateway is the LLM gateway: the only component that holds
// provider API keys. Every call names a bot and carries that bot's gateway
// token and the turn's parts (history, the user's message, retrieved
// passages); the gateway checks the token in constant time against the
// stored hash, takes the system prompt, model, temperature and output cap
// from the stored bot, lays the prompt out itself with the data delimited,
// enforces the model allowlist, the output ceiling, the caps on each user
// message and on the whole call, reserves the call's worst case from the
// bot's daily token budget, calls the provider and settles the reservation
// with the real usage. It runs in-process or, as `serve --role=gateway`,
// behind an HTTP endpoint where every call is also HMAC-signed (package
// gatewayhttp, which serves a Service to other processes and implements it
// for them); the nonces of those calls are kept here (Nonces), where every
// gateway process sees them.
//
// It must never return, log or put into an error a provider key, never
// call a provider for a bot whose token did not verify, never let a caller
// choose a bot's system prompt, model, temperature or output cap, and never
// call a provider before the call's budget is reserved.
package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Limits of R5. Every one is checked on what the gateway itself will send,
// whatever the caller says about it.
const (
	MaxInboundChars  = 4000  // characters of each of the end user's messages, the new one and every earlier one
	MaxOutputCeiling = 4096  // output tokens, whatever a bot asks for
	MaxTurnChars     = 32000 // characters of an earlier assistant turn
	MaxHistoryTurns  = 100   // earlier turns in one call
	MaxPassages      = 16    // retrieved passages in one call
	MaxPassageChars  = 8000  // characters of one passage
	MaxSourceChars   = 200   // characters of a passage's source title
	// MaxCallChars bounds every message of a call as it is sent (history,
	// passages and the user's message together): a bound on cost.
	MaxCallChars = 64000
	// MinOutputTokens is the least output a call under a daily budget goes
	// ahead with; below it, the budget reads as spent.
	MinOutputTokens = 256
	// ReservationTTL is how long budget set aside for a call counts if the
	// call never settles (its process died): well past a provider call's
	// own time-out.
	ReservationTTL = 10 * time.Minute
	settleTimeout  = 10 * time.Second
)

// Call is one request to the gateway on behalf of a bot. It carries the
// turn's parts, not a provider request: the gateway takes the system
// prompt, model, temperature and output cap from the stored bot, and lays
// the parts out itself (BuildPrompt), so a caller can neither override the
// bot's settings nor hide the user's message among other text.
type Call struct {
	BotID palisade.BotID
	Token secret.Secret // the bot's gateway token
	// History is the earlier turns of the conversation, oldest first, each
	// llm.RoleUser (capped at MaxInboundChars) or llm.RoleAssistant.
	History []llm.Message
	// Message is the end user's new message, capped at MaxInboundChars.
	Message string
	// Passages are retrieved passages, handed to the model as delimited
	// data beside the message, never as instructions.
	Passages []Passage
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
	ReserveUsage(ctx context.Context, scope palisade.Scope, p store.ReserveUsageParams) (store.Reservation, error)
	AddUsage(ctx context.Context, scope palisade.Scope, p store.AddUsageParams) error
	ListProviderKeys(ctx context.Context, scope palisade.Scope) ([]store.ProviderKey, error)
	GetProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID) (store.ProviderKey, error)
}

// Gateway is the in-process gateway.
type Gateway struct {
	store     Store
	providers map[string]llm.Provider // model → provider
	allowed   []string
	now       func() time.Time
	logger    *slog.Logger
	observe   func(Observation)
	kinds     map[string]string
	own       map[string]func(key secret.Secret) (llm.Provider, error)
	// policies caches each bot's stored settings and its workspace's, by
	// bot id; nil without Options.Invalidation.
	policies *invalidate.Cache[policy]
}

// policy is what a call is checked against: the bot (its token hash,
// model, caps, budget) and its workspace (status, models).
type policy struct {
	scope     palisade.Scope
	bot       palisade.Bot
	workspace palisade.Workspace
}

// policy returns the bot's policy, from memory when it is cached. The token
// is checked against it by the caller on every call, cached or not.
func (g *Gateway) policy(ctx context.Context, id palisade.BotID) (policy, error) {
	var ticket invalidate.Ticket
	if g.policies != nil {
		if p, ok := g.policies.Get(string(id)); ok {
			return p, nil
		}
		ticket = g.policies.Begin()
	}
	ws, err := g.store.LookupBotWorkspace(ctx, id)
	if err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return policy{}, ErrUnauthorized
		}
		return policy{}, fmt.Errorf("gateway: looking up bot: %w", err)
	}
	p := policy{scope: palisade.ScopeFor(ws)}
	if p.bot, err = g.store.GetBot(ctx, p.scope, id); err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return policy{}, ErrUnauthorized
		}
		return policy{}, fmt.Errorf("gateway: reading bot: %w", err)
	}
	if p.workspace, err = g.store.GetWorkspace(ctx, p.scope); err != nil {
		return policy{}, fmt.Errorf("gateway: reading workspace: %w", err)
	}
	if g.policies != nil {
		g.policies.Put(ticket, string(id), string(ws), p)
	}
	return p, nil
}

// Observation is one finished call, for metrics.
type Observation struct {
	// Provider is the kind of the model's provider (llm.Kinds); empty
	// for a refused call.
	Provider  string
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
	// Kinds maps each allowed model to the kind of its provider
	// (llm.Kinds), and OwnProviders builds a provider of each kind, at the
	// operator's base URL and behind the same egress client, with a key a
	// workspace brings. A workspace's own key of a model's kind pays for
	// its bots' calls on that model instead of the operator's key; the
	// operator's allowlist, caps and the bots' budgets apply all the same.
	// A model without a kind, or a kind without a builder, is always
	// served with the operator's key.
	Kinds        map[string]string
	OwnProviders map[string]func(key secret.Secret) (llm.Provider, error)
	// Invalidation, when set, lets each bot's policy be cached in process
	// memory until a change to the bot or its workspace is announced on
	// it (by the bot service, or the CLI for a suspension), or the
	// cache's short time-to-live passes. Nil reads the store on every
	// call.
	Invalidation *invalidate.Hub
}

// New builds a gateway.
func New(o Options) *Gateway {
	g := &Gateway{store: o.Store, providers: o.Providers, now: o.Now, logger: o.Logger, observe: o.Observe, kinds: o.Kinds, own: o.OwnProviders}
	if g.now == nil {
		g.now = time.Now
	}
	if o.Invalidation != nil {
		g.policies = invalidate.NewCache[policy](invalidate.CacheOptions{Now: g.now})
		o.Invalidation.Add(g.policies)
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
	ErrCallTooLarge = palisade.Errorf(palisade.CodeTooLarge, "the call is longer than %d characters in all", MaxCallChars)
	ErrBudget       = palisade.Errorf(palisade.CodeRateLimited, "the bot's daily token budget is spent; it resets at 00:00 UTC")
	ErrProvider     = palisade.Errorf(palisade.CodeUnavailable, "the language model is unavailable; try again later")
)

// HashToken is how gateway tokens are stored.
func HashToken(tok secret.Secret) []byte {
	h := sha256.Sum256([]byte(tok.Reveal()))
	return h[:]
}

// admitted is a call that passed every check: the request as it will be
// sent and the budget set aside for it.
type admitted struct {
	scope       palisade.Scope
	req         llm.Request
	provider    llm.Provider
	day         time.Time // the UTC day the call is charged to
	reservation string
}

// admit runs every check before a provider is called, builds the request
// from the stored bot and the call's parts, and reserves its budget.
func (g *Gateway) admit(ctx context.Context, c Call) (admitted, error) {
	// The token is checked first, and every way it can fail looks the same:
	// a malformed id, an unknown bot and a wrong token all read as
	// unauthorized, so the gateway tells an attacker nothing.
	if !palisade.ValidID(palisade.PrefixBot, string(c.BotID)) || c.Token.IsZero() {
		return admitted{}, ErrUnauthorized
	}
	presented := HashToken(c.Token)
	pol, err := g.policy(ctx, c.BotID)
	if err != nil {
		return admitted{}, err
	}
	a := admitted{scope: pol.scope}
	bot, workspace := pol.bot, pol.workspace
	if len(bot.GatewayTokenHash) != sha256.Size || subtle.ConstantTimeCompare(presented, bot.GatewayTokenHash) != 1 {
		return admitted{}, ErrUnauthorized
	}
	// The model is the bot's, on the operator's allowlist and the
	// workspace's own, which narrows it.
	p, ok := g.providers[bot.Model]
	if !ok {
		return admitted{}, g.refuseModel(bot.Model)
	}
	// The services refuse a suspended workspace's messages before they get
	// here; the gateway checks again, so a valid bot token alone cannot
	// spend the provider's money for a workspace the operator stopped.
	if err := workspace.CheckActive(); err != nil {
		return admitted{}, err
	}
	if !workspace.AllowsModel(bot.Model) {
		return admitted{}, ErrModel
	}
	if a.provider, err = g.workspaceProvider(ctx, a.scope, bot.Model, p); err != nil {
		return admitted{}, err
	}
	if err := checkParts(c); err != nil {
		return admitted{}, err
	}
	system, messages := BuildPrompt(bot.SystemPrompt, c.History, c.Message, c.Passages)
	total := 0
	for _, m := range messages {
		total += utf8.RuneCountInString(m.Content)
	}
	if total > MaxCallChars {
		return admitted{}, ErrCallTooLarge
	}
	ceiling := MaxOutputCeiling
	if bot.MaxOutputTokens > 0 && bot.MaxOutputTokens < ceiling {
		ceiling = bot.MaxOutputTokens
	}
	temperature := bot.Temperature
	a.req = llm.Request{Model: bot.Model, System: system, Messages: messages, MaxTokens: ceiling, Temperature: &temperature}
	if err := a.req.Validate(); err != nil {
		return admitted{}, palisade.WrapError(err, palisade.CodeInvalid, "the request is not valid")
	}
	a.day = g.now()
	if bot.DailyTokenBudget > 0 {
		// Set the call's worst case aside before the provider sees it: its
		// input, bounded from above, and its output cap, lowered to what
		// the budget has left. Concurrent calls, in this process or
		// another, cannot all pass and overspend together.
		in := estimateInputTokens(a.req)
		r, err := g.store.ReserveUsage(ctx, a.scope, store.ReserveUsageParams{BotID: bot.ID, Day: a.day, Budget: bot.DailyTokenBudget,
			Tokens: in + int64(ceiling), Min: in + int64(min(ceiling, MinOutputTokens)), Now: a.day, ExpiresAt: a.day.Add(ReservationTTL)})
		if err != nil {
			return admitted{}, fmt.Errorf("gateway: reserving budget: %w", err)
		}
		if r.Tokens == 0 {
			return admitted{}, ErrBudget
		}
		a.req.MaxTokens = int(r.Tokens - in)
		a.reservation = r.ID
	}
	return a, nil
}

// checkParts enforces the caps on what the caller sent: the user's
// message, every earlier turn by its role, and the passages.
func checkParts(c Call) error {
	if strings.TrimSpace(c.Message) == "" {
		return palisade.FieldError("message", "message must not be empty")
	}
	if utf8.RuneCountInString(c.Message) > MaxInboundChars {
		return ErrTooLong
	}
	if len(c.History) > MaxHistoryTurns {
		return palisade.FieldError("history", "the history has more than %d turns", MaxHistoryTurns)
	}
	for _, m := range c.History {
		n := utf8.RuneCountInString(m.Content)
		switch {
		case m.Role == llm.RoleUser && n > MaxInboundChars:
			return palisade.FieldError("history", "an earlier message is longer than %d characters", MaxInboundChars)
		case m.Role == llm.RoleAssistant && n > MaxTurnChars:
			return palisade.FieldError("history", "an earlier answer is longer than %d characters", MaxTurnChars)
		case m.Role != llm.RoleUser && m.Role != llm.RoleAssistant:
			return palisade.FieldError("history", "a turn's role must be user or assistant")
		}
	}
	if len(c.Passages) > MaxPassages {
		return palisade.FieldError("passages", "more than %d passages", MaxPassages)
	}
	for _, p := range c.Passages {
		if utf8.RuneCountInString(p.Text) > MaxPassageChars || utf8.RuneCountInString(p.Source) > MaxSourceChars {
			return palisade.FieldError("passages", "a passage is longer than %d characters or its source than %d", MaxPassageChars, MaxSourceChars)
		}
	}
	return nil
}

// estimateInputTokens bounds a request's input from above: no tokenizer of
// a supported provider makes a token of less than one byte of text, and
// each message costs a few tokens of framing. It over-reserves (English
// text runs at about four bytes a token); the settlement then charges what
// the provider reported.
func estimateInputTokens(r llm.Request) int64 {
	const perMessage, perRequest = 8, 32
	n := int64(len(r.System) + perMessage + perRequest)
	for _, m := range r.Messages {
		n += int64(len(m.Content) + perMessage)
	}
	return n
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
	a, err := g.admit(ctx, c)
	if err != nil {
		g.note(Observation{Outcome: "refused"})
		return llm.Response{}, err
	}
	start := g.now()
	resp, err := do(a.provider, a.req)
	lat := g.now().Sub(start)
	failed := err != nil
	// The real usage replaces the reservation, also when the call failed
	// (which releases it) and when the caller has gone away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	uerr := g.store.AddUsage(sctx, a.scope, store.AddUsageParams{BotID: c.BotID, Day: a.day, TokensIn: int64(resp.Usage.InputTokens),
		TokensOut: int64(resp.Usage.OutputTokens), Latency: lat, Failed: failed, Reservation: a.reservation})
	cancel()
	if uerr != nil {
		g.logger.ErrorContext(ctx, "gateway could not record usage; the call's reservation holds until it expires", "bot", string(c.BotID), "err", uerr)
	}
	obs := Observation{Provider: g.kinds[a.req.Model], Model: a.req.Model, Outcome: "ok", Latency: lat, TokensIn: resp.Usage.InputTokens, TokensOut: resp.Usage.OutputTokens}
	if failed {
		obs.Outcome = "provider_error"
		g.note(obs)
		// llm errors carry no key, but their provider text is still not
		// for end users: log it, answer with the generic message.
		// The path is the real one the request went to (llm.Error keeps no
		// query), so a refused or failing endpoint is plain in the log.
		attrs := []any{"bot", string(c.BotID), "model", a.req.Model, "provider", g.kinds[a.req.Model]}
		var le *llm.Error
		if errors.As(err, &le) && le.Path != "" {
			attrs = append(attrs, "path", le.Path)
		}
		g.logger.WarnContext(ctx, "provider call failed", append(attrs, "err", err)...)
		if le != nil && le.Type == llm.TypeInvalidRequest {
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

// refuseModel says why a bot's model is not served: a model of the
// catalogue names its provider, which the operator has not configured, so
// the workspace knows to pick another model and the operator which
// provider to add; anything else is simply off the allowlist.
func (g *Gateway) refuseModel(model string) error {
	if model == llm.RetrievalOnly {
		return palisade.Errorf(palisade.CodeForbidden, "the bot is set to %s, but this server now has a language model: choose one of its models for the bot", llm.RetrievalOnly)
	}
	if kind, ok := llm.KindOf(model); ok {
		return palisade.Errorf(palisade.CodeForbidden, "the model %s is served by the %s provider, which this server has not configured: choose another model for the bot", model, kind)
	}
	return ErrModel
}

// workspaceProvider is the provider a workspace's call on model goes to:
// built with the workspace's own key of the model's kind when it has one,
// else fallback, the operator's.
func (g *Gateway) workspaceProvider(ctx context.Context, scope palisade.Scope, model string, fallback llm.Provider) (llm.Provider, error) {
	kind := g.kinds[model]
	build := g.own[kind]
	if kind == "" || build == nil {
		return fallback, nil
	}
	keys, err := g.store.ListProviderKeys(ctx, scope)
	if err != nil {
		return nil, fmt.Errorf("gateway: listing the workspace's provider keys: %w", err)
	}
	for _, k := range keys {
		if k.Provider != kind {
			continue
		}
		full, err := g.store.GetProviderKey(ctx, scope, k.ID)
		if err != nil {
			return nil, fmt.Errorf("gateway: opening the workspace's provider key: %w", err)
		}
		p, err := build(full.Key)
		if err != nil {
			return nil, fmt.Errorf("gateway: building the workspace's provider: %w", err)
		}
		return p, nil
	}
	return fallback, nil
}
