package loadtest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// An open loop measures from each request's scheduled time: with one
// connection and a server slower than the schedule, requests queue, and
// the queueing shows in the latencies (a loop that measured from the
// actual send would report every request at the server's own time).
func TestOpenCountsQueueingAgainstTheServer(t *testing.T) {
	t.Parallel()
	const serverTime = 20 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(serverTime)
	}))
	defer srv.Close()
	// 100/s for 200 ms is 20 requests due every 10 ms; one at a time at
	// 20 ms each, the last is answered about 200 ms after it was due.
	res, err := Open(t.Context(), Target{Method: http.MethodGet, URL: srv.URL}, 100, 1,
		Limits{Duration: 200 * time.Millisecond, MaxRequests: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.Errors != 0 {
		t.Fatalf("got %d requests and %d errors, want 20 and 0", res.Requests, res.Errors)
	}
	if worst := res.Latencies[len(res.Latencies)-1]; worst < 9*serverTime {
		t.Fatalf("the last request's latency is %s; queueing behind the slow server was left out", worst)
	}
}

// Every run is bounded by its request count, whatever its duration.
func TestClosedStopsAtTheRequestCount(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served.Add(1) }))
	defer srv.Close()
	res, err := Closed(t.Context(), Target{Method: http.MethodGet, URL: srv.URL}, 4, Limits{Duration: time.Minute, MaxRequests: 50})
	if err != nil {
		t.Fatal(err)
	}
	if served.Load() != 50 || res.Requests != 50 {
		t.Fatalf("served %d, measured %d; want 50 and 50", served.Load(), res.Requests)
	}
}

// A status other than the expected one is an error, not a measurement.
func TestUnexpectedStatusIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }))
	defer srv.Close()
	res, err := Closed(t.Context(), Target{Method: http.MethodGet, URL: srv.URL}, 1, Limits{Duration: time.Minute, MaxRequests: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 5 || res.FirstError == "" {
		t.Fatalf("got %d requests, %d errors (%q); want 0, 5 and a description", res.Requests, res.Errors, res.FirstError)
	}
}

// The harness sends load to loopback only.
func TestRefusesNonLoopbackTargets(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://192.0.2.1/", "http://example.com/"} {
		if _, err := Closed(t.Context(), Target{Method: http.MethodGet, URL: u}, 1, Limits{Duration: time.Second, MaxRequests: 1}); err == nil {
			t.Errorf("a run against %s was not refused", u)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	line := []byte("1234 (pali sade) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 200")
	got, err := parseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3*time.Second {
		t.Fatalf("got %s, want 3s (300 ticks)", got)
	}
}
