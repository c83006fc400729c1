package openai

import (
	"bytes"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/sse"
)

// FuzzDecode feeds provider bytes to the three decoders (mode 0: a
// completion, 1: a stream, 2: an error body). None may panic, and a stream
// may only succeed if it carried its terminator.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"model":"m","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`), uint8(0))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"), uint8(1))
	f.Add([]byte(`{"error":{"message":"bad","type":"invalid_request_error","code":"invalid_api_key"}}`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		switch mode % 3 {
		case 0:
			_, _ = decodeResponse(data)
		case 1:
			var text strings.Builder
			_, err := decodeStream(sse.NewReader(bytes.NewReader(data), 4096, 16384), func(s string) error {
				text.WriteString(s)
				return nil
			})
			if err == nil && !bytes.Contains(data, []byte("[DONE]")) {
				t.Fatalf("a stream without [DONE] passed as complete: %q", data)
			}
			if text.Len() > len(data) {
				t.Fatalf("more text out (%d) than bytes in (%d)", text.Len(), len(data))
			}
		case 2:
			_ = decodeError(400, data)
		}
	})
}
