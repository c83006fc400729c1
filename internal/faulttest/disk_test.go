package faulttest_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// testDiskFull: the SQLite data directory's disk fills up in the middle of
// a flood. Writes are refused with 503 and a message saying the disk is
// full; what was stored before is intact (integrity check, every
// acknowledged delivery answered); once space returns the service accepts
// and answers again by itself.
func testDiskFull(t *testing.T, bin string) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !faulttest.MountTmpfs(t, dir, "64m") {
		t.Skip("this machine does not allow mounting a tmpfs; the store's own test injects the full disk instead (TestDiskFullIsUnavailable)")
	}
	b := faulttest.Backend{Name: "sqlite", Env: map[string]string{"PALISADE_DATA_DIR": dir}}
	app := newTelegramApp(t, bin, b, llmtest.Options{}, "--rate-limits", faulttest.RateLimits(t, map[string]string{"webhook": "10000/1s", "mgmt_write": "10000/1s"}))
	n := scale(600, 80)
	r, done := app.flood(t.Context(), floodOptions{n: n, workers: 4, perSecond: 20, firstID: 900000000, firstTo: 1200000000})
	waitUntil(t, "a third of the flood to be acknowledged", time.Minute, func() bool { return r.ackedCount() >= n/3 })

	filler := filepath.Join(dir, "filler")
	fullAt := time.Now()
	filled := faulttest.FillDisk(t, filler)
	before := len(snapshotStatuses(r))
	// The database may still have room in pages it already holds; the
	// outage shows once a write needs more.
	var apiStatus int
	var apiBody string
	waitUntil(t, "a write to be refused on the full disk", 30*time.Second, func() bool {
		var raw []byte
		apiStatus, raw = faulttest.Do(t, app.srv.URL(), app.key, "POST", "/api/v1/bots", map[string]any{"name": "Full " + strings.Repeat("x", 64), "model": "gpt-4o-mini"})
		apiBody = string(raw)
		return apiStatus != http.StatusCreated
	})
	if apiStatus != http.StatusServiceUnavailable || !strings.Contains(apiBody, "disk is full") {
		t.Errorf("creating a bot on a full disk = %d %s; want 503 saying the disk is full", apiStatus, apiBody)
	}
	readyCode, _ := faulttest.Do(t, app.srv.URL(), "", "GET", "/readyz", nil)
	time.Sleep(scale(20*time.Second, 3*time.Second))
	during := snapshotStatuses(r)[before:]
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freeAt := time.Now()
	var ackAt time.Time
	waitUntil(t, "a delivery to be acknowledged once space returned", time.Minute, func() bool {
		ackAt = r.firstAckAfter(freeAt)
		return !ackAt.IsZero() || r.ackedCount() == n
	})
	<-done
	for _, err := range r.errs {
		t.Error(err)
	}
	drain := app.waitAnswered(t, r, 4*time.Minute)
	replies, dups, lost := r.tally(t, app.tg.Sent(), nil)
	codes := map[int]int{}
	for _, a := range during {
		codes[a.status]++
	}
	for code, c := range codes {
		if code != http.StatusServiceUnavailable {
			t.Errorf("%d deliveries were answered %d while the disk was full, want 503", c, code)
		}
	}
	app.srv.Terminate(30 * time.Second)
	if check := queryStrings(t, b, `PRAGMA integrity_check`); len(check) != 1 || check[0] != "ok" {
		t.Errorf("integrity_check after the full disk = %v", check)
	}
	recovery := time.Duration(0)
	if !ackAt.IsZero() {
		recovery = ackAt.Sub(freeAt)
	}
	faulttest.Print(t, faulttest.Figures{Scenario: "disk full (tmpfs)", Store: b.Name, Deliveries: r.ackedCount(), Refused: int(r.refused.Load()),
		Replies: replies, Duplicates: dups, Lost: lost, Faults: 1, Recovery: recovery,
		Note: fmt.Sprintf("full for %s (%d MB filler); refusals while full %s; /readyz while full %d; API write %d; integrity ok; drained %s; recovery = space back to first ack",
			freeAt.Sub(fullAt).Round(100*time.Millisecond), filled>>20, formatCodes(codes), readyCode, apiStatus, drain.Round(100*time.Millisecond))})
	if got := r.ackedCount(); got != n {
		t.Errorf("%d of %d deliveries acknowledged", got, n)
	}
}
