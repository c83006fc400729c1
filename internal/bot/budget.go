package bot

import (
	"context"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// MaxDailyTokenBudget bounds a bot's daily token budget: far above any
// real day, low enough that no sum of a day's usage overflows.
const MaxDailyTokenBudget = 1 << 40

// Budget is a bot's daily token budget and what the current UTC day has
// spent of it. The gateway enforces it: a call that would take the day
// past the budget is refused before any provider sees it.
type Budget struct {
	// DailyTokens is the budget in tokens (input and output together);
	// zero means no budget.
	DailyTokens int64
	Today       store.DailyUsage
}

// Budget returns the bot's budget and today's usage.
func (s *Service) Budget(ctx context.Context, scope palisade.Scope, id palisade.BotID) (Budget, error) {
	b, err := s.o.Store.GetBot(ctx, scope, id)
	if err != nil {
		return Budget{}, err
	}
	return s.budget(ctx, scope, b)
}

func (s *Service) budget(ctx context.Context, scope palisade.Scope, b palisade.Bot) (Budget, error) {
	now := s.o.Now()
	u, err := s.o.Store.UsageOn(ctx, scope, b.ID, now)
	if err != nil {
		return Budget{}, err
	}
	if u.Day == "" {
		u.Day = store.DayKey(now)
	}
	return Budget{DailyTokens: b.DailyTokenBudget, Today: u}, nil
}

// SetBudget sets the bot's daily token budget; zero removes it.
func (s *Service) SetBudget(ctx context.Context, c palisade.Caller, id palisade.BotID, tokens int64) (Budget, error) {
	if tokens < 0 || tokens > MaxDailyTokenBudget {
		return Budget{}, palisade.FieldError("daily_tokens", "the daily token budget must be between 0 (none) and %d", int64(MaxDailyTokenBudget))
	}
	b, err := s.o.Store.GetBot(ctx, c.Scope, id)
	if err != nil {
		return Budget{}, err
	}
	b.DailyTokenBudget = tokens
	b.UpdatedAt = s.o.Now()
	b, err = s.o.Store.UpdateBot(ctx, c.Scope, b)
	s.invalidate(ctx, c.Scope)
	if err != nil {
		return Budget{}, err
	}
	s.record(ctx, c, audit.ActionBotChanged, string(b.ID))
	return s.budget(ctx, c.Scope, b)
}

// Document returns one of the bot's documents.
func (s *Service) Document(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.DocumentID) (palisade.Document, error) {
	docs, err := s.o.Store.ListDocuments(ctx, scope, bot)
	if err != nil {
		return palisade.Document{}, err
	}
	for _, d := range docs {
		if d.ID == id {
			return d, nil
		}
	}
	return palisade.Document{}, store.ErrNotFound
}
