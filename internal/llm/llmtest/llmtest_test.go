package llmtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestDeltas(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"":                 nil,
		"one":              {"one"},
		"a b  c":           {"a ", "b  ", "c"},
		"trailing ":        {"trailing "},
		" lead":            {" ", "lead"},
		"Hello, world. ok": {"Hello, ", "world. ", "ok"},
	}
	for in, want := range cases {
		got := Deltas(in)
		if !slices.Equal(got, want) || strings.Join(got, "") != in {
			t.Errorf("Deltas(%q) = %q, want %q", in, got, want)
		}
	}
}

type rawCase struct {
	name    string
	path    string
	header  map[string]string
	body    string
	status  int
	contain string // in the response body
}

func runRaw(t *testing.T, s *Server, cases []rawCase) {
	t.Helper()
	for _, tc := range cases {
		req, err := http.NewRequest(http.MethodPost, s.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.contain) {
			t.Errorf("%s: %d %s; want %d containing %q", tc.name, resp.StatusCode, b, tc.status, tc.contain)
		}
		if !json.Valid(bytes.TrimSpace(b)) && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Errorf("%s: error body is not JSON: %s", tc.name, b)
		}
	}
}

func TestOpenAIFakeRefusesLikeTheRealOne(t *testing.T) {
	t.Parallel()
	s := NewOpenAI(t, Options{APIKey: "sk-proj-abcdefghijklmnopqrstuvwxyz0123"})
	auth := map[string]string{"Authorization": "Bearer sk-proj-abcdefghijklmnopqrstuvwxyz0123"}
	ok := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	runRaw(t, s, []rawCase{
		{"no key", "/chat/completions", nil, ok, 401, "You didn't provide an API key"},
		{"wrong key masked", "/chat/completions", map[string]string{"Authorization": "Bearer sk-proj-zzzzzzzzzzzzzzzzzzzzzzzzzzzz9999"}, ok, 401, "sk-proj-****************************9999."},
		{"unknown field", "/chat/completions", auth, `{"model":"m","messages":[],"bogus":1}`, 400, "Unrecognized request argument supplied: bogus"},
		{"no model", "/chat/completions", auth, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "you must provide a model parameter"},
		{"bad role", "/chat/completions", auth, `{"model":"m","messages":[{"role":"wizard","content":"hi"}]}`, 400, "Invalid value: 'wizard'"},
		{"stream_options without stream", "/chat/completions", auth, `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, 400, "only allowed when 'stream' is enabled"},
		{"wrong path", "/v1/chat/completions", auth, ok, 404, "unknown_url"},
		{"ok", "/chat/completions", auth, ok, 200, `"object":"chat.completion"`},
	})
}

func TestAnthropicFakeRefusesLikeTheRealOne(t *testing.T) {
	t.Parallel()
	s := NewAnthropic(t, Options{APIKey: "sk-ant-key"})
	h := map[string]string{"X-Api-Key": "sk-ant-key", "Anthropic-Version": "2023-06-01"}
	runRaw(t, s, []rawCase{
		{"wrong key", "/v1/messages", map[string]string{"X-Api-Key": "nope", "Anthropic-Version": "2023-06-01"}, `{}`, 401, `"authentication_error"`},
		{"no version", "/v1/messages", map[string]string{"X-Api-Key": "sk-ant-key"}, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 400, "anthropic-version: header is required"},
		{"no max_tokens", "/v1/messages", h, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, "max_tokens: Field required"},
		{"system role", "/v1/messages", h, `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, 400, "top-level `system` parameter"},
		{"extra field", "/v1/messages", h, `{"model":"m","max_tokens":5,"messages":[],"n":2}`, 400, "n: Extra inputs are not permitted"},
		{"ok", "/v1/messages", h, `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"sys"}],"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`, 200, `"type":"message"`},
	})
	got := s.Requests()[len(s.Requests())-1]
	if got.System != "sys" || got.Messages[0].Content != "x" {
		t.Errorf("block-form system and content not parsed: %+v", got)
	}
}

func TestGeminiFakeRefusesLikeTheRealOne(t *testing.T) {
	t.Parallel()
	s := NewGemini(t, Options{APIKey: "AIza-good", Faults: []Fault{RateLimited("7")}})
	h := map[string]string{"X-Goog-Api-Key": "AIza-good"}
	ok := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	runRaw(t, s, []rawCase{
		{"no key", "/models/g:generateContent", nil, ok, 403, "PERMISSION_DENIED"},
		{"wrong key", "/models/g:generateContent", map[string]string{"X-Goog-Api-Key": "AIza-bad"}, ok, 400, "API_KEY_INVALID"},
		{"key in URL", "/models/g:generateContent?key=AIza-good", h, ok, 400, "never in the URL"},
		{"unknown field", "/models/g:generateContent", h, `{"contents":[],"prompt":"x"}`, 400, `Unknown name \"prompt\"`},
		{"bad role", "/models/g:generateContent", h, `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, 400, "valid role: user, model"},
		{"no contents", "/models/g:generateContent", h, `{}`, 400, "contents is not specified"},
		{"unknown method", "/models/g:countTokens", h, ok, 404, "NOT_FOUND"},
		{"429 with RetryInfo", "/models/g:generateContent", h, ok, 429, `"retryDelay": "7s"`},
		{"snake_case accepted", "/models/g:generateContent", h, `{"system_instruction":{"parts":[{"text":"s"}]},"contents":[{"parts":[{"text":"x"}]}],"generation_config":{"max_output_tokens":5}}`, 200, `"finishReason":"STOP"`},
		{"JSON array without alt=sse", "/models/g:streamGenerateContent", h, ok, 200, `[{"candidates"`},
	})
	reqs := s.Requests()
	snake := reqs[len(reqs)-2]
	if snake.System != "s" || snake.MaxTokens != 5 {
		t.Errorf("snake_case fields not parsed: %+v", snake)
	}
}

func TestFaultsAreConsumedInOrder(t *testing.T) {
	t.Parallel()
	s := NewOpenAI(t, Options{Faults: []Fault{ServerError(502)}})
	s.Inject(RateLimited("1"))
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	runRaw(t, s, []rawCase{
		{"first", "/chat/completions", nil, body, 502, "server_error"},
		{"second", "/chat/completions", nil, body, 429, "rate_limit_exceeded"},
		{"third", "/chat/completions", nil, body, 200, DefaultText},
	})
	if n := len(s.Requests()); n != 3 {
		t.Errorf("recorded %d requests", n)
	}
}
