package anthropic

import (
	"bytes"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/sse"
)

// FuzzDecode feeds provider bytes to the three decoders (mode 0: a message,
// 1: a stream, 2: an error body). None may panic, and a stream may only
// succeed if it carried message_stop.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"message","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`), uint8(0))
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), uint8(1))
	f.Add([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`), uint8(2))
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
			// A JSON string may spell it with escapes.
			if err == nil && !bytes.Contains(data, []byte("message_stop")) && !bytes.Contains(data, []byte(`\u`)) {
				t.Fatalf("a stream without message_stop passed as complete: %q", data)
			}
			if text.Len() > len(data) {
				t.Fatalf("more text out (%d) than bytes in (%d)", text.Len(), len(data))
			}
		case 2:
			_ = decodeError(400, data)
		}
	})
}
