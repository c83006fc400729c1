package openai

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
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
		NewServer: llmtest.NewOpenAI,
		NewProvider: func(t *testing.T, s *llmtest.Server, key string, retry llm.RetryPolicy) llm.Provider {
			c := newClient(t, s, key, func(c *Config) { c.Retry = retry })
			return c
		},
		KeyPrefix:      "sk-proj-",
		OverloadStatus: 503,
	})
}

var simple = llm.Request{Model: "gpt-test", System: "Be brief.", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi there"}}, MaxTokens: 64}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	s := llmtest.NewOpenAI(t, llmtest.Options{APIKey: "sk-test-key-123456"})
	c := newClient(t, s, "sk-test-key-123456", nil)
	if _, err := c.Stream(t.Context(), simple, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	got := s.Requests()[0]
	if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer sk-test-key-123456" {
		t.Errorf("path %q, auth header wrong", got.Path)
	}
	if got.MaxTokensField != "max_tokens" || !got.IncludeUsage {
		t.Errorf("max tokens field %q, include_usage %v", got.MaxTokensField, got.IncludeUsage)
	}
	if !strings.Contains(string(got.Body), `{"role":"system","content":"Be brief."}`) {
		t.Errorf("system prompt not sent as a system message: %s", got.Body)
	}
	if got.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("accept = %q", got.Header.Get("Accept"))
	}
}

func TestMaxCompletionTokens(t *testing.T) {
	t.Parallel()
	s := llmtest.NewOpenAI(t, llmtest.Options{RejectMaxTokens: true})
	c := newClient(t, s, "k", nil)
	_, err := c.Complete(t.Context(), simple)
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Type != "unsupported_parameter" {
		t.Fatalf("err = %v, want the reasoning model's refusal of max_tokens", err)
	}
	c = newClient(t, s, "k", func(c *Config) { c.MaxTokensField = MaxCompletionTokensField })
	if _, err := c.Complete(t.Context(), simple); err != nil {
		t.Fatal(err)
	}
	if got := s.Requests()[1]; got.MaxTokensField != "max_completion_tokens" || got.MaxTokens != 64 {
		t.Errorf("sent %s=%d", got.MaxTokensField, got.MaxTokens)
	}
	if _, err := New(Config{HTTPClient: s.Client(), MaxTokensField: "max"}); err == nil {
		t.Error("an unknown MaxTokensField must be refused")
	}
}

func TestGroqStreamUsage(t *testing.T) {
	t.Parallel()
	s := llmtest.NewOpenAI(t, llmtest.Options{GroqUsage: true, Text: "one two three"})
	c := newClient(t, s, "gsk_test", func(c *Config) { c.Name = "groq" })
	res, err := c.Stream(t.Context(), simple, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: llmtest.InputTokens(s.Requests()[0]), OutputTokens: 3}
	if res.Usage != want {
		t.Errorf("usage = %+v, want %+v from x_groq.usage", res.Usage, want)
	}
	if c.Name() != "groq" {
		t.Errorf("name = %q", c.Name())
	}
}

func TestDisableStreamUsage(t *testing.T) {
	t.Parallel()
	s := llmtest.NewOpenAI(t, llmtest.Options{})
	c := newClient(t, s, "", func(c *Config) { c.DisableStreamUsage = true })
	res, err := c.Stream(t.Context(), simple, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := s.Requests()[0]
	if strings.Contains(string(got.Body), "stream_options") || res.Usage != (llm.Usage{}) {
		t.Errorf("stream_options sent or usage invented: %s %+v", got.Body, res.Usage)
	}
	if _, ok := got.Header["Authorization"]; ok {
		t.Error("no key configured, yet an Authorization header was sent")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	target := llmtest.NewOpenAI(t, llmtest.Options{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/chat/completions", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(front.Close)
	c, err := New(Config{BaseURL: front.URL + "/v1", APIKey: secret.New(llmtest.CanaryKey("sk-proj-")), HTTPClient: target.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(t.Context(), simple)
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != llm.TypeRedirect || e.Retryable {
		t.Fatalf("err = %v, want redirect_refused", err)
	}
	if n := len(target.Requests()); n != 0 {
		t.Errorf("the redirect was followed: the target got %d requests (with the key)", n)
	}
}

func TestConfigChecks(t *testing.T) {
	t.Parallel()
	s := llmtest.NewOpenAI(t, llmtest.Options{})
	cases := map[string]Config{
		"no client":        {BaseURL: s.URL},
		"user info":        {BaseURL: "https://user:pw@example.com/v1", HTTPClient: s.Client()},
		"query":            {BaseURL: "https://example.com/v1?key=x", HTTPClient: s.Client()},
		"scheme":           {BaseURL: "ftp://example.com/v1", HTTPClient: s.Client()},
		"newline in key":   {BaseURL: s.URL, HTTPClient: s.Client(), APIKey: secret.New("sk-abc\r\nX-Evil: 1")},
		"unknown tokens f": {BaseURL: s.URL, HTTPClient: s.Client(), MaxTokensField: "tokens"},
	}
	for name, cfg := range cases {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		} else if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: the error repeats a secret: %v", name, err)
		}
	}
}
