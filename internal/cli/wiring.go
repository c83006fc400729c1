package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/server"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
)

// limits is the process's rate limiter and its per-class policies.
type limits struct {
	limiter ratelimit.Limiter
	table   ratelimit.Table
	ready   *server.Check
	close   func()
	// redis is the process's Redis client, nil without --redis-url; the
	// gateway role keeps its nonces there too.
	redis *redis.Client
}

// newLimits builds the limiter: in memory, or on Redis with a per-process
// memory fallback that says so in the log and on /readyz (never failing
// open silently).
func newLimits(cfg config.Config, logger *slog.Logger, now func() time.Time, master seal.MasterKey) (limits, error) {
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
	// Key names are keyed hashes of what they count (an e-mail address,
	// an IP), under a key every process derives alike from the master key.
	hashKey, err := master.Derive("rate limit key names v1")
	if err != nil {
		rdb.Close()
		return limits{}, err
	}
	rl, err := ratelimit.NewRedis(rdb, ratelimit.RedisOptions{HashKey: secret.New(string(hashKey))})
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
		if degraded, why := fb.Probe(ctx, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }); degraded {
			return "degraded: " + why, nil
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			logger.WarnContext(ctx, "Redis does not answer; rate limits fall back to this process's memory", "err", err)
			return "degraded: Redis unreachable, rate limits kept per process", nil
		}
		return "", nil
	}}
	return limits{limiter: fb, table: table, ready: check, close: func() { rdb.Close() }, redis: rdb}, nil
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

// invalidationChannel is the Redis channel and PostgreSQL notification
// channel that cache invalidations travel on.
const invalidationChannel = "palisade_invalidate"

// newInvalidation picks the bus that reaches every process which may cache
// what this one changes: on PostgreSQL, its LISTEN/NOTIFY, and Redis
// pub/sub too when Redis is configured. On SQLite nothing is cached
// (invalidate.None), Redis or not: the commands run beside the server
// (workspace suspend, delete, key revocation) write the database file and
// announce nothing.
func newInvalidation(s store.Store, rdb *redis.Client, logger *slog.Logger) *invalidate.Hub {
	var bus invalidate.Bus = invalidate.None{}
	switch pg, isPG := s.(*postgres.Store); {
	case rdb != nil && isPG:
		// The commands run beside the server (workspace suspend, delete)
		// know only the database, so the server hears PostgreSQL too.
		bus = invalidate.Fanout{invalidate.NewRedis(rdb, invalidationChannel), invalidate.NewPostgres(pg.Pool(), invalidationChannel)}
	case isPG:
		bus = invalidate.NewPostgres(pg.Pool(), invalidationChannel)
	}
	return invalidate.NewHub(bus, func(e invalidate.Event) {
		// A lost subscription is worth a line: the caches are bypassed,
		// and every request reads the database until it is back.
		if e.Scope == "" {
			logger.Info("cache invalidation channel", "subscribed", e.Up)
		}
	})
}

// announceChange tells running servers that scope's workspace changed
// under them (a command's suspension or deletion; invalidate.All for a
// restored database), so they drop what they cached of it. On SQLite
// servers cache nothing (newInvalidation), so there is no one to tell.
func announceChange(ctx context.Context, s store.Store, scope string) error {
	pg, ok := s.(*postgres.Store)
	if !ok {
		return nil
	}
	if err := invalidate.NewPostgres(pg.Pool(), invalidationChannel).Publish(ctx, scope); err != nil {
		return fmt.Errorf("telling running servers of the change: %w", err)
	}
	return nil
}
