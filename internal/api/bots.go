package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/httpx"
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
	// RetentionDays is the bot's own retention; 0 follows the
	// workspace's.
	RetentionDays int       `json:"retention_days"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toBotJSON(b palisade.Bot) botJSON {
	d := b.AllowedDomains
	if d == nil {
		d = []string{}
	}
	return botJSON{ID: b.ID, Name: b.Name, SystemPrompt: b.SystemPrompt, Model: b.Model, Temperature: b.Temperature,
		MaxOutputTokens: b.MaxOutputTokens, PIIMode: string(b.PIIMode), AllowedDomains: d, RetentionDays: b.RetentionDays, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeCreated answers 201 Created with v, and a Location header naming the
// new resource: the collection the request was posted to, then its id.
func writeCreated(w http.ResponseWriter, r *http.Request, id string, v any) error {
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+url.PathEscape(id))
	return writeJSON(w, http.StatusCreated, v)
}

func botID(r *http.Request) palisade.BotID { return palisade.BotID(r.PathValue("botId")) }

func (a *API) listBots(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "bots", palisade.PrefixBot)
	if err != nil {
		return err
	}
	// One page read from the store, one more than asked for to learn
	// whether another follows: a workspace of many bots is never read
	// whole.
	p := bot.PageParams{Limit: page.Limit + 1}
	if page.After != nil {
		p.After = &bot.Cursor{CreatedAt: page.After.Time, ID: palisade.BotID(page.After.ID)}
	}
	bots, err := a.Bots.Page(r.Context(), scope(r), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, storePage(page, bots, func(b palisade.Bot) cursor {
		return cursor{List: "bots", Time: b.CreatedAt, ID: string(b.ID)}
	}, toBotJSON))
}

func (a *API) getBot(w http.ResponseWriter, r *http.Request) error {
	b, err := a.Bots.Get(r.Context(), scope(r), botID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}

// The body of POST and PATCH /api/v1/bots is a bot.Input: every field
// optional, so a PATCH changes exactly the fields it names.

func (a *API) createBot(w http.ResponseWriter, r *http.Request) error {
	var in bot.Input
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	b, err := a.Bots.Create(r.Context(), caller(r), in)
	if err != nil {
		return err
	}
	return writeCreated(w, r, string(b.ID), toBotJSON(b))
}

func (a *API) updateBot(w http.ResponseWriter, r *http.Request) error {
	var in bot.Input
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	b, err := a.Bots.Update(r.Context(), caller(r), botID(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}

func (a *API) deleteBot(w http.ResponseWriter, r *http.Request) error {
	if err := a.Bots.Delete(r.Context(), caller(r), botID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateGatewayToken gives the bot a new gateway token; the token itself is
// never shown.
func (a *API) rotateGatewayToken(w http.ResponseWriter, r *http.Request) error {
	b, err := a.Bots.RotateGatewayToken(r.Context(), caller(r), botID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBotJSON(b))
}
