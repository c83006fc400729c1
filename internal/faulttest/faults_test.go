package faulttest_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// TestFaults runs the fault scenarios against the real binary. The
// ordinary suite runs them with small counts, side by side to stay within
// its time; `go test -tags faults` (make faults) runs them at full size one
// after another, so that each one's figures are its own. Each prints a
// table of what it measured; the assertions are on correctness only, never
// on timing.
func TestFaults(t *testing.T) {
	bin := faulttest.Build(t)
	// Measured first and alone: it prints latencies.
	t.Run("noisy neighbour", func(t *testing.T) { testNoisyNeighbour(t, bin) })
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if !faulttest.Full {
				t.Parallel()
			}
			f(t)
		})
	}
	run("kill9/sqlite", func(t *testing.T) { testKill9(t, bin, faulttest.SQLite(t)) })
	run("kill9/postgres", func(t *testing.T) { testKill9(t, bin, faulttest.PostgreSQL(t, bin)) })
	run("kill9-discord/sqlite", func(t *testing.T) { testKill9Discord(t, bin, faulttest.SQLite(t)) })
	run("kill9-discord/postgres", func(t *testing.T) { testKill9Discord(t, bin, faulttest.PostgreSQL(t, bin)) })
	run("postgres restart", func(t *testing.T) { testPostgresRestart(t, bin) })
	run("redis restart", func(t *testing.T) { testRedisRestart(t, bin) })
	run("model faults", func(t *testing.T) { testProviderFaults(t, bin) })
	run("platform down", func(t *testing.T) { testPlatformDown(t, bin) })
	run("sigterm", func(t *testing.T) { testGracefulShutdown(t, bin) })
	run("disk full", func(t *testing.T) { testDiskFull(t, bin) })
}

// testKill9: a flood of deliveries while the server is killed with SIGKILL
// at random moments and started again. Every acknowledged delivery is
// answered; a delivery is answered twice only where the database showed
// its send begun and unfinished at a kill; the fake never deduplicates.
func testKill9(t *testing.T, bin string, b faulttest.Backend) {
	n := scale(10000, 300)
	kills := scale(8, 3)
	app := newTelegramApp(t, bin, b, llmtest.Options{})
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 8, perSecond: scale(150, 100), firstID: 300000000, firstTo: 600000000})

	mayRepeat := map[string]int{}
	inSend := 0
	var downtime []time.Duration
	// Kills are spread over the flood's expected length.
	gap := time.Duration(n) * time.Second / time.Duration(scale(150, 100)) / time.Duration(kills+1)
	for k := range kills {
		select {
		case <-done:
		case <-time.After(gap/2 + time.Duration(rand.Int64N(int64(gap)))):
		}
		app.srv.Kill()
		began := time.Now()
		pending := pendingRefs(t, b)
		for _, ref := range pending {
			mayRepeat[ref]++
		}
		inSend += len(pending)
		app.srv.Start()
		downtime = append(downtime, time.Since(began))
		t.Logf("kill %d after %d acknowledged: %d sends begun and unfinished", k+1, r.ackedCount(), len(pending))
	}
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	drain := app.waitAnswered(t, r, scale(15*time.Minute, 3*time.Minute))
	replies, dups, lost := r.tally(t, app.tg.Sent(), mayRepeat)
	faulttest.Print(t, faulttest.Figures{Scenario: "kill -9 during a flood", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: kills, Recovery: maxDur(downtime), P99: faulttest.P99(r.acks),
		Note: fmt.Sprintf("%d sends unfinished at a kill; queue drained %s after the flood; recovery = kill to healthy", inSend, drain.Round(100*time.Millisecond))})
	if got := r.ackedCount(); got != n {
		t.Errorf("%d of %d deliveries acknowledged", got, n)
	}
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
