package api

import (
	"math"
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/validate"
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

// DefaultModels is the model allowlist when none is configured: current
// small and large models of the supported providers.
func DefaultModels() []string {
	return []string{
		"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1",
		"claude-3-5-haiku-latest", "claude-sonnet-4-0",
		"gemini-2.0-flash", "gemini-2.5-flash",
		"llama-3.1-8b-instant", "llama-3.3-70b-versatile",
	}
}

func (c BotConfig) models() []string {
	if c.Models == nil {
		return DefaultModels()
	}
	return c.Models
}

// Bot field limits.
const (
	MaxBotName         = 100
	MaxSystemPrompt    = 8000
	MaxOutputTokensCap = 4096 // default and ceiling (R5)
	MaxTemperature     = 2.0
	DefaultTemperature = 0.7
	MaxAllowedDomains  = 20
)

// botInput is the body of POST and PATCH /api/v1/bots. Every field is a
// pointer so a PATCH changes exactly the fields it names.
type botInput struct {
	Name            *string   `json:"name"`
	SystemPrompt    *string   `json:"system_prompt"`
	Model           *string   `json:"model"`
	Temperature     *float64  `json:"temperature"`
	MaxOutputTokens *int      `json:"max_output_tokens"`
	PIIMode         *string   `json:"pii_mode"`
	AllowedDomains  *[]string `json:"allowed_domains"`
}

// apply validates each given field and writes it into b.
func (in botInput) apply(b *palisade.Bot, models []string) error {
	if in.Name != nil {
		if err := validate.Name("name", *in.Name, MaxBotName); err != nil {
			return err
		}
		b.Name = *in.Name
	}
	if in.SystemPrompt != nil {
		if err := validate.Text("system_prompt", *in.SystemPrompt, MaxSystemPrompt); err != nil {
			return err
		}
		b.SystemPrompt = *in.SystemPrompt
	}
	if in.Model != nil {
		ok := false
		for _, m := range models {
			ok = ok || m == *in.Model
		}
		if !ok {
			return palisade.FieldError("model", "model is not on this server's model allowlist")
		}
		b.Model = *in.Model
	}
	if in.Temperature != nil {
		t := *in.Temperature
		if math.IsNaN(t) || t < 0 || t > MaxTemperature {
			return palisade.FieldError("temperature", "temperature must be between 0 and %g", MaxTemperature)
		}
		b.Temperature = t
	}
	if in.MaxOutputTokens != nil {
		n := *in.MaxOutputTokens
		if n < 1 || n > MaxOutputTokensCap {
			return palisade.FieldError("max_output_tokens", "max_output_tokens must be between 1 and %d", MaxOutputTokensCap)
		}
		b.MaxOutputTokens = n
	}
	if in.PIIMode != nil {
		if err := validate.OneOf("pii_mode", *in.PIIMode, string(palisade.PIIOff), string(palisade.PIIBeforeLLM), string(palisade.PIIBeforeStorage)); err != nil {
			return err
		}
		b.PIIMode = palisade.PIIMode(*in.PIIMode)
	}
	if in.AllowedDomains != nil {
		list := *in.AllowedDomains
		if len(list) > MaxAllowedDomains {
			return palisade.FieldError("allowed_domains", "allowed_domains must list at most %d domains", MaxAllowedDomains)
		}
		seen := map[string]bool{}
		out := []string{}
		for _, d := range list {
			// Host names compare case-insensitively; store the canonical
			// lower-case form that was checked.
			d = strings.ToLower(d)
			if err := validate.Domain("allowed_domains", d); err != nil {
				return err
			}
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
		b.AllowedDomains = out
	}
	return nil
}

func (a *API) createBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var in botInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	if in.Name == nil {
		return palisade.FieldError("name", "name is required")
	}
	models := a.Bots.models()
	b := palisade.Bot{Temperature: DefaultTemperature, MaxOutputTokens: MaxOutputTokensCap, PIIMode: palisade.PIIOff, CreatedAt: a.Now()}
	if len(models) > 0 {
		b.Model = models[0]
	}
	if err := in.apply(&b, models); err != nil {
		return err
	}
	b.ID = palisade.NewBotID()
	if a.Bots.Tokens != nil {
		b.GatewayTokenSalt, b.GatewayTokenHash = a.Bots.Tokens.Issue(b.ID)
	}
	b, err := a.Store.CreateBot(r.Context(), p.Scope, b)
	if err != nil {
		return err
	}
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
	if err := in.apply(&b, a.Bots.models()); err != nil {
		return err
	}
	b.UpdatedAt = a.Now()
	b, err = a.Store.UpdateBot(r.Context(), p.Scope, b)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}

func (a *API) deleteBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := a.Store.DeleteBot(r.Context(), p.Scope, palisade.BotID(r.PathValue("botId"))); err != nil {
		return err
	}
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
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}
