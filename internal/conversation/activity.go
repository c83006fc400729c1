package conversation

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// DayActivity is one UTC day of a workspace's traffic.
type DayActivity = store.DayActivity

// ActivityStore is what the dashboard reads of the store.
type ActivityStore interface {
	DailyActivity(ctx context.Context, scope palisade.Scope, p store.ActivityParams) ([]store.DayActivity, error)
}

// Dashboard reads a workspace's traffic over time: messages, model tokens
// and refusals (webhook deliveries that failed verification, and egress
// and policy denials).
type Dashboard struct {
	Store ActivityStore
	Now   func() time.Time
}

// refusalActions are the audit actions the dashboard counts as refusals.
func refusalActions() []string {
	return []string{string(audit.ActionWebhookRejected), string(audit.ActionEgressDenied), string(audit.ActionPolicyDenied)}
}

// Days returns the last days UTC days of the workspace's traffic, today
// included, oldest first.
func (d *Dashboard) Days(ctx context.Context, scope palisade.Scope, days int) ([]DayActivity, error) {
	days = min(max(days, 1), store.MaxActivityDays)
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	to := now().UTC()
	return d.Store.DailyActivity(ctx, scope, store.ActivityParams{From: to.Add(-time.Duration(days-1) * 24 * time.Hour), To: to, Refusals: refusalActions()})
}
