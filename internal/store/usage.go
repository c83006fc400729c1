package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Usage records what each bot spent at the LLM gateway, per UTC day, for
// budgets and dashboards, and the budget set aside by calls still in
// flight.
type Usage interface {
	// AddUsage adds one gateway call to the bot's day and, when
	// p.Reservation names one, releases that call's reservation in the same
	// transaction: the real usage replaces what was set aside.
	AddUsage(ctx context.Context, scope palisade.Scope, p AddUsageParams) error
	// UsageOn returns the bot's totals for one UTC day (zero when none).
	UsageOn(ctx context.Context, scope palisade.Scope, bot palisade.BotID, day time.Time) (DailyUsage, error)
	// ReserveUsage sets aside up to p.Tokens, and at least p.Min, of the
	// bot's daily budget for one call, atomically: what the day has spent
	// plus every unexpired reservation of the day plus this one never
	// exceeds p.Budget, however many calls reserve at once, from however
	// many processes. A reservation of zero tokens means there was not room
	// for p.Min; nothing was set aside.
	ReserveUsage(ctx context.Context, scope palisade.Scope, p ReserveUsageParams) (Reservation, error)
}

type AddUsageParams struct {
	BotID     palisade.BotID
	Day       time.Time // any time in the UTC day
	TokensIn  int64
	TokensOut int64
	Latency   time.Duration
	Failed    bool
	// Reservation, when set, is released (see ReserveUsage).
	Reservation string
}

type ReserveUsageParams struct {
	BotID  palisade.BotID
	Day    time.Time // any time in the UTC day
	Budget int64     // the bot's daily budget, in tokens; more than zero
	Tokens int64     // what the call would like set aside
	Min    int64     // the least the call can go ahead with; 1 ≤ Min ≤ Tokens
	Now    time.Time
	// ExpiresAt is when the reservation stops counting if it was never
	// released (its process died mid-call); expired ones are pruned.
	ExpiresAt time.Time
}

// Reservation is budget set aside for one call.
type Reservation struct {
	ID     string
	Tokens int64 // zero: nothing reserved, the budget has no room
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

// GatewayNonces remembers the nonces of signed calls to the gateway role
// where every gateway process sees them, so that a captured call cannot be
// replayed to another process. It is platform data: a nonce belongs to no
// workspace.
type GatewayNonces interface {
	// ClaimGatewayNonce records nonce until expiresAt and reports whether
	// it was new. A nonce already recorded and not expired at now is not
	// new, and nothing changes.
	ClaimGatewayNonce(ctx context.Context, nonce string, now, expiresAt time.Time) (bool, error)
	// PruneGatewayNonces deletes the nonces expired at now.
	PruneGatewayNonces(ctx context.Context, now time.Time) (int64, error)
}
