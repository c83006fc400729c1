package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// budgetJSON is a bot's daily token budget and what today (UTC) has spent.
type budgetJSON struct {
	BotID       palisade.BotID `json:"bot_id"`
	DailyTokens int64          `json:"daily_tokens"`
	Today       usageJSON      `json:"today"`
}

type usageJSON struct {
	Day       string `json:"day"`
	Requests  int64  `json:"requests"`
	TokensIn  int64  `json:"tokens_in"`
	TokensOut int64  `json:"tokens_out"`
	// Remaining is what the budget has left today; null without a budget.
	Remaining *int64 `json:"remaining"`
}

func toBudgetJSON(id palisade.BotID, b bot.Budget) budgetJSON {
	out := budgetJSON{BotID: id, DailyTokens: b.DailyTokens, Today: usageJSON{Day: b.Today.Day, Requests: b.Today.Requests,
		TokensIn: b.Today.TokensIn, TokensOut: b.Today.TokensOut}}
	if b.DailyTokens > 0 {
		left := max(0, b.DailyTokens-b.Today.TokensIn-b.Today.TokensOut)
		out.Today.Remaining = &left
	}
	return out
}

// budgetInput is the body of PUT /api/v1/bots/{botId}/budget.
type budgetInput struct {
	DailyTokens *int64 `json:"daily_tokens"`
}

func (a *API) getBudget(w http.ResponseWriter, r *http.Request) error {
	b, err := a.Bots.Budget(r.Context(), scope(r), botID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBudgetJSON(botID(r), b))
}

func (a *API) setBudget(w http.ResponseWriter, r *http.Request) error {
	var in budgetInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	if in.DailyTokens == nil {
		return palisade.FieldError("daily_tokens", "daily_tokens is required (0 removes the budget)")
	}
	b, err := a.Bots.SetBudget(r.Context(), caller(r), botID(r), *in.DailyTokens)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBudgetJSON(botID(r), b))
}
