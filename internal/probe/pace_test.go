package probe_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/probe"
)

// windowed allows two requests a one-second window and says so in the
// RateLimit header; it counts what it refused.
type windowed struct {
	draft   bool // send RateLimit-Remaining and RateLimit-Reset instead
	mu      sync.Mutex
	start   time.Time
	n       int
	refused int
	served  int
}

func (w *windowed) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Sub(w.start) >= time.Second {
		w.start, w.n = now, 0
	}
	w.n++
	left := max(2-w.n, 0)
	if w.draft {
		rw.Header().Set("RateLimit-Remaining", fmt.Sprint(left))
		rw.Header().Set("RateLimit-Reset", "1")
	} else {
		rw.Header().Set("RateLimit-Policy", "mgmt_read;q=2;w=1")
		rw.Header().Set("RateLimit", fmt.Sprintf("mgmt_read;r=%d;t=1", left))
	}
	if w.n > 2 {
		w.refused++
		rw.Header().Set("Retry-After", "1")
		rw.WriteHeader(http.StatusTooManyRequests)
		return
	}
	w.served++
}

// TestProbePacesItselfByRateLimit: a check sending six requests to a
// route limited to two a second gets six answers, not a 429, because the
// probe waits for the window the RateLimit header (or the earlier draft's
// RateLimit-Remaining and RateLimit-Reset) announced.
func TestProbePacesItselfByRateLimit(t *testing.T) {
	t.Parallel()
	for name, draft := range map[string]bool{"RateLimit": false, "RateLimit-Remaining": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := &windowed{draft: draft}
			statuses := make(chan int, 6)
			c := probe.Check{Category: "test", Name: "six-reads", Run: func(ctx context.Context, t *probe.Target) probe.Outcome {
				for range 6 {
					r, err := t.Do(ctx, probe.Request{Path: "/api/v1/bots"})
					if err != nil {
						return probe.Failf("%v", err)
					}
					statuses <- r.Status
				}
				return probe.Passf("six answers")
			}}
			start := time.Now()
			rep, err := probe.Run(t.Context(), serveHTTP(t, w), []probe.Check{c}, probe.Options{})
			if err != nil {
				t.Fatal(err)
			}
			close(statuses)
			for s := range statuses {
				if s != http.StatusOK {
					t.Errorf("an answer was %d", s)
				}
			}
			w.mu.Lock()
			served := w.served
			w.mu.Unlock()
			if rep.Results[0].Status != probe.Pass || served != 6 {
				t.Errorf("%+v, %d served", rep.Results[0], served)
			}
			if d := time.Since(start); d < 2*time.Second {
				t.Errorf("six requests at two a second took %s: the probe did not wait", d)
			}
		})
	}
}

// TestExclusiveChecksRunLast: a check that spends a limit on purpose runs
// after every other check has finished, whatever its place in the list.
func TestExclusiveChecksRunLast(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	mark := func(name string, exclusive bool) probe.Check {
		return probe.Check{Category: "test", Name: name, Exclusive: exclusive, Run: func(ctx context.Context, t *probe.Target) probe.Outcome {
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return probe.Passf("ok")
		}}
	}
	checks := []probe.Check{mark("burst", true), mark("a", false), mark("b", false), mark("c", false)}
	rep, err := probe.Run(t.Context(), serveHTTP(t, http.NotFoundHandler()), checks, probe.Options{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if order[len(order)-1] != "burst" {
		t.Errorf("order %v: the exclusive check did not run last", order)
	}
	if rep.Results[0].Name != "burst" {
		t.Errorf("the report is not in the order given: %+v", rep.Results)
	}
}

// TestTableCountsSkipsByReason: the table ends with how many checks were
// skipped for each reason, so a run without keys says what it left out.
func TestTableCountsSkipsByReason(t *testing.T) {
	t.Parallel()
	rep := run(t, http.NotFoundHandler(), category(t, probe.CatIDOR), probe.Options{})
	var buf bytes.Buffer
	if err := probe.WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("skipped %3d: needs two API keys", len(rep.Results))
	if !strings.Contains(buf.String(), want) {
		t.Errorf("no %q in\n%s", want, buf.String())
	}
}
