package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one endpoint under load.
type Target struct {
	Method string
	URL    string
	Header http.Header
	// Body returns the body of the i-th request (nil: none); it must be
	// safe for concurrent use.
	Body func(i int64) []byte
	// Expect is the status a successful answer has (0: 200).
	Expect int
}

// Result is what one run measured.
type Result struct {
	Requests int64         // answered with the expected status, within the measured window
	Errors   int64         // failed or answered with another status
	Elapsed  time.Duration // length of the measured window
	// Latencies of the successful requests, sorted. In an open loop each
	// is measured from the time the request was scheduled, not from when
	// a connection was free to send it.
	Latencies []time.Duration
	// FirstError describes the first failure, for the report.
	FirstError string
}

// RPS is the successful requests per second of the measured window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of the latencies,
// by the nearest-rank method; 0 when there are none.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(p/100*float64(n)+0.999999) - 1
	rank = max(0, min(rank, n-1))
	return r.Latencies[rank]
}

// Limits bound every run: it stops at whichever comes first.
type Limits struct {
	Duration    time.Duration // measured window (after Warmup)
	Warmup      time.Duration // load sent but not measured, before the window
	MaxRequests int64         // requests sent in all, warm-up included
	// OnWindow, when set, is called as the measured window opens and
	// again as it closes (the server's CPU time is read there).
	OnWindow func(open bool)
}

func (l Limits) hook(open bool) {
	if l.OnWindow != nil {
		l.OnWindow(open)
	}
}

func (l Limits) check() error {
	if l.Duration <= 0 || l.MaxRequests <= 0 {
		return errors.New("a run needs a positive duration and request count")
	}
	return nil
}

// checkLoopback refuses any target that is not a loopback address: the
// harness never sends load anywhere else.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parsing target URL: %w", err)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %s is not a loopback address", u.Host)
	}
	return nil
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     30 * time.Second,
		},
		Timeout: 30 * time.Second,
	}
}

// do sends request i of t and reports whether it got the expected answer;
// the body is read to its end so the connection is reused.
func do(ctx context.Context, c *http.Client, t Target, i int64) error {
	var body io.Reader
	if t.Body != nil {
		if b := t.Body(i); b != nil {
			body = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, body)
	if err != nil {
		return err
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := t.Expect
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", t.Method, t.URL, resp.StatusCode, want)
	}
	return err
}

// recorder collects the outcome of requests from many goroutines.
type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	errors    int64
	firstErr  string
	measuring atomic.Bool
}

func (r *recorder) record(d time.Duration, err error) {
	if !r.measuring.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.lat = append(r.lat, d)
}

func (r *recorder) result(elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := slices.Clone(r.lat)
	slices.Sort(lat)
	return Result{Requests: int64(len(lat)), Errors: r.errors, Elapsed: elapsed, Latencies: lat, FirstError: r.firstErr}
}

// Closed drives t with conns connections, each sending its next request as
// soon as the previous one was answered.
func Closed(ctx context.Context, t Target, conns int, lim Limits) (Result, error) {
	if err := lim.check(); err != nil {
		return Result{}, err
	}
	if err := checkLoopback(t.URL); err != nil {
		return Result{}, err
	}
	if conns <= 0 {
		return Result{}, errors.New("a closed loop needs at least one connection")
	}
	c := newClient(conns)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, lim.Warmup+lim.Duration+30*time.Second)
	defer cancel()
	var rec recorder
	var sent atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				i := sent.Add(1)
				if i > lim.MaxRequests {
					return
				}
				t0 := time.Now()
				err := do(ctx, c, t, i)
				rec.record(time.Since(t0), err)
			}
		})
	}
	window := measure(ctx, &rec, lim, &sent)
	stop.Store(true)
	wg.Wait()
	return rec.result(window), ctx.Err()
}

// measure waits out the warm-up, then the measured window (cut short when
// the request count runs out), and returns the window's length; recording
// stops when it returns.
func measure(ctx context.Context, rec *recorder, lim Limits, sent *atomic.Int64) time.Duration {
	sleep(ctx, lim.Warmup)
	lim.hook(true)
	start := time.Now()
	rec.measuring.Store(true)
	deadline := start.Add(lim.Duration)
	for time.Now().Before(deadline) && ctx.Err() == nil && sent.Load() < lim.MaxRequests {
		sleep(ctx, min(10*time.Millisecond, time.Until(deadline)))
	}
	rec.measuring.Store(false)
	window := time.Since(start)
	lim.hook(false)
	return window
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// Open drives t at rate requests a second for the warm-up and the window,
// with at most maxInFlight outstanding. Request i is due at start + i/rate;
// its latency runs from that time, so when the server (or the pool of
// connections) falls behind, the wait counts against it instead of being
// left out (coordinated omission). Only requests due inside the window are
// measured; the run waits for their answers.
func Open(ctx context.Context, t Target, rate float64, maxInFlight int, lim Limits) (Result, error) {
	if err := lim.check(); err != nil {
		return Result{}, err
	}
	if err := checkLoopback(t.URL); err != nil {
		return Result{}, err
	}
	if rate <= 0 || maxInFlight <= 0 {
		return Result{}, errors.New("an open loop needs a positive rate and in-flight bound")
	}
	c := newClient(maxInFlight)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, lim.Warmup+lim.Duration+30*time.Second)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	total := min(int64((lim.Warmup+lim.Duration)/interval), lim.MaxRequests)
	warm := int64(lim.Warmup / interval)
	type job struct {
		i   int64
		due time.Time
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var lat []time.Duration
	var errs int64
	var firstErr string
	var wg sync.WaitGroup
	for range maxInFlight {
		wg.Go(func() {
			for j := range jobs {
				err := do(ctx, c, t, j.i)
				d := time.Since(j.due)
				if j.i < warm {
					continue
				}
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		sleep(ctx, time.Until(due))
		if i == warm {
			lim.hook(true)
		}
		select {
		case jobs <- job{i, due}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	lim.hook(false)
	// The window is the time over which the measured requests were due;
	// the throughput of an open loop is the rate it kept up with.
	window := time.Duration(total-warm) * interval
	slices.Sort(lat)
	return Result{Requests: int64(len(lat)), Errors: errs, Elapsed: window, Latencies: lat, FirstError: firstErr}, ctx.Err()
}
