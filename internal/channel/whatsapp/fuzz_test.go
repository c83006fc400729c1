package whatsapp_test

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/palisade"
)

// FuzzParsePayload: whatever a verified body holds, the parser never
// panics, fails only with an invalid-input error, and returns only
// messages fit to be accepted: a dedupe key of printable ASCII within the
// job's bound, a wa_id of digits as the user and the route, some text.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(fixture))
	now := time.Unix(1749416383, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := whatsapp.ParsePayload(body, "106540352242922", now)
		if err != nil {
			if palisade.ErrorCode(err) != palisade.CodeInvalid || msgs != nil {
				t.Fatalf("error %v with %d messages", err, len(msgs))
			}
			return
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			if m.Key == "" || len(m.Key) > 256 || seen[m.Key] {
				t.Fatalf("key %q", m.Key)
			}
			seen[m.Key] = true
			for _, r := range m.Key {
				if r <= 0x20 || r >= 0x7f {
					t.Fatalf("key %q", m.Key)
				}
			}
			if m.UserID == "" || m.Route.Chat != m.UserID || m.ChatID != "" || m.Text == "" || !utf8.ValidString(m.Text) {
				t.Fatalf("message %+v", m)
			}
			for _, r := range m.UserID {
				if r < '0' || r > '9' {
					t.Fatalf("user %q", m.UserID)
				}
			}
		}
	})
}
