package anthropic

import (
	"encoding/json"
	"errors"
	"testing"

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
		NewServer: llmtest.NewAnthropic,
		NewProvider: func(t *testing.T, s *llmtest.Server, key string, retry llm.RetryPolicy) llm.Provider {
			return newClient(t, s, key, func(c *Config) { c.Retry = retry })
		},
		KeyPrefix:      "sk-ant-api03-",
		OverloadStatus: 529,
	})
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	s := llmtest.NewAnthropic(t, llmtest.Options{})
	c := newClient(t, s, llmtest.CanaryKey("sk-ant-api03-"), nil)
	req := llm.Request{Model: "claude-test", System: "Only answer in French.", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}}
	if _, err := c.Complete(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	got := s.Requests()[0]
	if got.Path != "/v1/messages" || got.Header.Get("Anthropic-Version") != DefaultVersion {
		t.Errorf("path %q, version %q", got.Path, got.Header.Get("Anthropic-Version"))
	}
	if got.Header.Get("Authorization") != "" {
		t.Error("Anthropic takes x-api-key, not a bearer token")
	}
	if got.MaxTokens != DefaultMaxTokens {
		t.Errorf("max_tokens = %d, want the default %d (the API requires it)", got.MaxTokens, DefaultMaxTokens)
	}
	var body struct {
		System   string `json:"system"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.System != req.System || len(body.Messages) != 1 || body.Messages[0].Role != "user" || body.Messages[0].Content != "hello" {
		t.Errorf("system must be top-level and user text a user message: %s", got.Body)
	}
}

func TestMissingKeyRefused(t *testing.T) {
	t.Parallel()
	s := llmtest.NewAnthropic(t, llmtest.Options{})
	if _, err := New(Config{BaseURL: s.URL, HTTPClient: s.Client()}); err == nil {
		t.Fatal("New accepted an empty key")
	}
	if _, err := New(Config{BaseURL: s.URL, APIKey: secret.New("k")}); err == nil {
		t.Fatal("New accepted a nil HTTP client")
	}
}

func TestOverloadedMidStreamBeforeTextIsRetried(t *testing.T) {
	t.Parallel()
	s := llmtest.NewAnthropic(t, llmtest.Options{Text: "bonjour tout le monde", Faults: []llmtest.Fault{llmtest.MidStreamError(0)}})
	c := newClient(t, s, "key-abcdef", nil)
	res, err := c.Stream(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}, func(string) error { return nil })
	if err != nil || res.Text != "bonjour tout le monde" {
		t.Fatalf("an overloaded_error before any text is retryable: %v", err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestStreamErrorIsTyped(t *testing.T) {
	t.Parallel()
	s := llmtest.NewAnthropic(t, llmtest.Options{Faults: []llmtest.Fault{llmtest.MidStreamError(1)}})
	c := newClient(t, s, "key-abcdef", nil)
	_, err := c.Stream(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}, func(string) error { return nil })
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != "overloaded_error" || !e.Retryable || e.Provider != "anthropic" {
		t.Fatalf("err = %#v, want a retryable overloaded_error", err)
	}
}
