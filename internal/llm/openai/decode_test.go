package openai

import (
	"errors"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/sse"
)

func TestDecodeStream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in       string
		text     string
		finish   string
		usage    llm.Usage
		errType  string
		retrying bool
	}{
		{"plain", "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n", "a", llm.FinishLength, llm.Usage{}, "", false},
		{"usage chunk", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n", "", "", llm.Usage{InputTokens: 4, OutputTokens: 5}, "", false},
		{"keep-alives and blank data", ": ping\n\ndata:\n\ndata: [DONE]\n\n", "", "", llm.Usage{}, "", false},
		{"error key", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n", "a", "", llm.Usage{}, "server_error", true},
		{"error event", "event: error\ndata: {\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\n", "", "", llm.Usage{}, "invalid_request_error", false},
		{"groq early stop", "data: {\"choices\":[],\"x_groq\":{\"error\":\"stream stopped\"}}\n\n", "", "", llm.Usage{}, "error", false},
		{"refusal", "data: {\"choices\":[{\"delta\":{\"refusal\":\"I can't.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", "I can't.", llm.FinishContentFilter, llm.Usage{}, "", false},
		{"no DONE", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", "a", "", llm.Usage{}, llm.TypeTruncated, true},
		{"not JSON", "data: {nope\n\n", "", "", llm.Usage{}, "json", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var text strings.Builder
			res, err := decodeStream(sse.NewReader(strings.NewReader(tc.in), 0, 0), func(s string) error { text.WriteString(s); return nil })
			if text.String() != tc.text {
				t.Errorf("text = %q, want %q", text.String(), tc.text)
			}
			if tc.errType == "" {
				if err != nil || res.FinishReason != tc.finish || res.Usage != tc.usage {
					t.Fatalf("res = %+v, err = %v", res, err)
				}
				return
			}
			var e *llm.Error
			switch {
			case tc.errType == "json":
				if err == nil || errors.As(err, &e) {
					t.Fatalf("err = %v, want a decoding error", err)
				}
			case !errors.As(err, &e) || e.Type != tc.errType || e.Retryable != tc.retrying:
				t.Fatalf("err = %#v, want type %q retryable %v", err, tc.errType, tc.retrying)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	res, err := decodeResponse([]byte(`{"model":"m","choices":[{"message":{"content":null,"refusal":"No."},"finish_reason":"stop"}]}`))
	if err != nil || res.Text != "No." || res.FinishReason != llm.FinishContentFilter {
		t.Errorf("refusal: %+v %v", res, err)
	}
	var e *llm.Error
	if _, err := decodeResponse([]byte(`{"choices":[]}`)); !errors.As(err, &e) || e.Type != llm.TypeBadResponse {
		t.Errorf("no choices: %v", err)
	}
	if _, err := decodeResponse([]byte(`{"error":{"message":"x","type":"server_error"}}`)); !errors.As(err, &e) || !e.Retryable {
		t.Errorf("an error with status 200: %v", err)
	}
	if e := decodeError(500, []byte(`<html>Bad Gateway</html>`)); e != nil {
		t.Errorf("an HTML body is not the provider's error shape: %v", e)
	}
	if e := decodeError(429, []byte(`{"error":{"message":"slow","type":"requests","code":"rate_limit_exceeded"}}`)); e == nil || e.Type != "rate_limit_exceeded" || e.Message != "slow" {
		t.Errorf("error body: %v", e)
	}
}
