package anthropic

import (
	"errors"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/sse"
)

func TestDecodeStream(t *testing.T) {
	t.Parallel()
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
	delta := func(s string) string {
		return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + s + "\"}}\n\n"
	}
	stop := "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":12}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	cases := []struct {
		name      string
		in        string
		text      string
		errType   string
		retryable bool
	}{
		{"full", start + delta("a") + delta("b") + stop, "ab", "", false},
		{"unknown events ignored", start + "event: brand_new_event\ndata: not json at all\n\n" + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n" + delta("a") + stop, "a", "", false},
		{"type from data when no event line", start + "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n" + stop, "x", "", false},
		{"error event", start + delta("a") + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", "a", "overloaded_error", true},
		{"client error event", start + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"no\"}}\n\n", "", "invalid_request_error", false},
		{"no message_stop", start + delta("a"), "a", llm.TypeTruncated, true},
		{"bad JSON in a known event", start + "event: content_block_delta\ndata: {oops\n\n", "", "json", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var text strings.Builder
			res, err := decodeStream(sse.NewReader(strings.NewReader(tc.in), 0, 0), func(s string) error { text.WriteString(s); return nil })
			if text.String() != tc.text {
				t.Errorf("text = %q, want %q", text.String(), tc.text)
			}
			var e *llm.Error
			switch {
			case tc.errType == "":
				want := llm.Response{FinishReason: llm.FinishLength, Model: "claude", Usage: llm.Usage{InputTokens: 9, OutputTokens: 12}}
				if err != nil || res != want {
					t.Errorf("res = %+v, err = %v; want %+v", res, err, want)
				}
			case tc.errType == "json":
				if err == nil || errors.As(err, &e) {
					t.Errorf("err = %v, want a decoding error", err)
				}
			case !errors.As(err, &e) || e.Type != tc.errType || e.Retryable != tc.retryable:
				t.Errorf("err = %#v, want %q retryable %v", err, tc.errType, tc.retryable)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	res, err := decodeResponse([]byte(`{"type":"message","model":"c","content":[{"type":"thinking","thinking":"secret"},{"type":"text","text":"a"},{"type":"tool_use","id":"x"},{"type":"text","text":"b"}],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":2}}`))
	if err != nil || res.Text != "ab" || res.FinishReason != llm.FinishContentFilter {
		t.Errorf("res = %+v, %v", res, err)
	}
	var e *llm.Error
	if _, err := decodeResponse([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)); !errors.As(err, &e) || !e.Retryable {
		t.Errorf("an error with status 200: %v", err)
	}
	if _, err := decodeResponse([]byte(`{"type":"completion"}`)); !errors.As(err, &e) || e.Type != llm.TypeBadResponse {
		t.Errorf("not a message: %v", err)
	}
}
