package gemini

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/sse"
)

// FuzzDecode feeds provider bytes to the three decoders (mode 0: a response,
// 1: a stream, 2: an error body). None may panic, and a stream may only
// succeed if some chunk carried a finish reason.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}`), uint8(0))
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"), uint8(1))
	f.Add([]byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		switch mode % 3 {
		case 0:
			_, _ = decodeResponse(data, "m")
		case 1:
			var text strings.Builder
			_, err := decodeStream(sse.NewReader(bytes.NewReader(data), 4096, 16384), func(s string) error {
				text.WriteString(s)
				return nil
			}, "m")
			// encoding/json matches keys case-insensitively and after unescaping.
			if err == nil && !bytes.Contains(bytes.ToLower(data), []byte("finishreason")) && !bytes.Contains(data, []byte(`\u`)) {
				t.Fatalf("a stream without a finish reason passed as complete: %q", data)
			}
			if text.Len() > len(data) {
				t.Fatalf("more text out (%d) than bytes in (%d)", text.Len(), len(data))
			}
		case 2:
			if e := decodeError(400, data); e != nil && (e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour) {
				t.Fatalf("retry delay %v out of bounds", e.RetryAfter)
			}
		}
	})
}
