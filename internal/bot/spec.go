// Package botspec holds a bot's configurable fields, their limits and their
// validation, shared by the REST API and the admin UI so that both accept
// exactly the same bots: a value refused by one can never be slipped in
// through the other.
package bot

import (
	"math"
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// Bot field limits.
const (
	MaxName            = 100
	MaxSystemPrompt    = 8000
	MaxOutputTokensCap = 4096 // default and ceiling (R5)
	MaxTemperature     = 2.0
	DefaultTemperature = 0.7
	MaxAllowedDomains  = 20
	// A bot's own retention, like a workspace's, is 1 to 3650 days (0:
	// the workspace's).
	MinRetentionDays = store.MinRetentionDays
	MaxRetentionDays = store.MaxRetentionDays
)

// PIIModes lists the accepted pii_mode values.
func PIIModes() []string {
	return []string{string(palisade.PIIOff), string(palisade.PIIBeforeLLM), string(palisade.PIIBeforeStorage)}
}

// Defaults is a bot with every field at its default, before any input is
// applied: the first model of the allowlist, the default temperature and
// the output-token ceiling.
func Defaults(models []string) palisade.Bot {
	b := palisade.Bot{Temperature: DefaultTemperature, MaxOutputTokens: MaxOutputTokensCap, PIIMode: palisade.PIIOff}
	if len(models) > 0 {
		b.Model = models[0]
	}
	return b
}

// Input is a change to a bot's configuration (the body of POST and PATCH
// /api/v1/bots, or the admin UI's bot form). Every field is a pointer so a
// partial update changes exactly the fields it names.
type Input struct {
	Name            *string   `json:"name"`
	SystemPrompt    *string   `json:"system_prompt"`
	Model           *string   `json:"model"`
	Temperature     *float64  `json:"temperature"`
	MaxOutputTokens *int      `json:"max_output_tokens"`
	PIIMode         *string   `json:"pii_mode"`
	AllowedDomains  *[]string `json:"allowed_domains"`
	// RetentionDays is how many days the bot's messages are kept; 0
	// keeps them as long as the workspace's retention says.
	RetentionDays *int `json:"retention_days"`
}

// Apply validates each given field and writes it into b; models is the
// allowlist the model must be on. On error b may be partly changed, so
// callers apply to a copy they discard on failure.
func (in Input) Apply(b *palisade.Bot, models []string) error {
	if in.Name != nil {
		if err := validate.Name("name", *in.Name, MaxName); err != nil {
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
		if err := validate.OneOf("pii_mode", *in.PIIMode, PIIModes()...); err != nil {
			return err
		}
		b.PIIMode = palisade.PIIMode(*in.PIIMode)
	}
	if in.RetentionDays != nil {
		d := *in.RetentionDays
		if d != 0 && (d < MinRetentionDays || d > MaxRetentionDays) {
			return palisade.FieldError("retention_days", "retention_days must be 0 (the workspace's) or between %d and %d", MinRetentionDays, MaxRetentionDays)
		}
		b.RetentionDays = d
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

// narrow keeps the models of the operator's allowlist that the workspace's
// own allowlist admits, in the operator's order.
func narrow(models []string, ws palisade.Workspace) []string {
	out := make([]string, 0, len(models))
	for _, m := range models {
		if ws.AllowsModel(m) {
			out = append(out, m)
		}
	}
	return out
}
