package egress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from a fixed table and counts lookups per host.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	// later, when set, answers every lookup of a host after its first
	// (a rebinding name).
	later map[string][]string
	calls map[string]int
}

var _ Resolver = (*fakeResolver)(nil)

func newFakeResolver(answers map[string][]string) *fakeResolver {
	return &fakeResolver{answers: answers, later: map[string][]string{}, calls: map[string]int{}}
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	ans, ok := r.answers[host]
	if l, ok2 := r.later[host]; ok2 && r.calls[host] > 1 {
		ans, ok = l, true
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, 0, len(ans))
	for _, a := range ans {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, fmt.Errorf("fake resolver: bad address %q", a)
		}
		out = append(out, net.IPAddr{IP: ip})
	}
	return out, nil
}

func (r *fakeResolver) lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func (r *fakeResolver) totalLookups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

// countingListener counts accepted connections: the proof that a refused
// request never reached the wire.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// fakeServer is a loopback HTTP server with a few behaviours.
type fakeServer struct {
	*httptest.Server
	ln   *countingListener
	port int
}

func (s *fakeServer) accepts() int64 { return s.ln.accepts.Load() }

func fakeHandler(done <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.Method)
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "v1")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: chunked, so only the body cap can stop it.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		chunk := bytes.Repeat([]byte("x"), 10)
		for n > 0 {
			k := min(n, len(chunk))
			_, _ = w.Write(chunk[:k])
			w.(http.Flusher).Flush()
			n -= k
		}
	})
	mux.HandleFunc("/sized", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(bytes.Repeat([]byte("y"), n))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	return mux
}

func startFake(t *testing.T, tls bool) *fakeServer {
	t.Helper()
	done := make(chan struct{})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	srv := httptest.NewUnstartedServer(fakeHandler(done))
	_ = srv.Listener.Close()
	srv.Listener = ln
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return &fakeServer{Server: srv, ln: ln, port: inner.Addr().(*net.TCPAddr).Port}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder collects denials from OnDeny and every log line.
type recorder struct {
	mu      sync.Mutex
	denials []Denial
	ctxs    []context.Context
	logs    syncBuffer
}

func (r *recorder) options(res Resolver) Options {
	return Options{
		Logger: slog.New(slog.NewJSONHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnDeny: func(ctx context.Context, d Denial) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.denials = append(r.denials, d)
			r.ctxs = append(r.ctxs, ctx)
		},
		Resolver:    res,
		DialTimeout: 2 * time.Second,
		Timeout:     20 * time.Second,
	}
}

func (r *recorder) got() []Denial {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Denial(nil), r.denials...)
}

// mustPolicy parses YAML policy text or fails the test.
func mustPolicy(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatalf("ParsePolicy: %v\n%s", err, text)
	}
	return p
}

func mustClient(t testing.TB, p *Policy, opts Options) *Client {
	t.Helper()
	c, err := New(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newRequest(t testing.TB, ctx context.Context, method, rawURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// send sends a request and returns the body, or the error.
func send(c *Client, req *http.Request) (string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

// mustURL parses a URL built by a test.
func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// countLogReason counts the JSON log lines that carry a reason.
func countLogReason(logs, reason string) int {
	return strings.Count(logs, `"reason":"`+reason+`"`)
}
