package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// MaxActivityDays bounds one DailyActivity call.
const MaxActivityDays = 92

// Activity sums a workspace's traffic per UTC day, for its dashboard.
type Activity interface {
	// DailyActivity returns one row per UTC day from p.From's day through
	// p.To's day, oldest first, days without traffic included: the
	// messages stored by role, the model tokens the gateway recorded
	// (usage), and the audit entries whose action is one of p.Refusals.
	// A span longer than MaxActivityDays, or To before From, is refused.
	DailyActivity(ctx context.Context, scope palisade.Scope, p ActivityParams) ([]DayActivity, error)
	// AddRefusals adds n to the workspace's count of refusals of kind (a
	// rate-limit class) on day (YYYY-MM-DD, UTC): one upsert, so callers
	// sum refusals in memory and write each count once per interval.
	AddRefusals(ctx context.Context, scope palisade.Scope, day, kind string, n int64) error
}

// MaxRefusalKind bounds a refusal kind's length.
const MaxRefusalKind = 64

type ActivityParams struct {
	From, To time.Time
	// Refusals are the audit actions counted as refusals (webhook
	// verification failures, egress and policy denials).
	Refusals []string
}

// DayActivity is one UTC day of a workspace's traffic.
type DayActivity struct {
	Day       string // YYYY-MM-DD (UTC)
	Questions int64  // messages of role user
	Answers   int64  // messages of role assistant
	TokensIn  int64
	TokensOut int64
	Refusals  int64
	// RateLimited counts the requests rate limits refused, from
	// AddRefusals, every kind together.
	RateLimited int64
}
