// Package job defines Palisade's durable jobs — their arguments, their
// workers and their schedules — on River, the queue that lives in the
// store's own database. The store runs the queue; this package says what
// it works.
//
// Workers must be idempotent: River retries a failed job, and a retry must
// never repeat a side effect that already happened.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/store"
)

// PruneArgs asks for expired short-lived records to be deleted.
type PruneArgs struct{}

// Kind is River's name for the job.
func (PruneArgs) Kind() string { return "prune_expired" }

// InsertOpts makes pruning unique per period so a crowd of processes never
// stacks up copies.
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 10 * time.Minute}}
}

// DedupeTTL is how long webhook dedupe records are kept: longer than any
// platform retries a delivery (Telegram keeps updates 24 hours; WhatsApp
// retries for up to 7 days).
const DedupeTTL = 8 * 24 * time.Hour

// PruneWorker deletes expired one-time tokens, invitations and dedupe
// records.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Store  store.Maintenance
	Now    func() time.Time
	Logger *slog.Logger
}

func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	n, err := w.Store.PruneExpired(ctx, w.Now(), DedupeTTL)
	if err != nil {
		return fmt.Errorf("pruning expired records: %w", err)
	}
	w.Logger.InfoContext(ctx, "pruned expired records", "rows", n)
	return nil
}

// Deps are what the workers need. The store is filled in after it is
// opened: River looks workers up when it starts, not when they are added.
type Deps struct {
	Store  store.Store
	Now    func() time.Time
	Logger *slog.Logger
	// Sealer opens the sealed text of inbound messages.
	Sealer store.Sealer
	// Generator answers inbound messages; nil answers in retrieval-only
	// mode.
	Generator conversation.Generator
}

// Registry holds the workers and periodic jobs of the process.
type Registry struct {
	Workers  *river.Workers
	Periodic []*river.PeriodicJob
	prune    *PruneWorker
	inbound  *InboundWorker
}

// NewRegistry registers every worker. Call Bind once the store is open and
// before the queue starts.
func NewRegistry() *Registry {
	r := &Registry{Workers: river.NewWorkers(), prune: &PruneWorker{}, inbound: &InboundWorker{}}
	river.AddWorker(r.Workers, r.prune)
	river.AddWorker(r.Workers, r.inbound)
	r.Periodic = []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
	}
	return r
}

// Bind gives the workers their dependencies.
func (r *Registry) Bind(d Deps) {
	r.prune.Store, r.prune.Now, r.prune.Logger = d.Store, d.Now, d.Logger
	r.inbound.Store, r.inbound.Sealer, r.inbound.Generator, r.inbound.Now, r.inbound.Logger = d.Store, d.Sealer, d.Generator, d.Now, d.Logger
}

// Options are the store options that run this registry's jobs.
func (r *Registry) Options(o store.Options) store.Options {
	o.Workers, o.PeriodicJobs = r.Workers, r.Periodic
	return o
}
