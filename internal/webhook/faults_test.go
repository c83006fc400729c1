package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// outcomes counts the job outcomes the runner reports, as the metric
// palisade_jobs_total does.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func newOutcomes() *outcomes { return &outcomes{n: map[string]int{}} }

func (o *outcomes) add(kind, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[kind+"/"+outcome]++
}

func (o *outcomes) inbound(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[job.InboundArgs{}.Kind()+"/"+outcome]
}

// attemptError is one entry of a River job's recorded errors.
type attemptError struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

// jobErrors reads the errors River recorded for the only inbound job.
func (st *stack) jobErrors(t testing.TB) []attemptError {
	t.Helper()
	d := st.s.(interface{ Driver() sqlstore.Driver }).Driver()
	q := `SELECT COALESCE(json(errors), '[]') FROM river_job WHERE kind = $1`
	if st.s.Dialect() == store.DialectPostgres {
		q = `SELECT COALESCE(array_to_json(errors)::text, '[]') FROM river_job WHERE kind = $1`
	}
	var raw string
	err := d.InTx(context.Background(), sqlstore.TxScope{}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(context.Background(), q, job.InboundArgs{}.Kind()).Scan(&raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []attemptError
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("job errors %q: %v", raw, err)
	}
	return out
}

// deliveries counts the workspace's dedupe records.
func (st *stack) deliveries(t testing.TB) int {
	t.Helper()
	d := st.s.(interface{ Driver() sqlstore.Driver }).Driver()
	var n int
	err := d.InTx(context.Background(), sqlstore.TxScope{Workspace: st.scope.Workspace()}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT COUNT(*) FROM deliveries WHERE workspace_id = $1`, string(st.scope.Workspace())).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitWithin polls until cond holds, for at most within.
func waitWithin(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

// TestRateLimitAnswersAreWaitedOut, on SQLite and PostgreSQL: Telegram's
// flood-control answer (429 with retry_after) is retried after that delay,
// never before — within the attempt when the wait is short, by snoozing
// the job (visible as scheduled) when it is long — and the reply arrives
// once.
func TestRateLimitAnswersAreWaitedOut(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name       string
				retryAfter int
				inline     time.Duration
				snoozed    int
			}{
				{"waited within the attempt", 1, 0, 0},
				{"the job snoozed", 2, 100 * time.Millisecond, 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					seen := newOutcomes()
					st := newStack(t, dialect, stackOptions{realSleep: true, maxInlineWait: tc.inline, onOutcome: seen.add})
					st.connect(t)
					st.fake.Fail(channeltest.TooManyRequests(tc.retryAfter))
					if status, err := st.fake.Deliver(t.Context(), botToken, channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")); err != nil || status != http.StatusOK {
						t.Fatalf("delivery: %d, %v", status, err)
					}
					if tc.snoozed > 0 {
						// Snoozed: back in the queue (scheduled, or available
						// with a later start when the wait is short) after
						// one refused call.
						waitFor(t, "the job to wait in the queue", func() bool {
							s := st.jobStates(t)
							return len(s) == 1 && (s[0] == "scheduled" || s[0] == "available") && len(st.fake.CallsOf("sendMessage")) == 1
						})
					}
					waitFor(t, "the reply", func() bool { return len(st.fake.Sent()) == 1 })
					calls := st.fake.CallsOf("sendMessage")
					if len(calls) != 2 {
						t.Fatalf("sendMessage calls = %d, want 2", len(calls))
					}
					if gap, want := calls[1].At.Sub(calls[0].At), time.Duration(tc.retryAfter)*time.Second; gap < want {
						t.Fatalf("retried after %s, before the %s retry_after asked for", gap, want)
					}
					waitFor(t, "the job to complete", func() bool { return seen.inbound(job.OutcomeCompleted) == 1 })
					if n := seen.inbound(job.OutcomeSnoozed); n != tc.snoozed {
						t.Fatalf("snoozed %d times, want %d", n, tc.snoozed)
					}
					time.Sleep(100 * time.Millisecond)
					if n := len(st.fake.Sent()); n != 1 {
						t.Fatalf("%d replies, want 1", n)
					}
				})
			}
		})
	}
}

// TestPlatformOutageFailsVisiblyAndLosesNothing, on SQLite and
// PostgreSQL, with Telegram answering 502 and with Telegram unreachable
// (connection refused): the job retries with backoff, every attempt's
// error recorded, and ends discarded, each outcome reported; the delivery
// record, the message and its stored answer stay; nothing is sent.
func TestPlatformOutageFailsVisiblyAndLosesNothing(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				down func(*channeltest.Telegram)
			}{
				{"answering 502", func(f *channeltest.Telegram) { f.SetDown(true) }},
				{"connection refused", func(f *channeltest.Telegram) { f.Close() }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					seen := newOutcomes()
					st := newStack(t, dialect, stackOptions{onOutcome: seen.add})
					st.connect(t)
					tc.down(st.fake)
					if status, err := st.fake.Deliver(t.Context(), botToken, channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")); err != nil || status != http.StatusOK {
						t.Fatalf("delivery: %d, %v", status, err)
					}
					// Ten attempts: on a loaded machine that takes a while.
					waitWithin(t, "the job to be discarded", 3*time.Minute, func() bool {
						s := st.jobStates(t)
						return len(s) == 1 && s[0] == "discarded"
					})
					waitFor(t, "the outcomes to be reported", func() bool { return seen.inbound(job.OutcomeDiscarded) == 1 })
					if n := seen.inbound(job.OutcomeRetried); n != job.InboundMaxAttempts-1 {
						t.Fatalf("retried %d times, want %d", n, job.InboundMaxAttempts-1)
					}
					if n := seen.inbound(job.OutcomeCompleted); n != 0 {
						t.Fatalf("%d completions while the platform was down", n)
					}
					errs := st.jobErrors(t)
					if len(errs) != job.InboundMaxAttempts {
						t.Fatalf("%d errors recorded, want one per attempt (%d): %+v", len(errs), job.InboundMaxAttempts, errs)
					}
					for i, e := range errs {
						if e.Attempt != i+1 || !strings.Contains(e.Error, "sending the reply") {
							t.Fatalf("error %d = %+v", i, e)
						}
					}
					if len(st.fake.Sent()) != 0 {
						t.Fatal("a message was sent while Telegram was down")
					}
					if n := st.deliveries(t); n != 1 {
						t.Fatalf("%d delivery records, want 1", n)
					}
					in := conversation.Inbound{BotID: st.bot.ID, Channel: "telegram", UserID: "111111111"}
					conv, err := st.s.OpenConversation(t.Context(), st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "telegram", Now: time.Now()})
					if err != nil {
						t.Fatal(err)
					}
					if msgs, _ := st.s.ListMessages(t.Context(), st.scope, conv.ID, 10); len(msgs) != 2 {
						t.Fatalf("stored messages = %+v", msgs)
					}
				})
			}
		})
	}
}
