package faulttest_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// readyWatch polls /readyz every 50ms and keeps what it saw.
type readyWatch struct {
	mu   sync.Mutex
	seen []readySample
	stop func()
}

type readySample struct {
	at     time.Time
	status int
	body   string
}

func watchReady(t *testing.T, srv *faulttest.Server) *readyWatch {
	ctx, cancel := context.WithCancel(t.Context())
	w := &readyWatch{}
	done := make(chan struct{})
	w.stop = func() { cancel(); <-done }
	t.Cleanup(w.stop)
	client := faulttest.HTTPClient(t, srv.URL(), 2*time.Second)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			s := readySample{at: time.Now()}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/readyz", nil)
			if resp, err := client.Do(req); err == nil {
				var b strings.Builder
				buf := make([]byte, 4096)
				n, _ := resp.Body.Read(buf)
				b.Write(buf[:n])
				resp.Body.Close()
				s.status, s.body = resp.StatusCode, b.String()
			}
			w.mu.Lock()
			w.seen = append(w.seen, s)
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

// between returns the samples taken in [from, to).
func (w *readyWatch) between(from, to time.Time) []readySample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []readySample
	for _, s := range w.seen {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// firstAfter is the first sample at or after from that ok accepts.
func (w *readyWatch) firstAfter(from time.Time, ok func(readySample) bool) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen {
		if !s.at.Before(from) && ok(s) {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// testPostgresRestart: the database stops (a crash: connections cut, no
// checkpoint) in the middle of a flood and comes back. While it is down,
// deliveries are refused fast with 503 and /readyz says so; after it is
// back the service answers again by itself, and every acknowledged
// delivery is answered.
func testPostgresRestart(t *testing.T, bin string) {
	b := faulttest.PostgreSQL(t, bin)
	app := newTelegramApp(t, bin, b, llmtest.Options{})
	ready := watchReady(t, app.srv)
	n := scale(3000, 200)
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 8, perSecond: 50, firstID: 400000000, firstTo: 700000000})

	waitUntil(t, "a third of the flood to be acknowledged", time.Minute, func() bool { return r.ackedCount() >= n/3 })
	downAt := time.Now()
	b.PG.Stop("immediate")
	refusedBefore := len(snapshotStatuses(r))
	time.Sleep(scale(30*time.Second, 4*time.Second))
	downSamples := ready.between(downAt.Add(time.Second), time.Now())
	downStatuses := snapshotStatuses(r)[refusedBefore:]
	upAt := time.Now()
	b.PG.Start()
	// What the crash left: a send begun and not recorded as finished may
	// have reached the platform and is sent again (the one duplicate a
	// fault inside the send call may cause). Read before the server's
	// retries, which wait at least a second, get to it.
	mayRepeat := map[string]int{}
	pending := pendingRefs(t, b)
	for _, ref := range pending {
		mayRepeat[ref]++
	}

	readyAt, ok := ready.firstAfter(upAt, func(s readySample) bool { return s.status == 200 })
	for !ok && time.Since(upAt) < time.Minute {
		time.Sleep(50 * time.Millisecond)
		readyAt, ok = ready.firstAfter(upAt, func(s readySample) bool { return s.status == 200 })
	}
	if !ok {
		t.Errorf("/readyz did not answer 200 within a minute of the database's return")
	}
	var ackAt time.Time
	waitUntil(t, "a delivery to be acknowledged after the database's return", time.Minute, func() bool {
		ackAt = r.firstAckAfter(upAt)
		return !ackAt.IsZero()
	})
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	drain := app.waitAnswered(t, r, 3*time.Minute)
	replies, dups, lost := r.tally(t, app.tg.Sent(), mayRepeat)

	// While the database was down: /readyz said so, and deliveries were
	// refused with 503, never another error.
	notReady := 0
	for _, s := range downSamples {
		if s.status == http.StatusServiceUnavailable {
			notReady++
		} else {
			t.Errorf("/readyz answered %d while the database was down: %s", s.status, s.body)
		}
	}
	if len(downSamples) == 0 || notReady == 0 {
		t.Errorf("/readyz was never seen not ready while the database was down (%d samples)", len(downSamples))
	}
	codes := map[int]int{}
	var refusalTimes []time.Duration
	for _, s := range downStatuses {
		codes[s.status]++
		refusalTimes = append(refusalTimes, s.took)
	}
	for code, n := range codes {
		if code != http.StatusServiceUnavailable {
			t.Errorf("%d deliveries were answered %d while the database was down, want 503", n, code)
		}
	}
	faulttest.Print(t, faulttest.Figures{Scenario: "PostgreSQL restarted", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: 1, Recovery: ackAt.Sub(upAt), P99: faulttest.P99(refusalTimes),
		Note: "recovery = database up to first acknowledged delivery; /readyz 200 after " + readyAt.Sub(upAt).Round(time.Millisecond).String() +
			"; p99 = refusal time while down; " + itoa(len(pending)) + " sends unfinished at the crash; refusals " + formatCodes(codes) + "; drained " + drain.Round(100*time.Millisecond).String()})
	if got := r.ackedCount(); got != n {
		t.Errorf("%d of %d deliveries acknowledged", got, n)
	}
}

// testRedisRestart: Redis, which holds the rate limits, is killed and
// started again. The service stays up and ready (degraded), limits hold per
// process while it is gone, and go back to Redis when it returns.
func testRedisRestart(t *testing.T, bin string) {
	b := faulttest.PostgreSQL(t, bin)
	rd := faulttest.StartRedis(t)
	const limit = 20
	app := newTelegramApp(t, bin, b, llmtest.Options{}, "--redis-url", rd.URL(),
		"--rate-limits", faulttest.RateLimits(t, map[string]string{"webhook": "10000/1s", "mgmt_read": "20/1h"}))
	ready := watchReady(t, app.srv)
	rc := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(strings.TrimSuffix(rd.URL(), "/0"), "redis://")})
	t.Cleanup(func() { rc.Close() })
	n := scale(2000, 150)
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 4, perSecond: 30, firstID: 500000000, firstTo: 800000000})

	// burst reads the bot list until refused; it returns how many were
	// allowed and fails on anything but 200 and 429.
	burst := func(phase string) int {
		allowed := 0
		for range limit + 5 {
			status, body := faulttest.Do(t, app.srv.URL(), app.key, "GET", "/api/v1/bots", nil)
			switch status {
			case http.StatusOK:
				allowed++
			case http.StatusTooManyRequests:
				return allowed
			default:
				t.Errorf("%s: GET /api/v1/bots = %d: %s", phase, status, body)
			}
		}
		t.Errorf("%s: %d reads allowed, the limit is %d", phase, allowed, limit)
		return allowed
	}
	keys := func() int64 { n, _ := rc.DBSize(t.Context()).Result(); return n }

	before := burst("Redis up")
	if keys() == 0 {
		t.Error("no rate-limit state in Redis while it was up")
	}
	rd.Stop()
	downAt := time.Now()
	degradedAt, ok := time.Time{}, false
	waitUntil(t, "/readyz to report Redis degraded", 30*time.Second, func() bool {
		degradedAt, ok = ready.firstAfter(downAt, func(s readySample) bool { return strings.Contains(s.body, "degraded") })
		return ok
	})
	during := burst("Redis down")
	time.Sleep(scale(20*time.Second, 2*time.Second))
	for _, s := range ready.between(downAt, time.Now()) {
		if s.status != http.StatusOK {
			t.Errorf("/readyz = %d while Redis was down: the service must stay ready: %s", s.status, s.body)
		}
	}
	rd.Start()
	upAt := time.Now()
	var backAt time.Time
	waitUntil(t, "/readyz to stop reporting Redis degraded", time.Minute, func() bool {
		backAt, ok = ready.firstAfter(upAt, func(s readySample) bool { return s.status == 200 && !strings.Contains(s.body, "degraded") })
		return ok
	})
	after := burst("Redis back")
	if keys() == 0 {
		t.Error("no rate-limit state in Redis after it came back: the limits stayed in memory")
	}
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	drain := app.waitAnswered(t, r, 3*time.Minute)
	replies, dups, lost := r.tally(t, app.tg.Sent(), nil)
	faulttest.Print(t, faulttest.Figures{Scenario: "Redis killed and restarted", Store: "pg+redis", Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: 1, Recovery: backAt.Sub(upAt),
		Note: "recovery = Redis up to /readyz no longer degraded; degraded seen " + degradedAt.Sub(downAt).Round(time.Millisecond).String() +
			" after the kill; reads allowed of " + itoa(limit) + ": up " + itoa(before) + ", down " + itoa(during) + ", back " + itoa(after) +
			"; drained " + drain.Round(100*time.Millisecond).String()})
	if got := r.ackedCount(); got != n {
		t.Errorf("%d of %d deliveries acknowledged", got, n)
	}
}
