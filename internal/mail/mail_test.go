package mail

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogSender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  Message
		ok   bool
	}{
		{"plain", Message{To: "a@example.com", Subject: "Reset", Body: "https://x.example/reset/abc"}, true},
		{"header injection in to", Message{To: "a@example.com\r\nBcc: b@example.com", Subject: "x"}, false},
		{"header injection in subject", Message{To: "a@example.com", Subject: "x\nBcc: b@example.com"}, false},
		{"display name", Message{To: "Ann <a@example.com>", Subject: "x"}, false},
		{"two recipients", Message{To: "a@example.com, b@example.com", Subject: "x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := LogSender{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}.Send(t.Context(), tt.msg)
			if (err == nil) != tt.ok {
				t.Fatalf("Send error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !strings.Contains(buf.String(), tt.msg.Body) {
				t.Fatalf("log does not carry the message body: %s", buf.String())
			}
			if !tt.ok && buf.Len() != 0 {
				t.Fatalf("refused message was logged: %s", buf.String())
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	got := string(format("Palisade <p@example.com>", Message{To: "a@example.com", Subject: "Grüße", Body: "line1\nline2"}))
	for _, want := range []string{"To: a@example.com\r\n", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n", "line1\r\nline2\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
}
