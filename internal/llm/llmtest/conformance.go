package llmtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
)

// Sleeper records the waits a RetryPolicy asks for and returns at once, so
// retry tests neither wait nor depend on timing. Use its Sleep as
// RetryPolicy.Sleep.
type Sleeper struct {
	mu sync.Mutex
	d  []time.Duration
}

// Sleep records d.
func (s *Sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

// Durations returns the recorded waits.
func (s *Sleeper) Durations() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// Harness tells Conformance how to run one provider against its fake.
type Harness struct {
	// NewServer starts the provider's fake (NewOpenAI, NewAnthropic, NewGemini).
	NewServer func(tb testing.TB, o Options) *Server
	// NewProvider builds the adapter for s with the given key and retry policy.
	NewProvider func(t *testing.T, s *Server, key string, retry llm.RetryPolicy) llm.Provider
	// KeyPrefix starts the canary keys ("sk-proj-", "sk-ant-api03-", "AIza").
	KeyPrefix string
	// OverloadStatus is the provider's "overloaded" status (529 Anthropic,
	// 503 Gemini and OpenAI).
	OverloadStatus int
}

// CanaryKey returns a random key with prefix, to plant and search for.
func CanaryKey(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// AssertNoKey fails t if any printed form of err contains key or a fragment
// of it of six characters or more (providers echo partial keys).
func AssertNoKey(t testing.TB, err error, key string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	outs := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprintf("%q", err)}
	if u := errors.Unwrap(err); u != nil {
		outs = append(outs, u.Error())
	}
	for _, o := range outs {
		for i := 0; i+6 <= len(key); i++ {
			if strings.Contains(o, key[i:i+6]) {
				t.Fatalf("error text carries a fragment %q of the key: %s", key[i:i+6], o)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Conformance runs the checks every adapter must pass against its fake:
// text and usage, streaming and not; Retry-After honoured; 5xx retried with
// backoff; auth failures not retried and never carrying the key; a mid-stream
// error after some deltas; a stream cut without its terminator; a dropped
// connection; the caller's own error from onDelta.
func Conformance(t *testing.T, h Harness) {
	type fixture struct {
		srv   *Server
		p     llm.Provider
		sleep *Sleeper
		key   string
	}
	setup := func(t *testing.T, o Options) fixture {
		t.Helper()
		key := CanaryKey(h.KeyPrefix)
		if o.APIKey == "" {
			o.APIKey = key
		}
		srv := h.NewServer(t, o)
		sl := &Sleeper{}
		p := h.NewProvider(t, srv, key, llm.RetryPolicy{Sleep: sl.Sleep, Jitter: func() float64 { return 0 }})
		return fixture{srv: srv, p: p, sleep: sl, key: key}
	}
	req := llm.Request{
		Model:  "test-model-1",
		System: "You are a careful assistant. Follow the rules.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "What is the capital of France?"},
			{Role: llm.RoleAssistant, Content: "Paris."},
			{Role: llm.RoleUser, Content: "And of Italy?"},
		},
		MaxTokens:   256,
		Temperature: ptr(0.25),
	}
	modes := []struct {
		name string
		call func(ctx context.Context, p llm.Provider, r llm.Request, onDelta func(string) error) (llm.Response, error)
	}{
		{"complete", func(ctx context.Context, p llm.Provider, r llm.Request, _ func(string) error) (llm.Response, error) {
			return p.Complete(ctx, r)
		}},
		{"stream", func(ctx context.Context, p llm.Provider, r llm.Request, onDelta func(string) error) (llm.Response, error) {
			return p.Stream(ctx, r, onDelta)
		}},
	}
	collect := func() (*[]string, func(string) error) {
		var got []string
		return &got, func(s string) error { got = append(got, s); return nil }
	}
	const text = "Rome is the capital of Italy, and has been since 1871."

	for _, m := range modes {
		t.Run(m.name+"/answer", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Text: text})
			deltas, onDelta := collect()
			res, err := m.call(t.Context(), f.p, req, onDelta)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if res.Text != text {
				t.Errorf("text = %q, want %q", res.Text, text)
			}
			reqs := f.srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			got := reqs[0]
			if want := (llm.Usage{InputTokens: InputTokens(got), OutputTokens: CountTokens(text)}); res.Usage != want || want.InputTokens == 0 {
				t.Errorf("usage = %+v, want %+v", res.Usage, want)
			}
			if res.FinishReason != llm.FinishStop {
				t.Errorf("finish reason = %q, want stop", res.FinishReason)
			}
			if !strings.Contains(res.Model, "test-model-1") {
				t.Errorf("model = %q", res.Model)
			}
			if got.System != req.System {
				t.Errorf("system prompt not sent as system: got %q", got.System)
			}
			if !slices.Equal(got.Messages, req.Messages) {
				t.Errorf("messages = %+v, want %+v", got.Messages, req.Messages)
			}
			if got.Key != f.key {
				t.Error("the key did not arrive in the provider's auth header")
			}
			if strings.Contains(got.Query, f.key) || strings.Contains(got.Path, f.key) {
				t.Error("the key travelled in the URL")
			}
			if got.MaxTokens != req.MaxTokens || got.Temperature == nil || *got.Temperature != *req.Temperature {
				t.Errorf("max tokens %d, temperature %v not passed", got.MaxTokens, got.Temperature)
			}
			if got.Stream != (m.name == "stream") {
				t.Errorf("stream = %v", got.Stream)
			}
			if m.name == "stream" {
				if want := Deltas(text); !slices.Equal(*deltas, want) {
					t.Errorf("deltas = %q, want %q", *deltas, want)
				}
			}
		})

		t.Run(m.name+"/retry_after", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Text: text, Faults: []Fault{RateLimited("7")}})
			_, onDelta := collect()
			res, err := m.call(t.Context(), f.p, req, onDelta)
			if err != nil {
				t.Fatalf("call after a 429: %v", err)
			}
			if res.Text != text {
				t.Errorf("text = %q", res.Text)
			}
			if n := len(f.srv.Requests()); n != 2 {
				t.Errorf("requests = %d, want 2", n)
			}
			if got := f.sleep.Durations(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
				t.Errorf("waits = %v, want [7s] as Retry-After said", got)
			}
		})

		t.Run(m.name+"/retry_after_too_long", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Faults: []Fault{RateLimited("3600")}})
			_, onDelta := collect()
			_, err := m.call(t.Context(), f.p, req, onDelta)
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 429 || !e.Retryable || e.RetryAfter != time.Hour {
				t.Fatalf("err = %#v, want a retryable 429 asking for 1h", err)
			}
			if n := len(f.srv.Requests()); n != 1 || len(f.sleep.Durations()) != 0 {
				t.Errorf("requests = %d, waits = %v: a wait over the cap must not be slept", n, f.sleep.Durations())
			}
		})

		for _, status := range []int{500, h.OverloadStatus} {
			t.Run(fmt.Sprintf("%s/retry_%d", m.name, status), func(t *testing.T) {
				t.Parallel()
				f := setup(t, Options{Text: text, Faults: []Fault{ServerError(status), ServerError(status)}})
				_, onDelta := collect()
				res, err := m.call(t.Context(), f.p, req, onDelta)
				if err != nil || res.Text != text {
					t.Fatalf("call after two %ds: %v", status, err)
				}
				if n := len(f.srv.Requests()); n != 3 {
					t.Errorf("requests = %d, want 3", n)
				}
				// Jitter is pinned to 0: half of 0.5s, then half of 1s.
				want := []time.Duration{llm.DefaultBaseDelay / 2, llm.DefaultBaseDelay}
				if got := f.sleep.Durations(); !slices.Equal(got, want) {
					t.Errorf("waits = %v, want exponential backoff %v", got, want)
				}
			})
		}

		t.Run(m.name+"/attempts_bounded", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Faults: []Fault{ServerError(500), ServerError(500), ServerError(500), ServerError(500)}})
			_, onDelta := collect()
			_, err := m.call(t.Context(), f.p, req, onDelta)
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 500 {
				t.Fatalf("err = %v, want the 500", err)
			}
			if n := len(f.srv.Requests()); n != llm.DefaultMaxAttempts {
				t.Errorf("requests = %d, want %d", n, llm.DefaultMaxAttempts)
			}
		})

		for _, echo := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/auth_error_echo_%v", m.name, echo), func(t *testing.T) {
				t.Parallel()
				f := setup(t, Options{APIKey: CanaryKey(h.KeyPrefix), EchoKey: echo})
				deltas, onDelta := collect()
				_, err := m.call(t.Context(), f.p, req, onDelta)
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want *llm.Error", err)
				}
				if !e.AuthFailed() || e.Retryable {
					t.Errorf("err = %v: want an auth failure, not retryable", err)
				}
				if n := len(f.srv.Requests()); n != 1 || len(f.sleep.Durations()) != 0 {
					t.Errorf("requests = %d: an auth failure must not be retried", n)
				}
				if len(*deltas) != 0 {
					t.Errorf("deltas = %q", *deltas)
				}
				AssertNoKey(t, err, f.key)
			})
		}

		t.Run(m.name+"/mid_stream_error", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Text: text, Faults: []Fault{MidStreamError(3)}})
			deltas, onDelta := collect()
			_, err := m.call(t.Context(), f.p, req, onDelta)
			if m.name == "complete" {
				// Without a stream the fault is a 500, retried once.
				if err != nil || len(f.srv.Requests()) != 2 {
					t.Fatalf("err = %v after %d requests, want success after 2", err, len(f.srv.Requests()))
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if want := Deltas(text)[:3]; !slices.Equal(*deltas, want) {
				t.Errorf("deltas before the error = %q, want %q", *deltas, want)
			}
			if n := len(f.srv.Requests()); n != 1 {
				t.Errorf("requests = %d: never retry once text was delivered", n)
			}
		})

		t.Run(m.name+"/cut_without_terminator", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Text: text, Faults: []Fault{CutStream(2)}})
			deltas, onDelta := collect()
			_, err := m.call(t.Context(), f.p, req, onDelta)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("a cut stream or body must be an error, got %v", err)
			}
			if m.name == "stream" {
				if e.Type != llm.TypeTruncated {
					t.Errorf("type = %q, want %q", e.Type, llm.TypeTruncated)
				}
				if want := Deltas(text)[:2]; !slices.Equal(*deltas, want) {
					t.Errorf("deltas = %q, want %q", *deltas, want)
				}
			}
			if n := len(f.srv.Requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})

		t.Run(m.name+"/dropped_connection", func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{Text: text, Faults: []Fault{AbortStream(2)}})
			deltas, onDelta := collect()
			_, err := m.call(t.Context(), f.p, req, onDelta)
			if m.name == "complete" {
				if err != nil {
					t.Fatalf("a 500 then success: %v", err)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if want := Deltas(text)[:2]; !slices.Equal(*deltas, want) {
				t.Errorf("deltas = %q, want %q", *deltas, want)
			}
		})
	}

	t.Run("stream/cut_before_text_is_retried", func(t *testing.T) {
		t.Parallel()
		f := setup(t, Options{Text: text, Faults: []Fault{CutStream(0)}})
		deltas, onDelta := collect()
		res, err := f.p.Stream(t.Context(), req, onDelta)
		if err != nil || res.Text != text {
			t.Fatalf("a stream cut before any text may be retried: %v", err)
		}
		if !slices.Equal(*deltas, Deltas(text)) {
			t.Errorf("deltas = %q", *deltas)
		}
		if n := len(f.srv.Requests()); n != 2 {
			t.Errorf("requests = %d, want 2", n)
		}
	})

	t.Run("stream/callback_error_returned", func(t *testing.T) {
		t.Parallel()
		f := setup(t, Options{Text: text})
		stop := errors.New("client went away")
		n := 0
		_, err := f.p.Stream(t.Context(), req, func(string) error {
			n++
			if n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 2 {
			t.Fatalf("err = %v after %d deltas, want the callback's error after 2", err, n)
		}
		if n := len(f.srv.Requests()); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})

	t.Run("provider_prints_no_key", func(t *testing.T) {
		t.Parallel()
		f := setup(t, Options{})
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			AssertNoKey(t, fmt.Errorf(verb, f.p), f.key)
		}
	})

	t.Run("invalid_request_not_sent", func(t *testing.T) {
		t.Parallel()
		f := setup(t, Options{})
		bad := req
		bad.Messages = []llm.Message{{Role: "system", Content: "sneaky"}}
		_, err := f.p.Complete(t.Context(), bad)
		var e *llm.Error
		if !errors.As(err, &e) || e.Type != llm.TypeInvalidRequest {
			t.Fatalf("err = %v, want invalid_request", err)
		}
		if n := len(f.srv.Requests()); n != 0 {
			t.Errorf("requests = %d, want 0", n)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		f := setup(t, Options{Latency: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			defer cancel()
			for len(f.srv.Requests()) == 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
		}()
		_, err := f.p.Complete(ctx, req)
		var e *llm.Error
		if !errors.As(err, &e) || e.Type != llm.TypeCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want canceled", err)
		}
	})
}
