// Package ratelimittest is the conformance suite every ratelimit.Limiter
// backend passes, and a controllable clock for tests of code that limits.
//
// It must never be imported by non-test code, and its suite must never
// depend on wall-clock time: every instant comes from the Clock it hands to
// the backend under test.
package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Start is the instant the suite's clocks start at: whole seconds, so every
// step of the suite is exact in milliseconds and microseconds.
func Start() time.Time { return time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC) }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// NewLimiterFunc builds a fresh, empty limiter reading time from clock.
type NewLimiterFunc func(t *testing.T, clock func() time.Time) ratelimit.Limiter

// Run runs the conformance suite against limiters made by newLimiter. Every
// subtest gets its own limiter and clock and runs in parallel.
//
// Times in the suite move in whole milliseconds, the resolution every backend
// must honour exactly (Memory works in nanoseconds, Redis in microseconds):
// a request admitted at t counts until t+Window and not a millisecond less.
func Run(t *testing.T, newLimiter NewLimiterFunc) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, l ratelimit.Limiter, clk *Clock)
	}{
		{"FirstDecision", testFirstDecision},
		{"BurstThenWindowEdge", testBurstThenWindowEdge},
		{"SpreadWindowEdge", testSpreadWindowEdge},
		{"MatchesReferenceModel", testMatchesReferenceModel},
		{"FloodOnOneKeyLeavesOthers", testFloodIsolation},
		{"PolicyNamesIsolateKeys", testPolicyIsolation},
		{"KeysAreNotAmbiguous", testKeysNotAmbiguous},
		{"ConcurrentCallersNeverExceedLimit", testConcurrent},
		{"LoweredLimit", testLoweredLimit},
		{"ClockSteppingBackNeverAdmitsMore", testClockBack},
		{"InvalidPolicyIsAnError", testInvalidPolicy},
		{"RefundTakesBackTheNewestAdmission", testRefund},
		{"RefundNeverReachesPastTheWindow", testRefundWindow},
		{"ConcurrentRefundsNeverExceedLimit", testConcurrentRefunds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := NewClock(Start())
			l := newLimiter(t, clk.Now)
			tc.fn(t, l, clk)
		})
	}
}

func allow(t *testing.T, l ratelimit.Limiter, p ratelimit.Policy, key string) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), p, key)
	if err != nil {
		t.Fatalf("Allow(%v, %q): %v", p, key, err)
	}
	return d
}

func expect(t *testing.T, what string, got, want ratelimit.Decision) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func admitted(p ratelimit.Policy, remaining int) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, Policy: p, Limit: p.Limit, Remaining: remaining, Reset: p.Window}
}

func refused(p ratelimit.Policy, retry, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Policy: p, Limit: p.Limit, RetryAfter: retry, Reset: reset}
}

func testFirstDecision(t *testing.T, l ratelimit.Limiter, _ *Clock) {
	p := ratelimit.Policy{Name: "first", Limit: 3, Window: time.Minute}
	expect(t, "first request", allow(t, l, p, "k"), admitted(p, 2))
}

// A burst uses the whole limit at one instant; the next request is refused
// until exactly one window later.
func testBurstThenWindowEdge(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "burst", Limit: 5, Window: time.Minute}
	for i := range p.Limit {
		expect(t, fmt.Sprintf("request %d", i+1), allow(t, l, p, "k"), admitted(p, p.Limit-i-1))
	}
	expect(t, "request Limit+1", allow(t, l, p, "k"), refused(p, time.Minute, time.Minute))
	clk.Advance(time.Minute - time.Millisecond)
	expect(t, "one millisecond before the window ends", allow(t, l, p, "k"),
		refused(p, time.Millisecond, time.Millisecond))
	clk.Advance(time.Millisecond)
	for i := range p.Limit {
		expect(t, fmt.Sprintf("request %d of the next window", i+1), allow(t, l, p, "k"), admitted(p, p.Limit-i-1))
	}
	expect(t, "request Limit+1 of the next window", allow(t, l, p, "k"), refused(p, time.Minute, time.Minute))
}

// Requests spread over the window come back one by one, each exactly a
// window after it was admitted, and Retry-After names that moment.
func testSpreadWindowEdge(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "spread", Limit: 4, Window: time.Minute}
	t0 := clk.Now()
	for i := range p.Limit { // at 0s, 10s, 20s, 30s
		clk.Set(t0.Add(time.Duration(i) * 10 * time.Second))
		expect(t, fmt.Sprintf("request at %ds", i*10), allow(t, l, p, "k"), admitted(p, p.Limit-i-1))
	}
	clk.Set(t0.Add(45 * time.Second))
	expect(t, "refusal at 45s", allow(t, l, p, "k"), refused(p, 15*time.Second, 45*time.Second))
	clk.Set(t0.Add(time.Minute - time.Millisecond))
	expect(t, "refusal at 59.999s", allow(t, l, p, "k"), refused(p, time.Millisecond, 30*time.Second+time.Millisecond))
	clk.Set(t0.Add(time.Minute))
	expect(t, "at 60s the request of 0s has left", allow(t, l, p, "k"), admitted(p, 0))
	expect(t, "and the window is full again", allow(t, l, p, "k"), refused(p, 10*time.Second, time.Minute))
	clk.Set(t0.Add(70*time.Second - time.Millisecond))
	expect(t, "refusal at 69.999s", allow(t, l, p, "k"), refused(p, time.Millisecond, 50*time.Second+time.Millisecond))
	clk.Set(t0.Add(70 * time.Second))
	expect(t, "at 70s the request of 10s has left", allow(t, l, p, "k"), admitted(p, 0))
}

// model is an exact sliding log written as plainly as possible.
type model struct {
	p        ratelimit.Policy
	admitted []time.Time
}

func (m *model) decide(now time.Time) ratelimit.Decision {
	var live []time.Time
	for _, a := range m.admitted {
		if a.After(now.Add(-m.p.Window)) {
			live = append(live, a)
		}
	}
	if len(live) < m.p.Limit {
		m.admitted = append(m.admitted, now)
		return admitted(m.p, m.p.Limit-len(live)-1)
	}
	return refused(m.p, live[len(live)-m.p.Limit].Add(m.p.Window).Sub(now), live[len(live)-1].Add(m.p.Window).Sub(now))
}

// A long pseudo-random schedule: every decision matches the model, and no
// interval of one window ever holds more than Limit admissions.
func testMatchesReferenceModel(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "model", Limit: 7, Window: 30 * time.Second}
	m := &model{p: p}
	rng := rand.New(rand.NewPCG(1, 2))
	var got []time.Time
	for i := range 400 {
		// Mostly short gaps, sometimes several at one instant, sometimes a
		// long pause, so that every state of the log is visited.
		switch r := rng.IntN(10); {
		case r < 2:
		case r < 9:
			clk.Advance(time.Duration(rng.IntN(6000)) * time.Millisecond)
		default:
			clk.Advance(time.Duration(rng.IntN(40_000)) * time.Millisecond)
		}
		now := clk.Now()
		want := m.decide(now)
		d := allow(t, l, p, "k")
		expect(t, fmt.Sprintf("decision %d at %v", i, now.Sub(Start())), d, want)
		if d.Allowed {
			got = append(got, now)
		}
	}
	for i, a := range got {
		n := 0
		for _, b := range got[i:] {
			if b.Sub(a) < p.Window {
				n++
			}
		}
		if n > p.Limit {
			t.Fatalf("%d admissions within one window starting at %v, limit %d", n, a.Sub(Start()), p.Limit)
		}
	}
	if len(got) < 100 {
		t.Fatalf("only %d admissions: the schedule no longer exercises the limiter", len(got))
	}
}

func testFloodIsolation(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "webhook", Limit: 10, Window: time.Minute}
	botA, botB := ratelimit.Key("bot_a", "ch_1"), ratelimit.Key("bot_b", "ch_1")
	refusedA := 0
	for range 20 * p.Limit {
		if !allow(t, l, p, botA).Allowed {
			refusedA++
		}
	}
	if refusedA != 19*p.Limit {
		t.Fatalf("flood on bot A: %d refused, want %d", refusedA, 19*p.Limit)
	}
	clk.Advance(time.Second)
	for i := range p.Limit {
		expect(t, fmt.Sprintf("bot B request %d during A's flood", i+1), allow(t, l, p, botB), admitted(p, p.Limit-i-1))
	}
	expect(t, "bot B request Limit+1", allow(t, l, p, botB), refused(p, time.Minute, time.Minute))
	expect(t, "bot A still refused", allow(t, l, p, botA), refused(p, time.Minute-time.Second, time.Minute-time.Second))
}

func testPolicyIsolation(t *testing.T, l ratelimit.Limiter, _ *Clock) {
	a := ratelimit.Policy{Name: "login_ip", Limit: 2, Window: time.Minute}
	b := ratelimit.Policy{Name: "reset_ip", Limit: 2, Window: time.Minute}
	for range 5 {
		allow(t, l, a, "192.0.2.1")
	}
	expect(t, "same key under another policy", allow(t, l, b, "192.0.2.1"), admitted(b, 1))
	expect(t, "first policy still refuses", allow(t, l, a, "192.0.2.1"), refused(a, time.Minute, time.Minute))
}

// Pairs of (policy, key) that a careless concatenation would merge.
func testKeysNotAmbiguous(t *testing.T, l ratelimit.Limiter, _ *Clock) {
	p := func(name string) ratelimit.Policy { return ratelimit.Policy{Name: name, Limit: 1, Window: time.Minute} }
	cases := []struct {
		p   ratelimit.Policy
		key string
	}{
		{p("a"), "b:c"},
		{p("a.b"), "c"},
		{p("a"), "b"},
		{p("a"), "b\x00"},
		{p("a"), ""},
		{p("a"), " "},
		{p("a"), "B"},
		{p("a"), "ünïcode\u202e"},
		{p("a"), strings.Repeat("x", 10_000)},
		{p("a"), strings.Repeat("x", 10_001)},
		{p("a"), ratelimit.Key("b", "c")},
		{p("a"), ratelimit.Key("b:c")},
		{p("a"), ratelimit.Key("bc")},
	}
	for _, c := range cases {
		if d := allow(t, l, c.p, c.key); !d.Allowed {
			t.Fatalf("(%s, %.20q): first request refused: another pair shares its count", c.p.Name, c.key)
		}
	}
	for _, c := range cases {
		if d := allow(t, l, c.p, c.key); d.Allowed {
			t.Fatalf("(%s, %.20q): second request admitted with limit 1", c.p.Name, c.key)
		}
	}
}

func testConcurrent(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "concurrent", Limit: 50, Window: time.Minute}
	const workers, each = 16, 20 // 320 attempts per key, 6.4 times the limit
	keys := []string{"hot", "other-1", "other-2"}
	for round := range 2 {
		var got [3]atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					for j, k := range keys {
						if j > 0 && (w+i)%4 != 0 {
							continue // the hot key gets most of the traffic
						}
						d, err := l.Allow(context.Background(), p, k)
						if err != nil {
							errs <- err
							return
						}
						if d.Allowed {
							got[j].Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := got[0].Load(); n != int64(p.Limit) {
			t.Fatalf("round %d: %d of %d concurrent requests admitted on the hot key, want exactly %d",
				round, n, workers*each, p.Limit)
		}
		for j := 1; j < len(keys); j++ {
			if n := got[j].Load(); n != int64(p.Limit) {
				t.Fatalf("round %d: key %s admitted %d, want exactly %d", round, keys[j], n, p.Limit)
			}
		}
		clk.Advance(p.Window)
	}
}

// A policy whose limit is lowered (a configuration reload) keeps its log and
// waits for enough of it to leave.
func testLoweredLimit(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "lowered", Limit: 5, Window: time.Minute}
	for range 5 {
		allow(t, l, p, "k")
		clk.Advance(time.Second)
	}
	low := p
	low.Limit = 3
	// Admitted at 0..4s, now 5s: three must remain, so the one of 2s must go.
	expect(t, "lowered limit", allow(t, l, low, "k"), refused(low, 57*time.Second, 59*time.Second))
	clk.Advance(57 * time.Second)
	expect(t, "after the third oldest left", allow(t, l, low, "k"), admitted(low, 0))
}

func testClockBack(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "back", Limit: 2, Window: time.Minute}
	allow(t, l, p, "k")
	clk.Advance(30 * time.Second)
	allow(t, l, p, "k")
	clk.Advance(-20 * time.Second) // 10s: time for this key stands at 30s
	expect(t, "clock stepped back", allow(t, l, p, "k"), refused(p, 30*time.Second, time.Minute))
	clk.Advance(50*time.Second - time.Millisecond) // 59.999s
	expect(t, "before the first left", allow(t, l, p, "k"), refused(p, time.Millisecond, 30*time.Second+time.Millisecond))
	clk.Advance(time.Millisecond)
	expect(t, "exactly when the first left", allow(t, l, p, "k"), admitted(p, 0))
}

func refund(t *testing.T, l ratelimit.Limiter, p ratelimit.Policy, key string) {
	t.Helper()
	if err := l.Refund(context.Background(), p, key); err != nil {
		t.Fatalf("Refund(%v, %q): %v", p, key, err)
	}
}

// A refunded admission stops counting at once, the newest first; a refund
// of a key with nothing counted, or of another key or policy, changes
// nothing.
func testRefund(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "refund", Limit: 3, Window: time.Minute}
	other := ratelimit.Policy{Name: "refund-other", Limit: 3, Window: time.Minute}
	refund(t, l, p, "k") // nothing counted yet: a no-op
	allow(t, l, p, "k")
	clk.Advance(10 * time.Second)
	allow(t, l, p, "k")
	clk.Advance(10 * time.Second)
	allow(t, l, p, "k")
	expect(t, "full", allow(t, l, p, "k"), refused(p, 40*time.Second, time.Minute))
	refund(t, l, p, "other-key")
	refund(t, l, other, "k")
	expect(t, "refunds of another key or policy", allow(t, l, p, "k"), refused(p, 40*time.Second, time.Minute))
	refund(t, l, p, "k") // the admission of 20s goes
	// Left: 0s and 10s; the newest counted is now the one of 10s.
	expect(t, "after a refund", allow(t, l, p, "k"), admitted(p, 0))
	refund(t, l, p, "k")
	refund(t, l, p, "k")
	refund(t, l, p, "k")
	refund(t, l, p, "k") // more refunds than admissions: never below empty
	for i := range p.Limit {
		expect(t, fmt.Sprintf("request %d after emptying", i+1), allow(t, l, p, "k"), admitted(p, p.Limit-i-1))
	}
	expect(t, "full again", allow(t, l, p, "k"), refused(p, time.Minute, time.Minute))
}

// A refund reaches only admissions still inside the window: once the last
// one has left, a late refund cannot take back a newer request's count.
func testRefundWindow(t *testing.T, l ratelimit.Limiter, clk *Clock) {
	p := ratelimit.Policy{Name: "refund-window", Limit: 2, Window: time.Minute}
	allow(t, l, p, "k")
	clk.Advance(time.Minute)
	refund(t, l, p, "k") // the admission of 0s has left: nothing to refund
	allow(t, l, p, "k")
	allow(t, l, p, "k")
	expect(t, "both new admissions still count", allow(t, l, p, "k"), refused(p, time.Minute, time.Minute))
	if err := l.Refund(context.Background(), ratelimit.Policy{Name: "UPPER", Limit: 1, Window: time.Minute}, "k"); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
		t.Fatalf("Refund under an invalid policy: %v, want ErrInvalidPolicy", err)
	}
}

// Callers that each take a unit and give it back only on success, in
// parallel, never hold more than Limit units at once: the refund cannot be
// raced into admitting more than Limit failures.
func testConcurrentRefunds(t *testing.T, l ratelimit.Limiter, _ *Clock) {
	p := ratelimit.Policy{Name: "refund-concurrent", Limit: 10, Window: time.Minute}
	const workers, each = 8, 25
	var failures atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d, err := l.Allow(context.Background(), p, "k")
				if err != nil {
					errs <- err
					return
				}
				if !d.Allowed {
					continue
				}
				if (w+i)%2 == 0 { // a success: give the unit back
					if err := l.Refund(context.Background(), p, "k"); err != nil {
						errs <- err
						return
					}
					continue
				}
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := failures.Load(); n > int64(p.Limit) {
		t.Fatalf("%d failures kept their unit, limit %d", n, p.Limit)
	}
	if d := allow(t, l, p, "k"); d.Allowed != (failures.Load() < int64(p.Limit)) {
		t.Fatalf("after %d kept failures: %+v", failures.Load(), d)
	}
}

func testInvalidPolicy(t *testing.T, l ratelimit.Limiter, _ *Clock) {
	for _, p := range []ratelimit.Policy{
		{Name: "", Limit: 1, Window: time.Minute},
		{Name: `quo"te`, Limit: 1, Window: time.Minute},
		{Name: "UPPER", Limit: 1, Window: time.Minute},
		{Name: "zero", Limit: 0, Window: time.Minute},
		{Name: "negative", Limit: -1, Window: time.Minute},
		{Name: "huge", Limit: ratelimit.MaxLimit + 1, Window: time.Minute},
		{Name: "nowindow", Limit: 1},
		{Name: "short", Limit: 1, Window: time.Millisecond},
		{Name: "long", Limit: 1, Window: 25 * time.Hour},
		{Name: "fraction", Limit: 1, Window: time.Second + time.Microsecond},
	} {
		d, err := l.Allow(context.Background(), p, "k")
		if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
			t.Errorf("Allow(%+v): error %v, want ErrInvalidPolicy", p, err)
		}
		if d.Allowed {
			t.Errorf("Allow(%+v) admitted a request under an invalid policy", p)
		}
	}
}
