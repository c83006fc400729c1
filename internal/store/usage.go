package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Usage records what each bot spent at the LLM gateway, per UTC day, for
// budgets and dashboards.
type Usage interface {
	// AddUsage adds one gateway call to the bot's day.
	AddUsage(ctx context.Context, scope palisade.Scope, p AddUsageParams) error
	// UsageOn returns the bot's totals for one UTC day (zero when none).
	UsageOn(ctx context.Context, scope palisade.Scope, bot palisade.BotID, day time.Time) (DailyUsage, error)
}

type AddUsageParams struct {
	BotID     palisade.BotID
	Day       time.Time // any time in the UTC day
	TokensIn  int64
	TokensOut int64
	Latency   time.Duration
	Failed    bool
}

type DailyUsage struct {
	Day       string // YYYY-MM-DD (UTC)
	Requests  int64
	TokensIn  int64
	TokensOut int64
	Errors    int64
	LatencyMS int64 // summed; divide by Requests for the mean
}

// DayKey is the UTC day a time falls in, as usage rows key it.
func DayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }
