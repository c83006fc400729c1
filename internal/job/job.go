// Package job defines Palisade's durable jobs — their arguments, their
// workers and their schedules — and the Runner that works them: a River
// client on the store's own database, built where the jobs are wired, with
// every worker given what it needs before the first job runs. The store
// only inserts jobs (in its own transactions where a record and its job
// must commit together); this package works them.
//
// Workers must be idempotent: River retries a failed job, and a retry must
// never repeat a side effect that already happened. A job that acts in a
// tenant's scope carries a MAC over its arguments (ArgsKey), and is never
// worked without it: the queue table is open to every tenant's jobs.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

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

// Deps are what the workers need.
type Deps struct {
	Store store.Maintenance
	// ArgsKey authenticates the arguments of inbound jobs (a key derived
	// from the master key); the same key made them.
	ArgsKey *ArgsKey
	// Sealer opens the sealed text of inbound messages.
	Sealer store.Sealer
	// Conversations answers inbound messages.
	Conversations Conversations
	// Mail sends the account e-mails the account service queues.
	Mail AccountMail
	// Replier sends answers back through their channel; nil leaves
	// jobs that name a channel retrying.
	Replier Replier
	// Events delivers outgoing webhook events; nil leaves event jobs
	// retrying.
	Events EventSender
	Now    func() time.Time
	Logger *slog.Logger
}

// RunnerOptions tune how jobs are fetched and worked.
type RunnerOptions struct {
	// PollOnly fetches by polling alone, without listening for inserts
	// (River listens on PostgreSQL with LISTEN/NOTIFY and on SQLite
	// through a notification table).
	PollOnly bool
	// PollInterval is how often to poll for new jobs; zero means a
	// second.
	PollInterval time.Duration
	// MaxWorkers is the most jobs worked at once; zero means 4.
	MaxWorkers int
	// RetryPolicy says when a failed job is tried again; nil is River's
	// default (attempt⁴ seconds). Tests shorten it.
	RetryPolicy river.ClientRetryPolicy
	// FetchCooldown is the shortest time between two fetches; zero means
	// the poll interval or River's default, whichever is shorter. A short
	// one lets a job inserted just after a fetch start soon.
	FetchCooldown time.Duration
}

// ClientUser takes the client that works the jobs, to insert through it
// (*sqlstore.RiverInserter): River wakes a client's own workers when it
// inserts, so jobs inserted in this process start at once rather than at
// the next poll, which matters on SQLite, where nothing notifies.
type ClientUser[TTx any] interface {
	UseClient(*river.Client[TTx])
}

// Runner works the jobs of this process. Start and Stop are safe to call
// more than once.
type Runner struct {
	start func(context.Context) error
	stop  func(context.Context) error

	mu      sync.Mutex
	started bool
}

// NewRunner builds the working client on driver, the store's own database,
// with every worker and schedule of this package, and hands it to users
// (the store's inserter) to insert through.
func NewRunner[TTx any](driver riverdriver.Driver[TTx], d Deps, o RunnerOptions, users ...ClientUser[TTx]) (*Runner, error) {
	if d.Store == nil || d.Conversations == nil || d.Mail == nil || d.ArgsKey == nil {
		return nil, errors.New("job: Store, Conversations, Mail and ArgsKey are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &PruneWorker{Store: d.Store, Now: d.Now, Logger: d.Logger})
	river.AddWorker(workers, &InboundWorker{ArgsKey: d.ArgsKey, Sealer: d.Sealer, Conversations: d.Conversations, Replier: d.Replier, Logger: d.Logger})
	river.AddWorker(workers, &AccountMailWorker{Mail: d.Mail, Logger: d.Logger})
	river.AddWorker(workers, &EventWorker{ArgsKey: d.ArgsKey, Sender: d.Events, Logger: d.Logger})
	n := o.MaxWorkers
	if n <= 0 {
		n = 4
	}
	poll := o.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	cooldown := o.FetchCooldown
	if cooldown <= 0 || cooldown > poll {
		cooldown = min(poll, river.FetchCooldownDefault)
	}
	client, err := river.NewClient(driver, &river.Config{
		Logger:            d.Logger,
		PollOnly:          o.PollOnly,
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}},
		FetchPollInterval: poll,
		FetchCooldown:     cooldown,
		RetryPolicy:       o.RetryPolicy,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return PruneArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the job runner: %w", err)
	}
	for _, u := range users {
		u.UseClient(client)
	}
	return &Runner{start: client.Start, stop: client.Stop}, nil
}

// Start begins working jobs.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	if err := r.start(ctx); err != nil {
		return fmt.Errorf("starting job workers: %w", err)
	}
	r.started = true
	return nil
}

// Stop lets running jobs finish until ctx ends.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return nil
	}
	r.started = false
	if err := r.stop(ctx); err != nil {
		return fmt.Errorf("stopping job workers: %w", err)
	}
	return nil
}
