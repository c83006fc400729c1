package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/ratelimit/ratelimittest"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// fakeLimiter is a hand-written fake; AllowFunc decides.
type fakeLimiter struct {
	calls      atomic.Int64
	AllowFunc  func(ctx context.Context, p ratelimit.Policy, key string) (ratelimit.Decision, error)
	RefundFunc func(ctx context.Context, p ratelimit.Policy, key string) error
}

var _ ratelimit.Limiter = (*fakeLimiter)(nil)

func (f *fakeLimiter) Allow(ctx context.Context, p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	f.calls.Add(1)
	return f.AllowFunc(ctx, p, key)
}

func (f *fakeLimiter) Refund(ctx context.Context, p ratelimit.Policy, key string) error {
	f.calls.Add(1)
	if f.RefundFunc == nil {
		return nil
	}
	return f.RefundFunc(ctx, p, key)
}

// logRecorder is a slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Level == level {
			n++
		}
	}
	return n
}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused (auth hunter2)")

type fallbackSetup struct {
	fb      *ratelimit.Fallback
	primary *fakeLimiter
	clk     *ratelimittest.Clock
	logs    *logRecorder
	down    atomic.Bool
}

// setupFallback puts a fake primary, which fails while down is set and
// otherwise admits everything with Remaining 99, before a real Memory.
func setupFallback(t *testing.T) *fallbackSetup {
	t.Helper()
	s := &fallbackSetup{clk: ratelimittest.NewClock(ratelimittest.Start()), logs: &logRecorder{}}
	s.primary = &fakeLimiter{AllowFunc: func(ctx context.Context, p ratelimit.Policy, _ string) (ratelimit.Decision, error) {
		if s.down.Load() {
			return ratelimit.Decision{}, errDown
		}
		return ratelimit.Decision{Allowed: true, Policy: p, Limit: p.Limit, Remaining: 99, Reset: p.Window}, nil
	}}
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: s.clk.Now})
	fb, err := ratelimit.NewFallback(s.primary, mem, ratelimit.FallbackOptions{
		Logger: slog.New(s.logs), Clock: s.clk.Now, RetryInterval: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.fb = fb
	return s
}

var fbPolicy = ratelimit.Policy{Name: "fb", Limit: 3, Window: time.Minute}

func TestFallbackPassesThroughWhenHealthy(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	for range 10 {
		d, err := s.fb.Allow(context.Background(), fbPolicy, "k")
		if err != nil || !d.Allowed || d.Remaining != 99 {
			t.Fatalf("healthy: %+v, %v; want the primary's decision", d, err)
		}
	}
	if deg, _ := s.fb.Degraded(); deg {
		t.Fatal("degraded while the primary is healthy")
	}
	if n := len(s.logs.records); n != 0 {
		t.Fatalf("%d log records while healthy", n)
	}
}

// A failing primary: every caller still gets a decision, the backup's
// limits hold (no failing open), the outage is logged once and reported, and
// the primary is not hammered while it is down.
func TestFallbackDegradesLoudlyNotOpen(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	s.down.Store(true)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				d, err := s.fb.Allow(context.Background(), fbPolicy, "k")
				if err != nil {
					t.Errorf("Allow returned %v during an outage; it must decide instead", err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != int64(fbPolicy.Limit) {
		t.Fatalf("%d of 200 requests admitted during the outage, want the backup's limit %d", n, fbPolicy.Limit)
	}
	deg, why := s.fb.Degraded()
	if !deg {
		t.Fatal("not reported as degraded during an outage")
	}
	if !strings.Contains(why, "per process") || strings.Contains(why, "hunter2") || strings.Contains(why, "127.0.0.1") {
		t.Fatalf("Degraded detail %q: must explain, and must not carry the internal error", why)
	}
	if n := s.logs.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings for one outage, want exactly 1", n)
	}
	// Concurrent first callers may each have tried before the first failure
	// was recorded; after that, nobody may until RetryInterval has passed.
	calls := s.primary.calls.Load()
	for range 50 {
		if _, err := s.fb.Allow(context.Background(), fbPolicy, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.primary.calls.Load(); n != calls {
		t.Fatalf("primary called %d more times within the retry interval", n-calls)
	}
}

func TestFallbackRecovers(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	ctx := context.Background()
	s.down.Store(true)
	if _, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil {
		t.Fatal(err)
	}
	// Still down when the retry interval has passed: one probe, still
	// degraded, no second warning.
	s.clk.Advance(10 * time.Second)
	calls := s.primary.calls.Load()
	if _, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil {
		t.Fatal(err)
	}
	if n := s.primary.calls.Load() - calls; n != 1 {
		t.Fatalf("%d probes after the retry interval, want 1", n)
	}
	if deg, _ := s.fb.Degraded(); !deg || s.logs.count(slog.LevelWarn) != 1 {
		t.Fatalf("failed probe: degraded %v, %d warnings; want degraded and 1", deg, s.logs.count(slog.LevelWarn))
	}
	// Back up: the next probe (after another interval) returns to the primary.
	s.down.Store(false)
	s.clk.Advance(9 * time.Second)
	if d, _ := s.fb.Allow(ctx, fbPolicy, "k"); d.Remaining == 99 {
		t.Fatal("primary used before the retry interval had passed")
	}
	s.clk.Advance(time.Second)
	if d, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil || d.Remaining != 99 {
		t.Fatalf("after recovery: %+v, %v; want the primary's decision", d, err)
	}
	if deg, _ := s.fb.Degraded(); deg {
		t.Fatal("still degraded after the primary recovered")
	}
	if n := s.logs.count(slog.LevelInfo); n != 1 {
		t.Fatalf("%d recovery notices, want 1", n)
	}
	// A second outage is a new outage, with its own single warning.
	s.down.Store(true)
	for range 5 {
		if _, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.logs.count(slog.LevelWarn); n != 2 {
		t.Fatalf("%d warnings after two outages, want 2", n)
	}
}

// A caller that gives up is not an outage of the primary.
func TestFallbackCallerCancelIsNotAnOutage(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	s.primary.AllowFunc = func(ctx context.Context, _ ratelimit.Policy, _ string) (ratelimit.Decision, error) {
		<-ctx.Done()
		return ratelimit.Decision{}, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := s.fb.Allow(ctx, fbPolicy, "k")
	if err != nil || !d.Allowed {
		t.Fatalf("cancelled caller: %+v, %v; want the backup's decision", d, err)
	}
	if deg, _ := s.fb.Degraded(); deg {
		t.Fatal("a cancelled caller marked the primary as down")
	}
	if n := len(s.logs.records); n != 0 {
		t.Fatalf("%d log records for a cancelled caller", n)
	}
}

// A primary that hangs is cut off by Timeout and counts as down.
func TestFallbackTimesOutAHangingPrimary(t *testing.T) {
	t.Parallel()
	logs := &logRecorder{}
	hang := &fakeLimiter{AllowFunc: func(ctx context.Context, _ ratelimit.Policy, _ string) (ratelimit.Decision, error) {
		<-ctx.Done()
		return ratelimit.Decision{}, ctx.Err()
	}}
	fb, err := ratelimit.NewFallback(hang, ratelimit.NewMemory(ratelimit.MemoryOptions{}), ratelimit.FallbackOptions{
		Logger: slog.New(logs), Timeout: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fb.Allow(context.Background(), fbPolicy, "k")
	if err != nil || !d.Allowed {
		t.Fatalf("hanging primary: %+v, %v", d, err)
	}
	if deg, _ := fb.Degraded(); !deg || logs.count(slog.LevelWarn) != 1 {
		t.Fatal("a hanging primary was not reported")
	}
}

func TestFallbackRefusesWhenBackupFails(t *testing.T) {
	t.Parallel()
	failing := &fakeLimiter{AllowFunc: func(context.Context, ratelimit.Policy, string) (ratelimit.Decision, error) {
		return ratelimit.Decision{}, errDown
	}}
	fb, err := ratelimit.NewFallback(failing, failing, ratelimit.FallbackOptions{Logger: slog.New(&logRecorder{})})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fb.Allow(context.Background(), fbPolicy, "k")
	if err != nil {
		t.Fatalf("Allow returned %v; it must decide", err)
	}
	if d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("both backends failed and the decision was %+v; want a refusal", d)
	}
}

func TestFallbackInvalidPolicyIsAnError(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	_, err := s.fb.Allow(context.Background(), ratelimit.Policy{Name: "bad", Limit: 0, Window: time.Minute}, "k")
	if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
		t.Fatalf("invalid policy: %v", err)
	}
	if n := s.primary.calls.Load(); n != 0 {
		t.Fatalf("primary called %d times for an invalid policy", n)
	}
}

func TestNewFallbackRequiresLoggerAndLimiters(t *testing.T) {
	t.Parallel()
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, build := range map[string]func() (*ratelimit.Fallback, error){
		"no logger": func() (*ratelimit.Fallback, error) {
			return ratelimit.NewFallback(mem, mem, ratelimit.FallbackOptions{})
		},
		"no primary": func() (*ratelimit.Fallback, error) {
			return ratelimit.NewFallback(nil, mem, ratelimit.FallbackOptions{Logger: log})
		},
		"no backup": func() (*ratelimit.Fallback, error) {
			return ratelimit.NewFallback(mem, nil, ratelimit.FallbackOptions{Logger: log})
		},
	} {
		if _, err := build(); err == nil {
			t.Errorf("%s: NewFallback succeeded", name)
		}
	}
}

// tcpProxy forwards 127.0.0.1 connections to Redis until killed.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.kill)
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Go(func() { io.Copy(up, c); up.Close(); c.Close() })
		p.wg.Go(func() { io.Copy(c, up); up.Close(); c.Close() })
	}
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil { // killed meanwhile
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// kill closes the listener and cuts every open connection, as a Redis crash
// or a network partition would.
func (p *tcpProxy) kill() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func TestFallbackSurvivesRedisKilledMidTest(t *testing.T) {
	t.Parallel()
	direct, prefix := servicetest.Redis(t)
	target := direct.Options().Addr
	var current atomic.Pointer[tcpProxy]
	current.Store(startProxy(t, target))
	var down atomic.Bool

	opts := *direct.Options()
	opts.ContextTimeoutEnabled = true
	opts.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
		if down.Load() {
			return nil, errors.New("test proxy is down")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", current.Load().ln.Addr().String())
	}
	client := redis.NewClient(&opts)
	t.Cleanup(func() { client.Close() })

	clk := ratelimittest.NewClock(ratelimittest.Start())
	logs := &logRecorder{}
	rl := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix, Clock: clk.Now})
	fb, err := ratelimit.NewFallback(rl, ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk.Now}), ratelimit.FallbackOptions{
		Logger: slog.New(logs), Clock: clk.Now, RetryInterval: 10 * time.Second, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	decide := func(key string) ratelimit.Decision {
		t.Helper()
		d, err := fb.Allow(ctx, fbPolicy, key)
		if err != nil {
			t.Fatalf("Allow(%s): %v; the fallback must always decide", key, err)
		}
		return d
	}
	wantAdmitted := func(phase, key string, n int) {
		t.Helper()
		for i := range n {
			if d := decide(key); !d.Allowed || d.Remaining != fbPolicy.Limit-i-1 {
				t.Fatalf("%s: request %d on %s: %+v, want admitted", phase, i+1, key, d)
			}
		}
		if d := decide(key); d.Allowed {
			t.Fatalf("%s: request %d on %s admitted over the limit", phase, n+1, key)
		}
	}

	wantAdmitted("Redis up", "shared", 3)
	if keys, _ := direct.Keys(ctx, prefix+"*").Result(); len(keys) != 1 {
		t.Fatalf("Redis holds %d keys, want 1: the decisions did not go through Redis", len(keys))
	}

	down.Store(true)
	current.Load().kill()
	// The memory backup has no history of "shared", so it admits afresh, but
	// it still enforces the limit: degraded, never open.
	wantAdmitted("Redis killed", "shared", 3)
	wantAdmitted("Redis killed", "local", 3)
	if deg, _ := fb.Degraded(); !deg {
		t.Fatal("not degraded with Redis gone")
	}
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings for one outage, want 1", n)
	}

	current.Store(startProxy(t, target))
	down.Store(false)
	clk.Advance(10 * time.Second)
	// Redis never saw "local", so it admits it although the backup would
	// refuse: the decision came from Redis again.
	if d := decide("local"); !d.Allowed || d.Remaining != fbPolicy.Limit-1 {
		t.Fatalf("after Redis came back: %+v, want Redis's fresh admission", d)
	}
	if d := decide("shared"); d.Allowed || d.RetryAfter != 50*time.Second {
		t.Fatalf("after Redis came back, Redis's own log of 'shared': %+v, want a refusal for 50s", d)
	}
	if deg, _ := fb.Degraded(); deg {
		t.Fatal("still degraded after Redis came back")
	}
	if n := logs.count(slog.LevelInfo); n != 1 {
		t.Fatalf("%d recovery notices, want 1", n)
	}
}

// A refund goes where decisions are taken: to the primary while it is
// healthy, to the backup while degraded, and to the backup (starting an
// outage) when the primary fails it.
func TestFallbackRefundFollowsDecisions(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	var primaryRefunds atomic.Int64
	s.primary.RefundFunc = func(context.Context, ratelimit.Policy, string) error {
		if s.down.Load() {
			return errDown
		}
		primaryRefunds.Add(1)
		return nil
	}
	if err := s.fb.Refund(context.Background(), fbPolicy, "k"); err != nil || primaryRefunds.Load() != 1 {
		t.Fatalf("healthy refund: %v, primary refunds %d", err, primaryRefunds.Load())
	}
	s.down.Store(true)
	for range fbPolicy.Limit {
		if _, err := s.fb.Allow(context.Background(), fbPolicy, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := s.fb.Allow(context.Background(), fbPolicy, "k"); d.Allowed {
		t.Fatal("backup admitted past its limit")
	}
	if err := s.fb.Refund(context.Background(), fbPolicy, "k"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.fb.Allow(context.Background(), fbPolicy, "k"); !d.Allowed {
		t.Fatal("a refund while degraded did not reach the backup")
	}
	if primaryRefunds.Load() != 1 {
		t.Fatal("the primary was asked to refund while degraded")
	}
	if err := s.fb.Refund(context.Background(), ratelimit.Policy{Name: "UPPER", Limit: 1, Window: time.Minute}, "k"); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
		t.Fatalf("invalid policy: %v", err)
	}
}

// An idle process finds out that the primary is back through Probe (the
// readiness check calls it), not only through the next limited request;
// Probe never calls the primary before the retry interval, nor while
// healthy.
func TestFallbackProbeRecoversWithoutTraffic(t *testing.T) {
	t.Parallel()
	s := setupFallback(t)
	ctx := context.Background()
	pings := 0
	ping := func(context.Context) error {
		pings++
		if s.down.Load() {
			return errDown
		}
		return nil
	}
	if deg, _ := s.fb.Probe(ctx, ping); deg || pings != 0 {
		t.Fatalf("healthy: degraded %v after %d pings; want healthy and no ping", deg, pings)
	}
	s.down.Store(true)
	if _, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil {
		t.Fatal(err)
	}
	s.down.Store(false)
	if deg, _ := s.fb.Probe(ctx, ping); !deg || pings != 0 {
		t.Fatalf("before the retry interval: degraded %v after %d pings; want degraded, no ping", deg, pings)
	}
	s.down.Store(true)
	s.clk.Advance(10 * time.Second)
	if deg, _ := s.fb.Probe(ctx, ping); !deg || pings != 1 {
		t.Fatalf("primary still down: degraded %v after %d pings; want degraded after 1", deg, pings)
	}
	if n := s.logs.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings for one outage, want 1", n)
	}
	s.down.Store(false)
	s.clk.Advance(10 * time.Second)
	if deg, _ := s.fb.Probe(ctx, ping); deg || pings != 2 {
		t.Fatalf("primary back: degraded %v after %d pings; want recovered after 2", deg, pings)
	}
	calls := s.primary.calls.Load()
	if d, err := s.fb.Allow(ctx, fbPolicy, "k"); err != nil || d.Remaining != 99 || s.primary.calls.Load() != calls+1 {
		t.Fatalf("after the probe: %+v, %v; want the primary's decision", d, err)
	}
}
