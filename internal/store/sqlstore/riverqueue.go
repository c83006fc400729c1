package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/palisadehq/palisade/internal/store"
)

// RiverQueue is the durable job queue on the store's own database, over
// either dialect's River driver.
type RiverQueue[TTx any] struct {
	client     *river.Client[TTx]
	hasWorkers bool

	mu      sync.Mutex
	started bool
}

// NewRiverQueue builds the queue. Without workers the client only inserts.
func NewRiverQueue[TTx any](driver riverdriver.Driver[TTx], opts store.Options, pollOnly bool) (*RiverQueue[TTx], error) {
	cfg := &river.Config{Logger: opts.Logger, PollOnly: pollOnly}
	hasWorkers := opts.Workers != nil
	if hasWorkers {
		n := opts.JobWorkers
		if n <= 0 {
			n = 4
		}
		poll := opts.JobPollInterval
		if poll <= 0 {
			poll = time.Second
		}
		cfg.Workers = opts.Workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}}
		cfg.FetchPollInterval = poll
		cfg.FetchCooldown = min(poll, river.FetchCooldownDefault)
		cfg.PeriodicJobs = opts.PeriodicJobs
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating job queue client: %w", err)
	}
	return &RiverQueue[TTx]{client: client, hasWorkers: hasWorkers}, nil
}

// Client exposes the River client to the job package's tests and tools.
func (q *RiverQueue[TTx]) Client() *river.Client[TTx] { return q.client }

func (q *RiverQueue[TTx]) Enqueue(ctx context.Context, args store.JobArgs) error {
	if _, err := q.client.Insert(ctx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// InsertTx enqueues in the caller's transaction.
func (q *RiverQueue[TTx]) InsertTx(ctx context.Context, tx TTx, args store.JobArgs) error {
	if _, err := q.client.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// Start begins working jobs; a queue without workers has nothing to start.
func (q *RiverQueue[TTx]) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.hasWorkers || q.started {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("starting job workers: %w", err)
	}
	q.started = true
	return nil
}

// Stop lets running jobs finish until ctx ends; it is idempotent.
func (q *RiverQueue[TTx]) Stop(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		return nil
	}
	q.started = false
	if err := q.client.Stop(ctx); err != nil {
		return fmt.Errorf("stopping job workers: %w", err)
	}
	return nil
}
