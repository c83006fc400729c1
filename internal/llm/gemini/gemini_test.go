package gemini

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/secret"
)

func newClient(t *testing.T, s *llmtest.Server, key string, mod func(*Config)) *Client {
	t.Helper()
	sl := &llmtest.Sleeper{}
	cfg := Config{BaseURL: s.URL, APIKey: secret.New(key), HTTPClient: s.Client(), Retry: llm.RetryPolicy{Sleep: sl.Sleep}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	llmtest.Conformance(t, llmtest.Harness{
		NewServer: llmtest.NewGemini,
		NewProvider: func(t *testing.T, s *llmtest.Server, key string, retry llm.RetryPolicy) llm.Provider {
			return newClient(t, s, key, func(c *Config) { c.Retry = retry })
		},
		KeyPrefix:      "AIza",
		OverloadStatus: 503,
	})
}

var simple = llm.Request{
	Model:    "gemini-2.5-flash",
	System:   "Answer in one sentence.",
	Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}, {Role: llm.RoleAssistant, Content: "hello"}, {Role: llm.RoleUser, Content: "why?"}},
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	s := llmtest.NewGemini(t, llmtest.Options{})
	key := llmtest.CanaryKey("AIza")
	c := newClient(t, s, key, nil)
	if _, err := c.Complete(t.Context(), simple); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stream(t.Context(), simple, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if reqs[0].Path != "/v1beta/models/gemini-2.5-flash:generateContent" || reqs[0].Query != "" {
		t.Errorf("unary call went to %s?%s", reqs[0].Path, reqs[0].Query)
	}
	if reqs[1].Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || reqs[1].Query != "alt=sse" {
		t.Errorf("stream call went to %s?%s", reqs[1].Path, reqs[1].Query)
	}
	for _, r := range reqs {
		if r.Header.Get("X-Goog-Api-Key") != key || strings.Contains(r.Query, "key=") {
			t.Error("the key must travel in x-goog-api-key and never in the URL")
		}
	}
	var body struct {
		SystemInstruction struct {
			Parts []struct{ Text string }
		} `json:"systemInstruction"`
		Contents []struct {
			Role string
		} `json:"contents"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, c := range body.Contents {
		roles = append(roles, c.Role)
	}
	if len(body.SystemInstruction.Parts) != 1 || body.SystemInstruction.Parts[0].Text != simple.System || !slices.Equal(roles, []string{"user", "model", "user"}) {
		t.Errorf("system instruction or roles wrong: %s", reqs[0].Body)
	}
}

func TestThoughtsAreNotAnswerText(t *testing.T) {
	t.Parallel()
	s := llmtest.NewGemini(t, llmtest.Options{Text: "The answer.", Thought: "Let me think secretly about this."})
	c := newClient(t, s, "AIza-test-key", nil)
	res, err := c.Complete(t.Context(), simple)
	if err != nil || res.Text != "The answer." {
		t.Fatalf("complete = %q, %v", res.Text, err)
	}
	if want := llmtest.CountTokens("The answer.") + llmtest.CountTokens("Let me think secretly about this."); res.Usage.OutputTokens != want {
		t.Errorf("output tokens = %d, want %d (thoughts are billed as output)", res.Usage.OutputTokens, want)
	}
	var deltas []string
	res, err = c.Stream(t.Context(), simple, func(d string) error { deltas = append(deltas, d); return nil })
	if err != nil || res.Text != "The answer." || strings.Contains(strings.Join(deltas, ""), "secretly") {
		t.Fatalf("stream = %q (deltas %q), %v", res.Text, deltas, err)
	}
}

func TestBlockedPrompt(t *testing.T) {
	t.Parallel()
	s := llmtest.NewGemini(t, llmtest.Options{BlockReason: "PROHIBITED_CONTENT"})
	c := newClient(t, s, "AIza-test-key", nil)
	for name, call := range map[string]func() error{
		"complete": func() error { _, err := c.Complete(t.Context(), simple); return err },
		"stream":   func() error { _, err := c.Stream(t.Context(), simple, func(string) error { return nil }); return err },
	} {
		err := call()
		var e *llm.Error
		if !errors.As(err, &e) || e.Type != llm.TypeBlocked || e.Retryable || !strings.Contains(e.Message, "PROHIBITED_CONTENT") {
			t.Errorf("%s: err = %v, want a clear blocked error", name, err)
		}
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("requests = %d: a blocked prompt must not be retried", n)
	}
}

func TestRetryInfoHonoured(t *testing.T) {
	t.Parallel()
	// Google says how long to wait in the error details, not in a header.
	s := llmtest.NewGemini(t, llmtest.Options{Faults: []llmtest.Fault{llmtest.RateLimited("12")}})
	sl := &llmtest.Sleeper{}
	c := newClient(t, s, "AIza-test-key", func(c *Config) { c.Retry.Sleep = sl.Sleep })
	if _, err := c.Complete(t.Context(), simple); err != nil {
		t.Fatal(err)
	}
	if got := sl.Durations(); !slices.Equal(got, []time.Duration{12 * time.Second}) {
		t.Errorf("waits = %v, want [12s] from RetryInfo", got)
	}
	if strings.Contains(s.Requests()[0].Header.Get("Retry-After"), "12") {
		t.Fatal("test is void: the fake sent a header")
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := llmtest.NewGemini(t, llmtest.Options{Faults: []llmtest.Fault{llmtest.RateLimited(now.Add(9 * time.Second).Format(http.TimeFormat))}})
	sl := &llmtest.Sleeper{}
	c := newClient(t, s, "AIza-test-key", func(c *Config) {
		c.Retry.Sleep = sl.Sleep
		c.Retry.Now = func() time.Time { return now }
	})
	if _, err := c.Complete(t.Context(), simple); err != nil {
		t.Fatal(err)
	}
	if got := sl.Durations(); !slices.Equal(got, []time.Duration{9 * time.Second}) {
		t.Errorf("waits = %v, want [9s] from the HTTP date", got)
	}
}

func TestModelNameCannotSteerTheURL(t *testing.T) {
	t.Parallel()
	s := llmtest.NewGemini(t, llmtest.Options{})
	c := newClient(t, s, "AIza-test-key", nil)
	for _, model := range []string{"../../v1/files", "gemini?alt=x", "a/b", "gemini#x", "x:generateContent", ".."} {
		r := simple
		r.Model = model
		_, err := c.Complete(t.Context(), r)
		var e *llm.Error
		if !errors.As(err, &e) || e.Type != llm.TypeInvalidRequest {
			t.Errorf("model %q: err = %v, want invalid_request", model, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
	r := simple
	r.Model = "models/gemini-2.0-flash-001"
	if _, err := c.Complete(t.Context(), r); err != nil {
		t.Fatalf("a models/ prefix is the usual spelling: %v", err)
	}
}
