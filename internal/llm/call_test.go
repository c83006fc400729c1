package llm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// A minimal wire format for exercising the Caller: each data event is a
// delta, "[END]" ends the stream.
func decodeStream(events *sse.Reader, emit func(string) error) (llm.Response, error) {
	for {
		ev, err := events.Next()
		if errors.Is(err, io.EOF) {
			return llm.Response{}, &llm.Error{Type: llm.TypeTruncated, Retryable: true}
		}
		if err != nil {
			return llm.Response{}, err
		}
		if ev.Data == "[END]" {
			return llm.Response{FinishReason: llm.FinishStop}, nil
		}
		if err := emit(ev.Data); err != nil {
			return llm.Response{}, err
		}
	}
}

func decodeBody(body []byte) (llm.Response, error) { return llm.Response{Text: string(body)}, nil }

type fixture struct {
	caller *llm.Caller
	sleep  *llmtest.Sleeper
	hits   *atomic.Int32
	url    string
}

func setup(t *testing.T, key string, h http.HandlerFunc, mod func(*llm.CallerConfig)) fixture {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		// A server notices a client gone only once it has read the body.
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	sl := &llmtest.Sleeper{}
	cfg := llm.CallerConfig{
		Provider:   "test",
		HTTPClient: srv.Client(),
		APIKey:     secret.New(key),
		Retry:      llm.RetryPolicy{Sleep: sl.Sleep, Jitter: func() float64 { return 0 }},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := llm.NewCaller(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{caller: c, sleep: sl, hits: &hits, url: srv.URL}
}

func call(f fixture) llm.Call {
	return llm.Call{URL: f.url, Header: http.Header{"X-Key": {"k"}}, Body: []byte("{}")}
}

func TestStatusHandling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		retryable bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {408, true}, {409, false},
		{429, true}, {500, true}, {502, true}, {503, true}, {529, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			f := setup(t, "", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }, nil)
			_, err := f.caller.Complete(t.Context(), call(f), decodeBody)
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Retryable != tc.retryable || e.Provider != "test" {
				t.Fatalf("err = %#v", err)
			}
			want := int32(1)
			if tc.retryable {
				want = llm.DefaultMaxAttempts
			}
			if got := f.hits.Load(); got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
		})
	}
}

func TestRetryAfterMsHeader(t *testing.T) {
	t.Parallel()
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After-Ms", "1250")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
	}, func(c *llm.CallerConfig) { c.Retry.MaxAttempts = 2 })
	_, err := f.caller.Complete(t.Context(), call(f), decodeBody)
	var e *llm.Error
	if !errors.As(err, &e) || e.RetryAfter != 1250*time.Millisecond {
		t.Fatalf("err = %v", err)
	}
	if got := f.sleep.Durations(); !slices.Equal(got, []time.Duration{1250 * time.Millisecond}) {
		t.Errorf("waits = %v", got)
	}
}

func TestPerCallTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, func(c *llm.CallerConfig) { c.Timeout = 50 * time.Millisecond })
	_, err := f.caller.Complete(t.Context(), call(f), decodeBody)
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a time-out", err)
	}
	// Under load the time-out may pass before the request is even sent.
	if f.hits.Load() > 1 {
		t.Errorf("attempts = %d: no retry once the call's time is spent", f.hits.Load())
	}
}

// expiringCtx is a context whose deadline passes when the test says so, so
// a time-out can be placed exactly between two deltas without racing a clock.
type expiringCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (c *expiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

func TestStreamTimeoutKeepsDeliveredText(t *testing.T) {
	t.Parallel()
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}, nil)
	ctx := &expiringCtx{Context: t.Context(), done: make(chan struct{})}
	var got []string
	_, err := f.caller.Stream(ctx, call(f), decodeStream, func(s string) error {
		got = append(got, s)
		ctx.expire() // the deadline passes while the provider is still generating
		return nil
	})
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeTimeout {
		t.Fatalf("err = %v, want a time-out", err)
	}
	if !slices.Equal(got, []string{"first"}) || f.hits.Load() != 1 {
		t.Errorf("deltas %q after %d attempts", got, f.hits.Load())
	}
}

func TestCallerCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	}, nil)
	_, err := f.caller.Complete(ctx, call(f), decodeBody)
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeCanceled || e.Retryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestStreamRetriesOnlyBeforeText(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch n.Add(1) {
		case 1:
			fmt.Fprint(w, ": nothing yet\n\n") // cut before any text: retryable
		case 2:
			fmt.Fprint(w, "data: a\n\ndata: b\n\n") // cut after text: final
		default:
			fmt.Fprint(w, "data: never\n\ndata: [END]\n\n")
		}
	}, nil)
	var got []string
	_, err := f.caller.Stream(t.Context(), call(f), decodeStream, func(s string) error { got = append(got, s); return nil })
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeTruncated {
		t.Fatalf("err = %v, want truncated", err)
	}
	if f.hits.Load() != 2 || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("attempts %d, deltas %q: a stream that delivered text must not be retried", f.hits.Load(), got)
	}
}

func TestResponseCap(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 1024)
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{{1024, true}, {1023, false}} {
		f := setup(t, "", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) },
			func(c *llm.CallerConfig) { c.MaxResponseBytes = tc.limit })
		res, err := f.caller.Complete(t.Context(), call(f), decodeBody)
		var e *llm.Error
		if tc.ok && (err != nil || res.Text != body) {
			t.Errorf("limit %d: %v", tc.limit, err)
		}
		if !tc.ok && (!errors.As(err, &e) || e.Type != llm.TypeTooLarge || e.Retryable) {
			t.Errorf("limit %d: err = %v, want too large", tc.limit, err)
		}
	}
	f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: "+strings.Repeat("y", 4096)+"\n\n")
	}, func(c *llm.CallerConfig) { c.MaxSSELine = 1024 })
	_, err := f.caller.Stream(t.Context(), call(f), decodeStream, func(string) error { return nil })
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeTooLarge {
		t.Errorf("long SSE line: err = %v", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { leaked.Add(1) }))
	t.Cleanup(target.Close)
	for _, status := range []int{301, 302, 307, 308} {
		f := setup(t, "", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, status)
		}, nil)
		_, err := f.caller.Complete(t.Context(), call(f), decodeBody)
		var e *llm.Error
		if !errors.As(err, &e) || e.Type != llm.TypeRedirect || e.Retryable {
			t.Errorf("%d: err = %v", status, err)
		}
	}
	if leaked.Load() != 0 {
		t.Fatal("a redirect was followed, carrying the auth header")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	// A refused connection may be retried: the provider never saw the request.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	sl := &llmtest.Sleeper{}
	c, err := llm.NewCaller(llm.CallerConfig{Provider: "test", HTTPClient: &http.Client{}, Retry: llm.RetryPolicy{Sleep: sl.Sleep}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(t.Context(), llm.Call{URL: "http://" + addr + "/x"}, decodeBody)
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeTransport || !e.Retryable || len(sl.Durations()) != llm.DefaultMaxAttempts-1 {
		t.Fatalf("refused: err = %v, waits %v", err, sl.Durations())
	}

	// Anything else (an egress denial, a TLS failure) would fail again: no retry.
	denied := errors.New("egress: host not allowed by policy")
	var n atomic.Int32
	c, err = llm.NewCaller(llm.CallerConfig{Provider: "test", HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		n.Add(1)
		return nil, denied
	})}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(t.Context(), llm.Call{URL: "https://api.example/x"}, decodeBody)
	if !errors.As(err, &e) || e.Type != llm.TypeTransport || e.Retryable || n.Load() != 1 || !errors.Is(err, denied) {
		t.Fatalf("denied: err = %v after %d attempts", err, n.Load())
	}
}

func TestErrorsNeverCarryTheKey(t *testing.T) {
	t.Parallel()
	key := llmtest.CanaryKey("sk-proj-")
	// The provider echoes the key in its error body, its error type, its
	// request id; the transport error quotes it too.
	f := setup(t, key, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "req_"+key[10:30])
		w.WriteHeader(401)
		fmt.Fprint(w, key)
	}, func(c *llm.CallerConfig) {
		c.DecodeError = func(status int, body []byte) *llm.Error {
			return &llm.Error{Type: "bad_key_" + string(body[8:20]), Message: "Incorrect API key provided: " + string(body) + " (" + string(body[5:25]) + ")"}
		}
	})
	_, err := f.caller.Complete(t.Context(), call(f), decodeBody)
	llmtest.AssertNoKey(t, err, key)

	// Without a decoder, the body is never quoted at all.
	f = setup(t, key, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500); fmt.Fprint(w, "<html>"+key) },
		func(c *llm.CallerConfig) { c.Retry.MaxAttempts = 1 })
	_, err = f.caller.Complete(t.Context(), call(f), decodeBody)
	llmtest.AssertNoKey(t, err, key)

	c, _ := llm.NewCaller(llm.CallerConfig{APIKey: secret.New(key), HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("proxy refused header value " + r.Header.Get("X-Key"))
	})}})
	_, err = c.Complete(t.Context(), llm.Call{URL: "https://api.example/x", Header: http.Header{"X-Key": {key}}}, decodeBody)
	llmtest.AssertNoKey(t, err, key)
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		if strings.Contains(u.Error(), key[8:20]) {
			t.Fatalf("a wrapped cause carries the key: %v", u)
		}
	}
}

func TestNewCallerChecks(t *testing.T) {
	t.Parallel()
	if _, err := llm.NewCaller(llm.CallerConfig{}); err == nil {
		t.Error("a nil HTTP client was accepted")
	}
	_, err := llm.NewCaller(llm.CallerConfig{HTTPClient: &http.Client{}, APIKey: secret.New("sk-secret\nX-Injected: yes")})
	if err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("a key with a line break: err = %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		base, path, want string
	}{
		{"https://api.openai.com/v1", "/chat/completions", "https://api.openai.com/v1/chat/completions"},
		{"https://api.groq.com/openai/v1/", "/chat/completions", "https://api.groq.com/openai/v1/chat/completions"},
		{"http://127.0.0.1:11434/v1", "/chat/completions", "http://127.0.0.1:11434/v1/chat/completions"},
		{"https://user:pw@example.com", "/x", ""},
		{"https://example.com/v1?key=abc", "/x", ""},
		{"https://example.com/v1?", "/x", ""},
		{"https://example.com/v1#frag", "/x", ""},
		{"file:///etc/passwd", "", ""},
		{"example.com/v1", "/x", ""},
		{"://bad", "/x", ""},
	}
	for _, tc := range cases {
		got, err := llm.Endpoint(tc.base, tc.path)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "abc")) {
			t.Errorf("the error repeats the URL's secrets: %v", err)
		}
	}
}

// TestErrorNamesTheRealPath: an error names the path the request went to,
// as sent (not a pattern), without its query and without the key even
// when the path quotes it; streams and whole answers alike.
func TestErrorNamesTheRealPath(t *testing.T) {
	t.Parallel()
	const key = "sk-path-key-Zx9Cv8Bn7Mm6"
	f := setup(t, key, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"nope"}`, http.StatusBadRequest)
	}, nil)
	for _, tc := range []struct{ path, want string }{
		{"/v1/chat/completions?alt=sse&key=q-secret-value", "/v1/chat/completions"},
		{"/v1beta/models/gemini-2.0-flash:streamGenerateContent", "/v1beta/models/gemini-2.0-flash:streamGenerateContent"},
		{"/v1/" + key + "/chat", "/v1/[REDACTED]/chat"},
	} {
		c := llm.Call{URL: f.url + tc.path, Header: http.Header{}}
		_, err := f.caller.Complete(t.Context(), c, decodeBody)
		var e *llm.Error
		if !errors.As(err, &e) || e.Path != tc.want || !strings.Contains(e.Error(), "test "+tc.want+":") {
			t.Errorf("Complete %s: %v, want path %q", tc.path, err, tc.want)
		}
		_, err = f.caller.Stream(t.Context(), c, decodeStream, func(string) error { return nil })
		if e = nil; !errors.As(err, &e) || e.Path != tc.want {
			t.Errorf("Stream %s: %v, want path %q", tc.path, err, tc.want)
		}
		if strings.Contains(err.Error(), "q-secret-value") || strings.Contains(err.Error(), key) {
			t.Errorf("the error quotes the query or the key: %v", err)
		}
	}
}
