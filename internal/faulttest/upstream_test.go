package faulttest_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// checkJobsDone fails unless every inbound job completed: none stuck
// running or waiting, none discarded.
func checkJobsDone(t *testing.T, b faulttest.Backend, want int) map[string]int {
	t.Helper()
	states := jobStates(t, b)
	if states["completed"] != want || len(states) != 1 {
		t.Errorf("inbound jobs by state: %v; want %d completed and nothing else", states, want)
	}
	return states
}

// testProviderFaults: the model answers slowly now and then, and in
// bursts with 429s, 500s, 503s and broken or cut streams. Retries are
// bounded (the provider client's, then the job queue's), every message is
// answered exactly once, and no job is left stuck.
func testProviderFaults(t *testing.T, bin string) {
	b := faulttest.SQLite(t)
	app := newTelegramApp(t, bin, b, llmtest.Options{Reply: func(r llmtest.Received) string {
		if rand.IntN(10) == 0 {
			time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
		}
		return answerParcel(r)
	}})
	n := scale(600, 40)
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 4, perSecond: scale(20, 10), firstID: 600000000, firstTo: 900000000})
	kinds := []llmtest.Fault{llmtest.RateLimited("1"), llmtest.ServerError(500), llmtest.ServerError(503),
		llmtest.AbortStream(1), llmtest.CutStream(1), llmtest.MidStreamError(1)}
	injected := map[string]int{}
	names := []string{"429", "500", "503", "abort", "cut", "error event"}
	for flooding := true; flooding; {
		select {
		case <-done:
			flooding = false
		case <-time.After(700 * time.Millisecond):
			for range 2 {
				k := rand.IntN(len(kinds))
				app.model.Inject(kinds[k])
				injected[names[k]]++
			}
		}
	}
	for _, err := range r.errs {
		t.Error(err)
	}
	drain := app.waitAnswered(t, r, scale(5*time.Minute, 2*time.Minute))
	replies, dups, lost := r.tally(t, app.tg.Sent(), nil)
	checkJobsDone(t, b, r.ackedCount())
	total := 0
	for _, c := range injected {
		total += c
	}
	faulttest.Print(t, faulttest.Figures{Scenario: "model slow, 429, 5xx, broken", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: total, Recovery: drain,
		Note: fmt.Sprintf("model requests %d; faults %v; recovery = flood end to last answer", len(app.model.Requests()), injected)})
}

var answerRE = regexp.MustCompile(`^Answer to: #([0-9]+)$`)

// testPlatformDown: the platform answers every call with a 502 for a while.
// Replies wait in the queue with backoff and are all delivered once it is
// back, in order within each conversation.
func testPlatformDown(t *testing.T, bin string) {
	b := faulttest.SQLite(t)
	app := newTelegramApp(t, bin, b, llmtest.Options{})
	chats, perChat := scale(40, 6), 5
	n := chats * perChat
	app.tg.SetDown(true)
	downAt := time.Now()
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: chats, perSecond: 50, perChat: perChat, firstID: 700000000, firstTo: 1000000000})
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	time.Sleep(time.Until(downAt.Add(scale(3*time.Minute, 4*time.Second))))
	whileDown := len(app.tg.CallsOf("sendMessage"))
	if got := len(app.tg.Sent()); got != 0 {
		t.Errorf("%d replies recorded as sent while the platform was down", got)
	}
	app.tg.SetDown(false)
	upAt := time.Now()
	app.waitAnswered(t, r, scale(10*time.Minute, 90*time.Second))
	sent := app.tg.Sent()
	var last time.Time
	for _, s := range sent {
		if s.At.After(last) {
			last = s.At
		}
	}
	replies, dups, lost := r.tally(t, sent, nil)
	checkJobsDone(t, b, r.ackedCount())
	// In order within each conversation: the replies of a chat name its
	// messages in the order they were delivered.
	byChat := map[int64][]int{}
	for _, s := range sent {
		if m := answerRE.FindStringSubmatch(s.Text); m != nil {
			i, _ := strconv.Atoi(m[1])
			byChat[s.ChatID] = append(byChat[s.ChatID], i)
		}
	}
	outOfOrder := 0
	for chat, got := range byChat {
		for k := 1; k < len(got); k++ {
			if got[k] < got[k-1] {
				outOfOrder++
				t.Errorf("chat %d: replies out of order: %v", chat, got)
				break
			}
		}
	}
	faulttest.Print(t, faulttest.Figures{Scenario: "platform down (502)", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: 1, Recovery: last.Sub(upAt),
		Note: fmt.Sprintf("down %s; %d send attempts while down; %d chats out of order; recovery = platform up to last reply",
			upAt.Sub(downAt).Round(time.Second), whileDown, outOfOrder)})
}

// testGracefulShutdown: SIGTERM in the middle of a flood, with the model
// taking a while, several times. Each stop finishes what is in flight
// within the grace period: no send is left begun and unfinished, no job
// is left running, and after the restarts every acknowledged delivery is
// answered exactly once.
func testGracefulShutdown(t *testing.T, bin string) {
	b := faulttest.SQLite(t)
	app := newTelegramApp(t, bin, b, llmtest.Options{Reply: func(r llmtest.Received) string {
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		return answerParcel(r)
	}}, "--shutdown-timeout", "10s")
	n := scale(2000, 150)
	stops := scale(5, 2)
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 8, perSecond: scale(50, 40), firstID: 800000000, firstTo: 1100000000})
	var stopTimes []time.Duration
	gap := time.Duration(n) * time.Second / time.Duration(scale(50, 40)) / time.Duration(stops+1)
	for k := range stops {
		select {
		case <-done:
		case <-time.After(gap):
		}
		took := app.srv.Terminate(30 * time.Second)
		stopTimes = append(stopTimes, took)
		if code := app.srv.ExitCode(); code != 0 {
			t.Errorf("stop %d: exit status %d after SIGTERM, want 0", k+1, code)
		}
		if pending := pendingRefs(t, b); len(pending) != 0 {
			t.Errorf("stop %d: %d sends begun and unfinished after a graceful stop: %v", k+1, len(pending), pending)
		}
		if states := jobStates(t, b); states["running"] != 0 {
			t.Errorf("stop %d: %d jobs left running after a graceful stop", k+1, states["running"])
		}
		t.Logf("stop %d after %d acknowledged: exited in %s; inbound jobs %v", k+1, r.ackedCount(), took.Round(time.Millisecond), jobStates(t, b))
		app.srv.Start()
	}
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	// The model takes up to half a second a message, so the queue drains
	// well after the flood.
	drain := app.waitAnswered(t, r, scale(10*time.Minute, 2*time.Minute))
	replies, dups, lost := r.tally(t, app.tg.Sent(), nil)
	checkJobsDone(t, b, r.ackedCount())
	faulttest.Print(t, faulttest.Figures{Scenario: "SIGTERM under load", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: stops, Recovery: maxDur(stopTimes), P99: faulttest.P99(r.acks),
		Note: fmt.Sprintf("recovery = longest SIGTERM to exit (grace 10s); drained %s; refusals %s", drain.Round(100*time.Millisecond), formatCodes(r.statusesCopy()))})
	if got := r.ackedCount(); got != n {
		t.Errorf("%d of %d deliveries acknowledged", got, n)
	}
}
