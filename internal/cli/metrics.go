package cli

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// Every metric family of the process is made here or beside the wiring of
// what it counts, on the one registry of the admin listener. Label values
// come from closed sets (route patterns, channel kinds, rate-limit
// classes, configured models, job kinds); anything outside a set is
// "other", so no request can grow a family, and no workspace, bot or user
// id is ever a label.

// registerAll registers cs, saying which family failed.
func registerAll(reg *prometheus.Registry, what string, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering %s metrics: %w", what, err)
		}
	}
	return nil
}

// countRefusals wraps l so that every refusal is counted by rate-limit
// class.
func countRefusals(l ratelimit.Limiter, reg *prometheus.Registry) (ratelimit.Limiter, error) {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_ratelimit_refusals_total",
		Help: "Requests refused by a rate limit, by limit class."}, []string{"class"})
	classes := ratelimit.Classes()
	for _, c := range classes {
		refused.WithLabelValues(string(c))
	}
	if err := registerAll(reg, "rate-limit", refused); err != nil {
		return nil, err
	}
	return refusalCounter{Limiter: l, refused: func(name string) {
		if !slices.Contains(classes, ratelimit.Class(name)) {
			name = "other"
		}
		refused.WithLabelValues(name).Inc()
	}}, nil
}

type refusalCounter struct {
	ratelimit.Limiter
	refused func(class string)
}

func (c refusalCounter) Allow(ctx context.Context, p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	d, err := c.Limiter.Allow(ctx, p, key)
	if err == nil && !d.Allowed {
		c.refused(p.Name)
	}
	return d, err
}

// auditMetrics count appends to the audit chains by chain kind and
// outcome, failed log-ins (from the audit entries that record them), and
// the checkpoint writes, whose refusals mean the checkpoint file and the
// database disagree.
type auditMetrics struct {
	onWrite func(chainKind string, action audit.Action, err error)
	onFlush func(outcome string)
}

func newAuditMetrics(reg *prometheus.Registry) (auditMetrics, error) {
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_audit_writes_total",
		Help: "Entries appended to the audit log, by chain kind (workspace, platform) and outcome (ok, error)."}, []string{"chain", "outcome"})
	logins := prometheus.NewCounter(prometheus.CounterOpts{Name: "palisade_login_failures_total",
		Help: "Failed log-ins to the admin UI, as recorded in the audit log."})
	checkpoints := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_audit_checkpoint_writes_total",
		Help: "Writes of the signed audit checkpoint file, by outcome (ok; refused: a chain's head contradicts the file or the file is not trusted; failed: the file could not be written)."},
		[]string{"outcome"})
	for _, c := range []string{audit.ChainKindWorkspace, audit.ChainKindPlatform} {
		writes.WithLabelValues(c, "ok")
		writes.WithLabelValues(c, "error")
	}
	outcomes := []string{audit.FlushOK, audit.FlushRefused, audit.FlushFailed}
	for _, o := range outcomes {
		checkpoints.WithLabelValues(o)
	}
	if err := registerAll(reg, "audit", writes, logins, checkpoints); err != nil {
		return auditMetrics{}, err
	}
	return auditMetrics{
		onWrite: func(chainKind string, action audit.Action, err error) {
			if chainKind != audit.ChainKindWorkspace && chainKind != audit.ChainKindPlatform {
				chainKind = "other"
			}
			outcome := "ok"
			if err != nil {
				outcome = "error"
			}
			writes.WithLabelValues(chainKind, outcome).Inc()
			if action == audit.ActionLoginFailure {
				logins.Inc()
			}
		},
		onFlush: func(outcome string) {
			if !slices.Contains(outcomes, outcome) {
				outcome = "other"
			}
			checkpoints.WithLabelValues(outcome).Inc()
		},
	}, nil
}

// sealMetrics count field seals and opens by outcome.
func sealMetrics(reg *prometheus.Registry) (func(op string, err error), error) {
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_seal_operations_total",
		Help: "Fields sealed and opened with the workspace keys, by operation (seal, open) and outcome (ok, error)."}, []string{"op", "outcome"})
	for _, op := range []string{"seal", "open"} {
		ops.WithLabelValues(op, "ok")
		ops.WithLabelValues(op, "error")
	}
	if err := registerAll(reg, "sealing", ops); err != nil {
		return nil, err
	}
	return func(op string, err error) {
		if op != "seal" && op != "open" {
			op = "other"
		}
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		ops.WithLabelValues(op, outcome).Inc()
	}, nil
}

// storeCollector reports, at each scrape, the database pool's use and the
// depth of the job queue by job kind and state. Its queries are bounded by
// a short time-out, so a slow database delays a scrape, never blocks it.
type storeCollector struct {
	logger *slog.Logger
	pool   func() poolStats
	queue  *sql.DB       // SQLite
	pgx    *pgxpool.Pool // PostgreSQL
	kinds  []string

	open, inUse, idle, maxOpen, waits, waited, depth *prometheus.Desc
}

// poolStats is the part of database/sql's DBStats and pgxpool's Stat that
// both report.
type poolStats struct {
	open, inUse, idle, max int
	waits                  int64
	waited                 time.Duration
}

// queueStates are the river job states that are work not yet done.
var queueStates = []string{"available", "scheduled", "retryable", "running", "pending"}

func newStoreCollector(s store.Store, logger *slog.Logger) *storeCollector {
	c := &storeCollector{logger: logger, kinds: job.Kinds(),
		open:    prometheus.NewDesc("palisade_db_pool_open_connections", "Connections the database pool holds open.", nil, nil),
		inUse:   prometheus.NewDesc("palisade_db_pool_in_use_connections", "Connections of the pool in use now.", nil, nil),
		idle:    prometheus.NewDesc("palisade_db_pool_idle_connections", "Idle connections of the pool.", nil, nil),
		maxOpen: prometheus.NewDesc("palisade_db_pool_max_connections", "Most connections the pool opens (0: unbounded).", nil, nil),
		waits:   prometheus.NewDesc("palisade_db_pool_waits_total", "Times a query waited for a free connection.", nil, nil),
		waited:  prometheus.NewDesc("palisade_db_pool_wait_seconds_total", "Time spent waiting for a free connection.", nil, nil),
		depth:   prometheus.NewDesc("palisade_job_queue_depth", "Durable jobs not yet done, by job kind and state.", []string{"kind", "state"}, nil),
	}
	switch st := s.(type) {
	case *sqlite.Store:
		db := st.DB()
		c.queue = db
		c.pool = func() poolStats {
			d := db.Stats()
			return poolStats{open: d.OpenConnections, inUse: d.InUse, idle: d.Idle, max: d.MaxOpenConnections, waits: d.WaitCount, waited: d.WaitDuration}
		}
	case *postgres.Store:
		p := st.Pool()
		c.pgx = p
		c.pool = func() poolStats {
			d := p.Stat()
			return poolStats{open: int(d.TotalConns()), inUse: int(d.AcquiredConns()), idle: int(d.IdleConns()), max: int(d.MaxConns()),
				waits: d.EmptyAcquireCount(), waited: d.EmptyAcquireWaitTime()}
		}
	}
	return c
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.maxOpen, c.waits, c.waited, c.depth} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.pool != nil {
		p := c.pool()
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(p.open))
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(p.inUse))
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(p.idle))
		ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(p.max))
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(p.waits))
		ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, p.waited.Seconds())
	}
	depth := map[[2]string]float64{}
	for _, k := range append(slices.Clone(c.kinds), "other") {
		for _, s := range queueStates {
			depth[[2]string{k, s}] = 0
		}
	}
	if err := c.queueDepth(depth); err != nil {
		// The pool figures are still worth a scrape; the queue's are
		// left out rather than reported as an empty queue.
		c.logger.Warn("metrics: could not count the job queue", "err", err)
		return
	}
	for k, n := range depth {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, n, k[0], k[1])
	}
}

const queueDepthQuery = `SELECT kind, CAST(state AS TEXT), COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY kind, state`

// queueDepth adds the count of each kind and state to depth; a kind this
// process does not know is "other".
func (c *storeCollector) queueDepth(depth map[[2]string]float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	add := func(kind, state string, n int64) {
		if !slices.Contains(c.kinds, kind) {
			kind = "other"
		}
		if !slices.Contains(queueStates, state) {
			return
		}
		depth[[2]string{kind, state}] += float64(n)
	}
	switch {
	case c.queue != nil:
		rows, err := c.queue.QueryContext(ctx, queueDepthQuery)
		if err != nil {
			return fmt.Errorf("counting queued jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var kind, state string
			var n int64
			if err := rows.Scan(&kind, &state, &n); err != nil {
				return fmt.Errorf("counting queued jobs: %w", err)
			}
			add(kind, state, n)
		}
		return rows.Err()
	case c.pgx != nil:
		rows, err := c.pgx.Query(ctx, queueDepthQuery)
		if err != nil {
			return fmt.Errorf("counting queued jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var kind, state string
			var n int64
			if err := rows.Scan(&kind, &state, &n); err != nil {
				return fmt.Errorf("counting queued jobs: %w", err)
			}
			add(kind, state, n)
		}
		return rows.Err()
	}
	return nil
}
