package job_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestRescueThresholdExceedsTheTimeout: whatever the job time-out, a job
// is taken for abandoned only after it (a job still running in a live
// process is never worked twice), and a killed process's jobs run again
// within a bound stated in the README (eight minutes by default).
func TestRescueThresholdExceedsTheTimeout(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{time.Second, 3 * time.Second, time.Minute, job.InboundTimeout, time.Hour} {
		if r := job.RescueAfter(d); r <= d || r-d < 2*time.Second {
			t.Errorf("RescueAfter(%s) = %s: no margin over the time-out", d, r)
		}
		if b := job.RecoveryBound(d); b <= job.RescueAfter(d) {
			t.Errorf("RecoveryBound(%s) = %s, below the rescue threshold", d, b)
		}
	}
	if b := job.RecoveryBound(job.InboundTimeout); b > 8*time.Minute {
		t.Errorf("RecoveryBound(default) = %s, want under 8 minutes", b)
	}
}

// blockingConversations holds every answer until its context ends.
type blockingConversations struct {
	started chan struct{}
	once    sync.Once
}

func (b *blockingConversations) Handle(ctx context.Context, _ palisade.Scope, _ conversation.Inbound) (conversation.Reply, error) {
	b.once.Do(func() { close(b.started) })
	<-ctx.Done()
	return conversation.Reply{}, ctx.Err()
}

// outcomes counts what OnOutcome is told.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) add(kind, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[kind+"/"+outcome]++
}

func (o *outcomes) get(kind, outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[kind+"/"+outcome]
}

// TestStopHandsRunningJobsBack: a clean shutdown whose time runs out while
// a job still runs cancels the job and hands it back, available at once
// and without spending an attempt, instead of leaving it marked running
// until it is rescued; the interruption is reported.
func TestStopHandsRunningJobsBack(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			sealer := sealtest.NewKeyring(t)
			s := jobOpeners[dialect](t, store.Options{Sealer: sealer})
			t.Cleanup(func() { s.Close() })
			conv := &blockingConversations{started: make(chan struct{})}
			seen := &outcomes{n: map[string]int{}}
			d := job.Deps{Store: s, ArgsKey: testArgsKey(t), Sealer: sealer, Conversations: conv, Mail: noMail{}, Now: time.Now,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			o := job.RunnerOptions{PollInterval: 20 * time.Millisecond, JobTimeout: time.Minute, OnOutcome: seen.add}
			var r *job.Runner
			var err error
			switch st := s.(type) {
			case *sqlite.Store:
				o.PollOnly = true
				r, err = job.NewRunner(riversqlite.New(st.DB()), d, o)
			case *postgres.Store:
				r, err = job.NewRunner(riverpgxv5.New(st.Pool()), d, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "Stop", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			e := inboundEnv{s: s, sealer: sealer, key: d.ArgsKey, scope: palisade.ScopeFor(ws.ID), bot: palisade.Bot{ID: "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}
			e.enqueue(t, e.args(t, "1", "hello"))
			select {
			case <-conv.started:
			case <-time.After(30 * time.Second):
				t.Fatal("the job never started")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			began := time.Now()
			if err := r.Stop(ctx); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Fatalf("stop took %s, beyond its deadline", took)
			}
			if rows := e.jobs(t); len(rows) != 1 || rows[0].state != "available" {
				t.Fatalf("jobs after the stop = %+v, want one available", rows)
			}
			waitFor(t, "the interruption to be reported", func() bool { return seen.get(job.InboundArgs{}.Kind(), job.OutcomeInterrupted) == 1 })
		})
	}
}

// slowConversations answers after a delay, whatever its context says.
type slowConversations struct {
	started chan struct{}
	once    sync.Once
	delay   time.Duration
}

func (c *slowConversations) Handle(ctx context.Context, _ palisade.Scope, _ conversation.Inbound) (conversation.Reply, error) {
	c.once.Do(func() { close(c.started) })
	select {
	case <-time.After(c.delay):
		return conversation.Reply{Text: "done"}, nil
	case <-ctx.Done():
		return conversation.Reply{}, ctx.Err()
	}
}

// TestStopLetsRunningJobsFinishAfterTheSignal: the context the runner was
// started with ends when the shutdown begins (SIGTERM); a job running then
// still finishes within Stop's time instead of being cancelled at once.
func TestStopLetsRunningJobsFinishAfterTheSignal(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			sealer := sealtest.NewKeyring(t)
			s := jobOpeners[dialect](t, store.Options{Sealer: sealer})
			t.Cleanup(func() { s.Close() })
			conv := &slowConversations{started: make(chan struct{}), delay: 500 * time.Millisecond}
			seen := &outcomes{n: map[string]int{}}
			d := job.Deps{Store: s, ArgsKey: testArgsKey(t), Sealer: sealer, Conversations: conv, Mail: noMail{}, Now: time.Now,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			o := job.RunnerOptions{PollInterval: 20 * time.Millisecond, JobTimeout: time.Minute, OnOutcome: seen.add}
			var r *job.Runner
			var err error
			switch st := s.(type) {
			case *sqlite.Store:
				o.PollOnly = true
				r, err = job.NewRunner(riversqlite.New(st.DB()), d, o)
			case *postgres.Store:
				r, err = job.NewRunner(riverpgxv5.New(st.Pool()), d, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			signal, stopSignal := context.WithCancel(t.Context())
			defer stopSignal()
			if err := r.Start(signal); err != nil {
				t.Fatal(err)
			}
			ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "Signal", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			e := inboundEnv{s: s, sealer: sealer, key: d.ArgsKey, scope: palisade.ScopeFor(ws.ID), bot: palisade.Bot{ID: "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}
			e.enqueue(t, e.args(t, "1", "hello"))
			select {
			case <-conv.started:
			case <-time.After(30 * time.Second):
				t.Fatal("the job never started")
			}
			stopSignal()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if rows := e.jobs(t); len(rows) != 1 || rows[0].state != "completed" {
				t.Fatalf("jobs after the stop = %+v, want one completed", rows)
			}
			if n := seen.get(job.InboundArgs{}.Kind(), job.OutcomeInterrupted); n != 0 {
				t.Fatalf("%d interruptions reported, want none", n)
			}
		})
	}
}
