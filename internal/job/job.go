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
	"github.com/riverqueue/river/rivertype"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/store"
)

// PruneArgs asks for expired short-lived records, and messages and
// conversations past their retention, to be deleted.
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

// PruneWorker deletes expired one-time tokens, sessions, invitations and
// dedupe records, and the messages and conversations older than their
// retention.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Store  store.Maintenance
	Now    func() time.Time
	Logger *slog.Logger
}

func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	r, err := w.Store.PruneAll(ctx, w.Now(), DedupeTTL)
	if err != nil {
		return fmt.Errorf("pruning expired records: %w", err)
	}
	attrs := []any{"rows", r.Total()}
	for _, c := range r {
		if c.Rows > 0 {
			attrs = append(attrs, c.Kind, c.Rows)
		}
	}
	w.Logger.InfoContext(ctx, "pruned expired records", attrs...)
	return nil
}

// Deps are what the workers need.
type Deps struct {
	// Store prunes, and orders the replies of a conversation.
	Store interface {
		store.Maintenance
		store.ReplyOrdering
	}
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
	// JobTimeout is the longest one attempt of any job may run before its
	// context is cancelled; zero means InboundTimeout. A job left running
	// by a process that died is rescued once RescueAfter(JobTimeout) has
	// passed since its attempt began (see RecoveryBound).
	JobTimeout time.Duration
	// OnOutcome, if set, is told the end of every attempt by job kind
	// (Outcomes lists what it may be told): for metrics.
	OnOutcome func(kind, outcome string)
}

// The outcomes of a job attempt OnOutcome is told.
const (
	// OutcomeCompleted: the job is done.
	OutcomeCompleted = "completed"
	// OutcomeRetried: the attempt failed; the job runs again after a
	// backoff.
	OutcomeRetried = "retried"
	// OutcomeDiscarded: the last attempt failed; the job is given up,
	// kept in the discarded state with the error of every attempt.
	OutcomeDiscarded = "discarded"
	// OutcomeCancelled: refused for good (malformed or forged arguments,
	// a deleted bot, a chat that is gone); never retried.
	OutcomeCancelled = "cancelled"
	// OutcomeSnoozed: the job waits out a platform's rate-limit answer.
	OutcomeSnoozed = "snoozed"
	// OutcomeInterrupted: the process shut down while the job ran; it was
	// handed back to run again at once.
	OutcomeInterrupted = "interrupted"
)

// Outcomes lists every outcome, for metrics that initialise their labels.
func Outcomes() []string {
	return []string{OutcomeCompleted, OutcomeRetried, OutcomeDiscarded, OutcomeCancelled, OutcomeSnoozed, OutcomeInterrupted}
}

// Kinds lists the kind of every job this package works.
func Kinds() []string {
	return []string{PruneArgs{}.Kind(), InboundArgs{}.Kind(), account.MailJob{}.Kind(), EventArgs{}.Kind()}
}

// rescueMargin is how long past its time-out a job still counts as
// running: the time a cancelled attempt takes to unwind and record its
// outcome.
func rescueMargin(timeout time.Duration) time.Duration {
	return min(max(timeout/5, 2*time.Second), time.Minute)
}

// RescueAfter is how long after an attempt began a job still marked
// running is taken for abandoned (its process died) and scheduled again.
// It is always longer than the job time-out, so a job still running in a
// live process is never rescued: by then its context was cancelled.
func RescueAfter(timeout time.Duration) time.Duration {
	return timeout + rescueMargin(timeout)
}

// Maintenance intervals of River that bound how soon an abandoned job is
// rescued: the leadership a dead process held expires after
// leaderTTL, and the leader looks for abandoned jobs every
// rescuerInterval; a rescued job then waits its retry backoff and at
// most schedulerInterval.
const (
	leaderTTL          = 15 * time.Second
	rescuerInterval    = 30 * time.Second
	schedulerInterval  = 5 * time.Second
	firstRetryBackoff  = time.Second
	recoverySafetySlop = 5 * time.Second
)

// RecoveryBound is the longest a job left running by a process that was
// killed waits before it runs again, once a process works jobs on the
// database: its rescue threshold, the expiry of the dead process's
// leadership, one rescuer period, the first retry's backoff and one
// scheduler period. With the default time-out (five minutes) it is under
// eight minutes. A clean shutdown hands running jobs back at once (see
// Runner.Stop).
func RecoveryBound(timeout time.Duration) time.Duration {
	return RescueAfter(timeout) + leaderTTL + rescuerInterval + schedulerInterval + firstRetryBackoff + recoverySafetySlop
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
	start  func(context.Context) error
	stop   func(context.Context) error
	cancel func(context.Context) error
	watch  func(context.Context)
	// unwatch ends the outcome watcher.
	unwatch context.CancelFunc

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
	timeout := o.JobTimeout
	if timeout <= 0 {
		timeout = InboundTimeout
	}
	river.AddWorker(workers, &InboundWorker{ArgsKey: d.ArgsKey, Sealer: d.Sealer, Conversations: d.Conversations, Replier: d.Replier, Order: d.Store,
		Logger: d.Logger, TimeoutAfter: timeout})
	river.AddWorker(workers, &AccountMailWorker{Mail: d.Mail, Logger: d.Logger, MaxTimeout: timeout})
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
		// Every kind gets the same time-out, and a job is rescued only
		// well after it: River would otherwise wait an hour before
		// retrying the jobs of a process that died.
		JobTimeout:           timeout,
		RescueStuckJobsAfter: RescueAfter(timeout),
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
	r := &Runner{start: client.Start, stop: client.Stop, cancel: client.StopAndCancel}
	if o.OnOutcome != nil {
		r.watch = func(ctx context.Context) { watchOutcomes(ctx, client, o.OnOutcome) }
	}
	return r, nil
}

// watchOutcomes tells report the outcome of every attempt the client
// finishes until ctx ends.
func watchOutcomes[TTx any](ctx context.Context, client *river.Client[TTx], report func(kind, outcome string)) {
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: 10_000, Kinds: []river.EventKind{river.EventKindJobCompleted,
		river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed, river.EventKindJobInterrupted}})
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				if e == nil || e.Job == nil {
					continue
				}
				report(e.Job.Kind, outcomeOf(e))
			}
		}
	}()
}

func outcomeOf(e *river.Event) string {
	switch e.Kind {
	case river.EventKindJobCompleted:
		return OutcomeCompleted
	case river.EventKindJobCancelled:
		return OutcomeCancelled
	case river.EventKindJobSnoozed:
		return OutcomeSnoozed
	case river.EventKindJobInterrupted:
		return OutcomeInterrupted
	}
	if e.Job.State == rivertype.JobStateDiscarded {
		return OutcomeDiscarded
	}
	return OutcomeRetried
}

// Start begins working jobs until Stop; the end of ctx does not stop them.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	// River treats the end of Start's context as a hard stop, cancelling
	// running jobs at once; the caller's context ends when the shutdown
	// begins (SIGTERM), and Stop is what must decide how long running jobs
	// get to finish.
	if err := r.start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting job workers: %w", err)
	}
	if r.watch != nil {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r.unwatch = cancel
		r.watch(wctx)
	}
	r.started = true
	return nil
}

// hardStopReserve is the share of the stop time kept for the hard stop:
// enough for cancelled jobs to unwind and their hand-back to be written.
const hardStopReserve = 4

// Stop lets running jobs finish, then hands back those still running:
// until most of ctx's time is spent it waits (a soft stop); then it
// cancels the jobs' contexts, and River makes each interrupted job
// available again at once, without spending an attempt, for this process
// after a restart or for another one. Without that, a job still running
// when the process exits stays marked running until it is rescued
// (RecoveryBound). Without a deadline on ctx, Stop waits for the jobs.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return nil
	}
	r.started = false
	if r.unwatch != nil {
		defer r.unwatch()
	}
	soft := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		soft, cancel = context.WithDeadline(ctx, deadline.Add(-time.Until(deadline)/hardStopReserve))
		defer cancel()
	}
	err := r.stop(soft)
	if err != nil && ctx.Err() == nil {
		err = r.cancel(ctx)
	}
	if err != nil {
		return fmt.Errorf("stopping job workers: %w", err)
	}
	return nil
}
