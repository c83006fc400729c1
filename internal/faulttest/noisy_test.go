package faulttest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// testNoisyNeighbour: one tenant's webhook is attacked by many connections
// that send their request one byte at a time and by a burst of oversized
// bodies, while another tenant reads its bots through the API. The other
// tenant's p99 with and without the attack is printed (not asserted); its
// requests must all still succeed.
func testNoisyNeighbour(t *testing.T, bin string) {
	b := faulttest.SQLite(t)
	_, victimKey := faulttest.Workspace(t, bin, b, "Victim", "bots:write,bots:read")
	app := newTelegramApp(t, bin, b, llmtest.Options{}, "--rate-limits",
		faulttest.RateLimits(t, map[string]string{"webhook": "10000/1s", "mgmt_read": "10000/1s"}))
	faulttest.API(t, app.srv.URL(), victimKey, "POST", "/api/v1/bots", map[string]any{"name": "Quiet", "model": "gpt-4o-mini"}, 201)
	client := faulttest.HTTPClient(t, app.srv.URL(), 30*time.Second)
	requests := scale(3000, 400)

	measure := func() ([]time.Duration, int) {
		var mu sync.Mutex
		var took []time.Duration
		failed := 0
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(requests) {
					req, _ := http.NewRequest(http.MethodGet, app.srv.URL()+"/api/v1/bots", nil)
					req.Header.Set("Authorization", "Bearer "+victimKey)
					began := time.Now()
					resp, err := client.Do(req)
					d := time.Since(began)
					ok := err == nil && resp.StatusCode == http.StatusOK
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					mu.Lock()
					took = append(took, d)
					if !ok {
						failed++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return took, failed
	}

	quiet, failedQuiet := measure()

	hook := app.tg.Bot(botToken).Webhook
	path := strings.TrimPrefix(hook.URL, app.srv.URL())
	slow := scale(600, 150)
	var cut atomic.Int64
	var cutAfter sync.Map
	big := bytes.Repeat([]byte("x"), 8<<20)
	const bigRate = 200
	var oversized atomic.Int64
	statuses := sync.Map{}
	h := http.Header{"X-Telegram-Bot-Api-Secret-Token": {hook.SecretToken}}
	// attack runs the slow clients, the oversized bodies or both until the
	// quiet tenant's requests are measured, and returns their times.
	attack := func(slowClients, bigBodies bool) ([]time.Duration, int) {
		ctx, stop := context.WithCancel(t.Context())
		var attackers sync.WaitGroup
		// Slow clients: a request line and headers that never end, one
		// byte at a time.
		for i := range slow {
			if !slowClients {
				break
			}
			attackers.Add(1)
			go func() {
				defer attackers.Done()
				conn, err := net.Dial("tcp", app.srv.Addr)
				if err != nil {
					return
				}
				defer conn.Close()
				head := "POST " + path + " HTTP/1.1\r\nHost: " + app.srv.Addr + "\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 4096)
				began := time.Now()
				for k := 0; ctx.Err() == nil; k++ {
					if _, err := conn.Write([]byte{head[k%len(head)]}); err != nil {
						cut.Add(1)
						cutAfter.Store(i, time.Since(began))
						return
					}
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}()
		}
		// Oversized bodies, signed as the platform signs them, in a burst
		// of bigRate a second: bounded, so that what is measured is the
		// server's handling of them rather than the attackers' own use of
		// the machine's cores.
		tick := time.NewTicker(time.Second / bigRate)
		defer tick.Stop()
		for range 8 {
			if !bigBodies {
				break
			}
			attackers.Add(1)
			go func() {
				defer attackers.Done()
				for ctx.Err() == nil {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
					status, _ := channeltest.Post(ctx, hook.URL, h, big)
					if ctx.Err() != nil {
						return
					}
					oversized.Add(1)
					n, _ := statuses.LoadOrStore(status, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}()
		}
		time.Sleep(time.Second) // the attack is on
		took, failed := measure()
		stop()
		attackers.Wait()
		return took, failed
	}
	slowOnly, failedSlow := attack(true, false)
	bigOnly, failedBig := attack(false, true)
	both, failedBoth := attack(true, true)
	if n := failedQuiet + failedSlow + failedBig + failedBoth; n > 0 {
		t.Errorf("%d of the quiet tenant's requests failed (%d without the attack)", n, failedQuiet)
	}
	var bigCodes []string
	statuses.Range(func(k, v any) bool {
		bigCodes = append(bigCodes, fmt.Sprintf("%d×%d", k.(int), v.(*atomic.Int64).Load()))
		return true
	})
	var longest time.Duration
	cutAfter.Range(func(_, v any) bool { longest = max(longest, v.(time.Duration)); return true })
	p99q := faulttest.P99(quiet)
	ratio := func(d []time.Duration) string {
		return fmt.Sprintf("p99 %.1f× the quiet one", float64(faulttest.P99(d))/float64(max(p99q, 1)))
	}
	faulttest.Print(t,
		faulttest.Figures{Scenario: "other tenant, no attack", Store: b.Name, Deliveries: len(quiet), P99: p99q, Note: "GET /api/v1/bots, 4 clients"},
		faulttest.Figures{Scenario: "other tenant, slow clients", Store: b.Name, Deliveries: len(slowOnly), P99: faulttest.P99(slowOnly),
			Note: fmt.Sprintf("%s; %d connections sending a byte every 100ms (%d cut by the server over the run, the last after %s)",
				ratio(slowOnly), slow, cut.Load(), longest.Round(100*time.Millisecond))},
		faulttest.Figures{Scenario: "other tenant, 8 MB bodies", Store: b.Name, Deliveries: len(bigOnly), P99: faulttest.P99(bigOnly),
			Note: fmt.Sprintf("%s; %d oversized bodies at up to %d/s (%s)", ratio(bigOnly), oversized.Load(), bigRate, strings.Join(bigCodes, " "))},
		faulttest.Figures{Scenario: "other tenant, both attacks", Store: b.Name, Deliveries: len(both), P99: faulttest.P99(both),
			Note: ratio(both) + " (goal ≤ 2×; the attackers share the machine's cores with the server)"})
}
