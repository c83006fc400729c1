package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/palisadehq/palisade/internal/store"
)

// RiverInserter is the insert side of the durable queue on the store's own
// database, over either dialect's River driver. It holds an insert-only
// River client: it never works a job, so the store needs no workers and
// the workers (package job) are built after the store, with everything they
// need.
type RiverInserter[TTx any] struct {
	// client inserts: the insert-only client, or the working client once
	// UseClient handed it over.
	client atomic.Pointer[river.Client[TTx]]
}

var _ store.JobQueue = (*RiverInserter[any])(nil)

// NewRiverInserter builds the insert-only client.
func NewRiverInserter[TTx any](driver riverdriver.Driver[TTx], logger *slog.Logger) (*RiverInserter[TTx], error) {
	client, err := river.NewClient(driver, &river.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("creating job queue client: %w", err)
	}
	q := &RiverInserter[TTx]{}
	q.client.Store(client)
	return q, nil
}

// UseClient makes inserts go through c, the client that works the jobs
// in this process (package job), from then on. River wakes a client's own
// workers when it inserts a job, so a job inserted on SQLite, which
// cannot notify, is fetched at once instead of at the next poll.
func (q *RiverInserter[TTx]) UseClient(c *river.Client[TTx]) {
	if c != nil {
		q.client.Store(c)
	}
}

func (q *RiverInserter[TTx]) Enqueue(ctx context.Context, args store.JobArgs) error {
	if _, err := q.client.Load().Insert(ctx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// InsertTx enqueues in the caller's transaction.
func (q *RiverInserter[TTx]) InsertTx(ctx context.Context, tx TTx, args store.JobArgs) error {
	if _, err := q.client.Load().InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// Count counts the jobs of kind in every state, a page of at most 10,000
// at a time.
func (q *RiverInserter[TTx]) Count(ctx context.Context, kind string) (int, error) {
	states := []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
		rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning,
		rivertype.JobStateScheduled}
	params := river.NewJobListParams().Kinds(kind).States(states...).First(10_000)
	n := 0
	for {
		res, err := q.client.Load().JobList(ctx, params)
		if err != nil {
			return 0, fmt.Errorf("counting %s jobs: %w", kind, err)
		}
		n += len(res.Jobs)
		if len(res.Jobs) < 10_000 || res.LastCursor == nil {
			return n, nil
		}
		params = params.After(res.LastCursor)
	}
}
