package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/botspec"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// BotConfig is how bots are configured and how they answer. Its zero value
// is a working install: the default model allowlist and retrieval-only
// answers.
type BotConfig struct {
	// Models is the model allowlist a bot's model must be on; nil means
	// DefaultModels().
	Models []string
	// Generator answers chat messages with a language model (the LLM
	// gateway); nil answers in retrieval-only mode.
	Generator conversation.Generator
	// Tokens issues each new bot its gateway token (only its hash and salt
	// are stored); nil issues none.
	Tokens *gateway.Tokens
}

// DefaultModels is the model allowlist when none is configured.
func DefaultModels() []string { return botspec.DefaultModels() }

func (c BotConfig) models() []string {
	if c.Models == nil {
		return DefaultModels()
	}
	return c.Models
}

// Bot field limits; the validation itself lives in botspec, shared with
// the admin UI.
const (
	MaxBotName         = botspec.MaxName
	MaxSystemPrompt    = botspec.MaxSystemPrompt
	MaxOutputTokensCap = botspec.MaxOutputTokensCap
	MaxTemperature     = botspec.MaxTemperature
	DefaultTemperature = botspec.DefaultTemperature
	MaxAllowedDomains  = botspec.MaxAllowedDomains
)

// botInput is the body of POST and PATCH /api/v1/bots.
type botInput = botspec.Input

func (a *API) createBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var in botInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	if in.Name == nil {
		return palisade.FieldError("name", "name is required")
	}
	models, err := a.allowedModels(r, p)
	if err != nil {
		return err
	}
	b := botspec.New(models)
	b.CreatedAt = a.Now()
	if err := in.Apply(&b, models); err != nil {
		return err
	}
	b.ID = palisade.NewBotID()
	if a.Bots.Tokens != nil {
		b.GatewayTokenSalt, b.GatewayTokenHash = a.Bots.Tokens.Issue(b.ID)
	}
	b, err = a.Store.CreateBot(r.Context(), p.Scope, b)
	if err != nil {
		return err
	}
	a.record(r, audit.ActionBotCreated, string(b.ID))
	return writeJSON(w, http.StatusCreated, toBotJSON(b))
}

func (a *API) updateBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var in botInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	b, err := a.Store.GetBot(r.Context(), p.Scope, palisade.BotID(r.PathValue("botId")))
	if err != nil {
		return err
	}
	models, err := a.allowedModels(r, p)
	if err != nil {
		return err
	}
	if err := in.Apply(&b, models); err != nil {
		return err
	}
	b.UpdatedAt = a.Now()
	b, err = a.Store.UpdateBot(r.Context(), p.Scope, b)
	if err != nil {
		return err
	}
	a.record(r, audit.ActionBotChanged, string(b.ID))
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}

// allowedModels is the operator's allowlist narrowed by the workspace's own.
func (a *API) allowedModels(r *http.Request, p Principal) ([]string, error) {
	ws, err := a.Store.GetWorkspace(r.Context(), p.Scope)
	if err != nil {
		return nil, err
	}
	return botspec.Narrow(a.Bots.models(), ws), nil
}

func (a *API) deleteBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := a.Store.DeleteBot(r.Context(), p.Scope, palisade.BotID(r.PathValue("botId"))); err != nil {
		return err
	}
	a.record(r, audit.ActionBotDeleted, r.PathValue("botId"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateGatewayToken gives the bot a new gateway token: the old one stops
// working at once. The token itself is never shown; the platform derives it
// for the bot's own work.
func (a *API) rotateGatewayToken(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if a.Bots.Tokens == nil {
		return palisade.Errorf(palisade.CodeUnavailable, "gateway tokens are not configured")
	}
	b, err := a.Store.GetBot(r.Context(), p.Scope, palisade.BotID(r.PathValue("botId")))
	if err != nil {
		return err
	}
	b.GatewayTokenSalt, b.GatewayTokenHash = a.Bots.Tokens.Issue(b.ID)
	b.UpdatedAt = a.Now()
	if b, err = a.Store.UpdateBot(r.Context(), p.Scope, b); err != nil {
		return err
	}
	a.record(r, audit.ActionBotTokenRotated, string(b.ID))
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}
