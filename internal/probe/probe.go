// Package probe is the security self-test behind `palisade probe`: a list
// of black-box checks, each a small value with a category, a name and a
// function, and a runner that sends their requests to one base URL with
// bounded concurrency, a per-request timeout, a total request budget and a
// deadline. It talks HTTP directly, not through the egress client, because
// a probe must send requests a well-behaved client never would (unknown
// verbs, forged signatures, oversized bodies) and must be able to target
// loopback and private deployments.
package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// Status is the result of one check.
type Status string

// The three results a check can have.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Outcome is what a check's function returns: its status and the evidence
// for it (for a skip, the reason).
type Outcome struct {
	Status   Status
	Evidence string
}

// Passf, Failf and Skipf build outcomes.
func Passf(format string, a ...any) Outcome {
	return Outcome{Status: Pass, Evidence: fmt.Sprintf(format, a...)}
}

// Failf builds a failing outcome.
func Failf(format string, a ...any) Outcome {
	return Outcome{Status: Fail, Evidence: fmt.Sprintf(format, a...)}
}

// Skipf builds a skipped outcome; the evidence is the reason.
func Skipf(format string, a ...any) Outcome {
	return Outcome{Status: Skip, Evidence: fmt.Sprintf(format, a...)}
}

// Check is one black-box test of a deployment.
type Check struct {
	Category string
	Name     string
	// Severity is how much a failure weakens the deployment.
	Severity Severity
	// Reference is the OWASP ASVS 5.0 requirement ("V3.4.1") or the CWE
	// ("CWE-352") the check verifies.
	Reference string
	// Description says in one line what a pass proves.
	Description string
	// Exclusive checks spend a limit of the deployment on purpose (a
	// burst until 429): they run after all others, one at a time.
	Exclusive bool
	Run       func(ctx context.Context, t *Target) Outcome
}

// ErrBudget is returned by Target.Do once the run's request budget is spent.
var ErrBudget = errors.New("probe: request budget exhausted")

// Response is one answer, its body read up to a cap.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request is one request a check sends; Path is relative to the base URL
// and may carry a query.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Bearer sends the API key given to the run (Target.HasKey).
	Bearer bool
	// KeyB sends the second workspace's API key instead (Target.HasKeyB).
	KeyB bool
	// NoPace sends the request even when the deployment said its
	// rate-limit window is spent: for the checks that look for the 429.
	NoPace bool
}

// maxBody caps what is read of any response: enough to see banners,
// listings and stack traces.
const maxBody = 256 << 10

// Target is the deployment under test as a check sees it. It is safe for
// concurrent use; GET answers are shared between checks (Get).
type Target struct {
	Base     *url.URL
	apiKey   secret.Secret
	apiKeyB  secret.Secret
	secrets  Secrets
	pace     *pacer
	httpPort int
	shared   sync.Map // memoized multi-request work several checks read (keyed by name)
	client   *http.Client
	timeout  time.Duration
	tls      *tls.Config
	budget   int64
	used     atomic.Int64

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	once sync.Once
	resp *Response
	err  error
}

// HTTPS reports whether the base URL is https.
func (t *Target) HTTPS() bool { return t.Base.Scheme == "https" }

// HasKey reports whether an API key was given.
func (t *Target) HasKey() bool { return !t.apiKey.IsZero() }

// HasKeyB reports whether a second workspace's API key was given too.
func (t *Target) HasKeyB() bool { return t.HasKey() && !t.apiKeyB.IsZero() }

// Host is the base URL's host (with port).
func (t *Target) Host() string { return t.Base.Host }

// Requests returns how many requests were sent so far.
func (t *Target) Requests() int64 { return t.used.Load() }

// Do sends one request, counting it against the budget, and reads the
// answer. Redirects are never followed: a redirect is an answer. Unless
// rq.NoPace, it waits while the deployment's RateLimit header says the
// route's window is spent, and sends once more after a 429.
func (t *Target) Do(ctx context.Context, rq Request) (*Response, error) {
	method := rq.Method
	if method == "" {
		method = http.MethodGet
	}
	key := routeKey(method, rq.Path)
	for attempt := 0; ; attempt++ {
		if !rq.NoPace {
			if err := t.pace.wait(ctx, key); err != nil {
				return nil, fmt.Errorf("waiting for the rate limit of %s %s: %w", method, rq.Path, err)
			}
		}
		r, err := t.send(ctx, method, rq)
		if err != nil {
			return nil, err
		}
		t.pace.observe(key, r.Status, r.Header)
		if r.Status != http.StatusTooManyRequests || rq.NoPace || attempt > 0 {
			return r, nil
		}
	}
}

func (t *Target) send(ctx context.Context, method string, rq Request) (*Response, error) {
	if t.used.Add(1) > t.budget {
		return nil, ErrBudget
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	u := strings.TrimSuffix(t.Base.String(), "/") + rq.Path
	var body io.Reader
	if rq.Body != nil {
		body = bytes.NewReader(rq.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, rq.Path, err)
	}
	for k, vs := range rq.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h := rq.Header.Get("Host"); h != "" {
		req.Host = h
	}
	switch {
	case rq.KeyB && t.HasKeyB():
		req.Header.Set("Authorization", "Bearer "+t.apiKeyB.Reveal())
	case rq.Bearer && t.HasKey():
		req.Header.Set("Authorization", "Bearer "+t.apiKey.Reveal())
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, rq.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", method, rq.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Raw sends head (a request line and headers, without the final empty
// line, which Raw adds after the Host header) and body on a connection of
// its own, and returns the status code of the first answer: for requests a
// conforming client cannot send (conflicting lengths, obfuscated encodings).
func (t *Target) Raw(ctx context.Context, head string, body string) (int, error) {
	if t.used.Add(1) > t.budget {
		return 0, ErrBudget
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	addr := t.Base.Host
	if t.Base.Port() == "" {
		if t.HTTPS() {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if t.HTTPS() {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.tls != nil {
			cfg = t.tls.Clone()
		}
		cfg.ServerName = t.Base.Hostname()
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	msg := head + "\r\nHost: " + t.Base.Host + "\r\nConnection: close\r\n\r\n" + body
	if _, err := io.WriteString(conn, msg); err != nil {
		return 0, fmt.Errorf("writing a raw request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, fmt.Errorf("reading the answer to a raw request: %w", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Get fetches path once per run, anonymously or with the key, and shares
// the answer between every check that asks: header checks on one route
// cost one request together.
func (t *Target) Get(ctx context.Context, path string, bearer bool) (*Response, error) {
	key := fmt.Sprintf("%v %s", bearer, path)
	t.mu.Lock()
	c, ok := t.cache[key]
	if !ok {
		c = &cached{}
		t.cache[key] = c
	}
	t.mu.Unlock()
	c.once.Do(func() {
		c.resp, c.err = t.Do(ctx, Request{Method: http.MethodGet, Path: path, Bearer: bearer})
	})
	return c.resp, c.err
}

// Options bound a run.
type Options struct {
	// APIKey, when set, enables the checks that need one.
	APIKey secret.Secret
	// APIKeyB, an API key of another workspace than APIKey's, enables the
	// cross-workspace (IDOR) checks.
	APIKeyB secret.Secret
	// Secrets are the channel secrets and sign-in credentials of the
	// deployment, for the checks that must sign a genuine delivery or log
	// in; without them those checks are skipped.
	Secrets Secrets
	// Concurrency is how many checks run at once (default 4).
	Concurrency int
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// Budget is the most requests the run sends (default 500).
	Budget int
	// Deadline bounds the whole run (default 2 minutes); checks not started
	// by then are skipped.
	Deadline time.Duration
	// TLS configures the client (for example a private CA); nil uses the
	// system roots.
	TLS *tls.Config
	// Progress, when set, gets one line per finished check.
	Progress io.Writer
	// Categories, when set, runs only those categories.
	Categories []string
	// Exclude names categories not to run.
	Exclude []string
	// HTTPPort is the plain-HTTP port of the target's host that must
	// redirect to HTTPS or be closed (default 80).
	HTTPPort int
}

// Result is one check's outcome in a report.
type Result struct {
	Category  string   `json:"category"`
	Name      string   `json:"name"`
	Severity  Severity `json:"severity"`
	Reference string   `json:"reference"`
	Status    Status   `json:"result"`
	Evidence  string   `json:"evidence"`
}

// Report is a whole run.
type Report struct {
	Target   string   `json:"target"`
	Started  string   `json:"started"`
	Requests int64    `json:"requests"`
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped"`
	Results  []Result `json:"results"`
}

// Run runs checks against base and reports every one of them, in the
// order given.
func Run(ctx context.Context, base string, checks []Check, opts Options) (*Report, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("probe: the target must be an http:// or https:// URL, got %q", base)
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimSuffix(u.Path, "/"), "", ""
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Budget <= 0 {
		opts.Budget = 500
	}
	if opts.Deadline <= 0 {
		opts.Deadline = 2 * time.Minute
	}
	checks, err = selectCategories(checks, opts.Categories, opts.Exclude)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // the probe targets the URL given, never a proxy from the environment
		TLSClientConfig:     opts.TLS,
		MaxIdleConnsPerHost: opts.Concurrency,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: opts.Timeout,
	}
	defer tr.CloseIdleConnections()
	t := &Target{
		Base:     u,
		apiKey:   opts.APIKey,
		client:   &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout:  opts.Timeout,
		tls:      opts.TLS,
		budget:   int64(opts.Budget),
		cache:    map[string]*cached{},
		apiKeyB:  opts.APIKeyB,
		secrets:  opts.Secrets,
		pace:     newPacer(),
		httpPort: opts.HTTPPort,
	}
	if t.httpPort <= 0 {
		t.httpPort = 80
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Deadline)
	defer cancel()

	rep := &Report{Target: u.String(), Started: time.Now().UTC().Format(time.RFC3339), Results: make([]Result, len(checks))}
	var (
		wg       sync.WaitGroup
		progress sync.Mutex
		done     int
	)
	sem := make(chan struct{}, opts.Concurrency)
	finish := func(i int, c Check, out Outcome) {
		rep.Results[i] = result(c, out)
		if opts.Progress != nil {
			progress.Lock()
			done++
			fmt.Fprintf(opts.Progress, "[%d/%d] %-4s %s/%s\n", done, len(checks), out.Status, c.Category, c.Name)
			progress.Unlock()
		}
	}
	var exclusive []int
	for i, c := range checks {
		if c.Exclusive {
			exclusive = append(exclusive, i)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			finish(i, c, Skipf("the run's deadline was reached before this check started"))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			finish(i, c, runOne(ctx, t, c))
		}()
	}
	wg.Wait()
	// Checks that exhaust a limit on purpose run last and one at a time,
	// so that no other check meets the limit they spent.
	for _, i := range exclusive {
		if ctx.Err() != nil {
			finish(i, checks[i], Skipf("the run's deadline was reached before this check started"))
			continue
		}
		finish(i, checks[i], runOne(ctx, t, checks[i]))
	}
	rep.Requests = min(t.Requests(), t.budget)
	for _, r := range rep.Results {
		switch r.Status {
		case Pass:
			rep.Passed++
		case Fail:
			rep.Failed++
		default:
			rep.Skipped++
		}
	}
	return rep, nil
}

func result(c Check, out Outcome) Result {
	return Result{Category: c.Category, Name: c.Name, Severity: c.Severity, Reference: c.Reference, Status: out.Status, Evidence: out.Evidence}
}

// selectCategories keeps the checks of the categories asked for (all when
// none is) minus the excluded ones; naming an unknown category is an error.
func selectCategories(checks []Check, only, exclude []string) ([]Check, error) {
	known := map[string]bool{}
	for _, c := range checks {
		known[c.Category] = true
	}
	for _, c := range append(slices.Clone(only), exclude...) {
		if !known[c] {
			return nil, fmt.Errorf("probe: unknown category %q", c)
		}
	}
	var kept []Check
	for _, c := range checks {
		if (len(only) == 0 || slices.Contains(only, c.Category)) && !slices.Contains(exclude, c.Category) {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// runOne runs a check, turning a panic into a failure of that check and an
// exhausted budget or deadline into a skip.
func runOne(ctx context.Context, t *Target, c Check) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			out = Failf("the check panicked: %v", p)
		}
	}()
	out = c.Run(ctx, t)
	// A request cut off by the deadline is not the deployment's fault; a
	// failure the check saw in an answer stands.
	if out.Status == Fail && ctx.Err() != nil && strings.HasPrefix(out.Evidence, "no answer") {
		return Skipf("the run's deadline was reached during this check")
	}
	return out
}

// requestFailed turns a transport error into an outcome: a spent budget or
// deadline skips, anything else fails (the deployment did not answer).
func requestFailed(ctx context.Context, err error) Outcome {
	switch {
	case errors.Is(err, ErrBudget):
		return Skipf("the run's request budget was spent before this check ran")
	case ctx.Err() != nil:
		return Skipf("the run's deadline was reached during this check")
	}
	return Failf("no answer: %v", err)
}
