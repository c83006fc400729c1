package gemini

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/sse"
)

func TestDecodeStream(t *testing.T) {
	t.Parallel()
	chunk := func(text, finish string, out int) string {
		f := ""
		if finish != "" {
			f = `,"finishReason":"` + finish + `"`
		}
		return `data: {"candidates":[{"content":{"parts":[{"text":"` + text + `"}],"role":"model"}` + f + `}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":` + string(rune('0'+out)) + `},"modelVersion":"gemini-x"}` + "\r\n\r\n"
	}
	cases := []struct {
		name      string
		in        string
		text      string
		finish    string
		errType   string
		retryable bool
	}{
		{"full", chunk("a", "", 1) + chunk("b", "STOP", 2), "ab", llm.FinishStop, "", false},
		{"usage-only chunk after finish", chunk("a", "MAX_TOKENS", 1) + `data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}` + "\r\n\r\n", "a", llm.FinishLength, "", false},
		{"no finish reason", chunk("a", "", 1), "a", "", llm.TypeTruncated, true},
		{"bare JSON error", chunk("a", "", 1) + "{\n  \"error\": {\n    \"code\": 500,\n    \"message\": \"internal\",\n    \"status\": \"INTERNAL\"\n  }\n}\n", "a", "", "INTERNAL", true},
		{"error in a data line", `data: {"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}` + "\r\n\r\n", "", "", "INVALID_ARGUMENT", false},
		{"junk outside events", chunk("a", "", 1) + "<html>proxy error</html>\n", "a", "", llm.TypeBadResponse, false},
		{"blocked prompt", `data: {"promptFeedback":{"blockReason":"SAFETY"}}` + "\r\n\r\n", "", "", llm.TypeBlocked, false},
		{"answer withheld", `data: {"candidates":[{"finishReason":"SAFETY"}]}` + "\r\n\r\n", "", "", llm.TypeBlocked, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var text strings.Builder
			res, err := decodeStream(sse.NewReader(strings.NewReader(tc.in), 0, 0), func(s string) error { text.WriteString(s); return nil }, "asked")
			if text.String() != tc.text {
				t.Errorf("text = %q, want %q", text.String(), tc.text)
			}
			if tc.errType == "" {
				want := llm.Response{FinishReason: tc.finish, Model: "gemini-x", Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}}
				if err != nil || res != want {
					t.Errorf("res = %+v, err = %v; want %+v", res, err, want)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Type != tc.errType || e.Retryable != tc.retryable {
				t.Errorf("err = %#v, want %q retryable %v", err, tc.errType, tc.retryable)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	e := decodeError(429, []byte(`[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}]`))
	if e == nil || e.Type != "RESOURCE_EXHAUSTED" || e.RetryAfter != 1500*time.Millisecond {
		t.Errorf("array-wrapped error: %+v", e)
	}
	for _, bad := range []string{"", "7", "-3s", "1e9s", "NaNs", "5m"} {
		if d := parseDelay(bad); d != 0 {
			t.Errorf("parseDelay(%q) = %v, want 0", bad, d)
		}
	}
	if e := decodeError(502, []byte("<html>")); e != nil {
		t.Errorf("HTML is not an error envelope: %+v", e)
	}
}
