package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// botJSON is a bot as the API shows it. The gateway token hash is never
// shown.
type botJSON struct {
	ID              palisade.BotID `json:"id"`
	Name            string         `json:"name"`
	SystemPrompt    string         `json:"system_prompt"`
	Model           string         `json:"model"`
	Temperature     float64        `json:"temperature"`
	MaxOutputTokens int            `json:"max_output_tokens"`
	PIIMode         string         `json:"pii_mode"`
	AllowedDomains  []string       `json:"allowed_domains"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

func toBotJSON(b palisade.Bot) botJSON {
	d := b.AllowedDomains
	if d == nil {
		d = []string{}
	}
	return botJSON{ID: b.ID, Name: b.Name, SystemPrompt: b.SystemPrompt, Model: b.Model, Temperature: b.Temperature,
		MaxOutputTokens: b.MaxOutputTokens, PIIMode: string(b.PIIMode), AllowedDomains: d, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func (a *API) listBots(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	bots, err := a.Store.ListBots(r.Context(), p.Scope)
	if err != nil {
		return err
	}
	out := make([]botJSON, 0, len(bots))
	for _, b := range bots {
		out = append(out, toBotJSON(b))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (a *API) getBot(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	b, err := a.Store.GetBot(r.Context(), p.Scope, palisade.BotID(r.PathValue("botId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}
