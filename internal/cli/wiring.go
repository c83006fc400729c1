package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/server"
)

// limits is the process's rate limiter and its per-class policies.
type limits struct {
	limiter ratelimit.Limiter
	table   ratelimit.Table
	ready   *server.Check
	close   func()
}

// newLimits builds the limiter: in memory, or on Redis with a per-process
// memory fallback that says so in the log and on /readyz (never failing
// open silently).
func newLimits(cfg config.Config, logger *slog.Logger, now func() time.Time) (limits, error) {
	table := ratelimit.Defaults()
	if cfg.RateLimitsFile != "" {
		t, err := ratelimit.LoadFile(cfg.RateLimitsFile)
		if err != nil {
			return limits{}, fmt.Errorf("%w: --rate-limits: %v", ErrUsage, err)
		}
		table = t
	}
	if err := table.Validate(); err != nil {
		return limits{}, fmt.Errorf("%w: rate limits: %v", ErrUsage, err)
	}
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: now})
	if cfg.RedisURL.IsZero() {
		return limits{limiter: mem, table: table, close: func() {}}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL.Reveal())
	if err != nil {
		return limits{}, fmt.Errorf("%w: --redis-url is not a valid Redis URL", ErrUsage)
	}
	// Without ContextTimeoutEnabled a hung Redis would hold requests past
	// the limiter's own time-out.
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	rl, err := ratelimit.NewRedis(rdb, ratelimit.RedisOptions{})
	if err != nil {
		rdb.Close()
		return limits{}, err
	}
	fb, err := ratelimit.NewFallback(rl, mem, ratelimit.FallbackOptions{Logger: logger})
	if err != nil {
		rdb.Close()
		return limits{}, err
	}
	// Redis down is not "not ready": the limiter falls back to per-process
	// memory, and /readyz says so in its detail rather than pulling every
	// instance out of the load balancer at once.
	check := &server.Check{Name: "redis", Check: func(ctx context.Context) (string, error) {
		if degraded, why := fb.Degraded(); degraded {
			return "degraded: " + why, nil
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			logger.WarnContext(ctx, "Redis does not answer; rate limits fall back to this process's memory", "err", err)
			return "degraded: Redis unreachable, rate limits kept per process", nil
		}
		return "", nil
	}}
	return limits{limiter: fb, table: table, ready: check, close: func() { rdb.Close() }}, nil
}

// auditRecorder records the account service's events in the audit log:
// workspace events in the workspace's chain, account events in the
// platform chain.
type auditRecorder struct {
	log    *audit.Logger
	logger *slog.Logger
}

var _ account.AuditRecorder = auditRecorder{}

// accountActions maps the account service's event names onto the audit
// log's vocabulary where both name the same thing.
var accountActions = map[string]audit.Action{
	"email.verify":                   audit.ActionEmailVerified,
	"invitation.accept":              audit.ActionInvitationAccepted,
	"mfa.disable":                    audit.ActionMFADisabled,
	"mfa.enable":                     audit.ActionMFAEnabled,
	"mfa.recovery_codes_regenerated": audit.ActionRecoveryCodesReset,
	"password.change":                audit.ActionPasswordChanged,
	"password.reset":                 audit.ActionPasswordReset,
	"password.reset_requested":       audit.ActionPasswordResetAsked,
	"session.revoke":                 audit.ActionSessionRevoked,
	"signup":                         audit.ActionSignup,
	"logout":                         audit.ActionLogout,
}

func (r auditRecorder) Record(ctx context.Context, e account.AuditEvent) error {
	action, ok := accountActions[e.Action]
	switch {
	case ok:
	case e.Action == "login" && e.Outcome == "success":
		action = audit.ActionLoginSuccess
	case e.Action == "login":
		action = audit.ActionLoginFailure
	default:
		action = audit.Action(e.Action)
	}
	// The audit log knows three outcomes; a refusal by the rate limiter
	// is a denial, anything else unknown a failure, so no event is lost to
	// a vocabulary mismatch.
	outcome := audit.Outcome(e.Outcome)
	switch outcome {
	case audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeDenied:
	case "rate_limited":
		outcome = audit.OutcomeDenied
	default:
		outcome = audit.OutcomeFailure
	}
	entry := audit.Entry{Actor: e.Actor, Action: action, Target: e.Target, Outcome: outcome, RequestID: e.RequestID}
	if a, err := netip.ParseAddr(e.IP); err == nil {
		entry.ClientIP = a
	}
	var err error
	if e.Workspace == "" {
		err = r.log.RecordPlatform(ctx, entry)
	} else {
		err = r.log.Record(ctx, palisade.ScopeFor(e.Workspace), entry)
	}
	if err != nil {
		r.logger.ErrorContext(ctx, "could not record an audit event", "action", string(action), "err", err)
	}
	return err
}

// egressAudit records every egress denial in the platform chain.
func egressAudit(log *audit.Logger, logger *slog.Logger) func(context.Context, egress.Denial) {
	return func(ctx context.Context, d egress.Denial) {
		err := log.RecordPlatform(ctx, audit.Entry{Actor: audit.ActorSystem, Action: audit.ActionEgressDenied, Target: d.Host,
			Outcome: audit.OutcomeDenied, Detail: map[string]string{"reason": string(d.Reason), "rule": d.Rule, "method": d.Method}})
		if err != nil {
			logger.ErrorContext(ctx, "could not record an egress denial", "err", err)
		}
	}
}
