package redact

import (
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzString checks that String never panics, that its output never contains
// a registered secret, and that the slog path agrees for token-like secrets.
func FuzzString(f *testing.F) {
	f.Add("POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq/sendMessage", "AAHdqTcvCH1vGWJx")
	f.Add(`{"password":"correct horse"}`, "correct horse")
	f.Add("ED]abcdefghabcdefgh", "ED]abcdefgh")
	f.Add("Authorization: Bearer abc", "Bearer abc")
	f.Add("postgres://u:p@ss@h/db", "u:p@ss@h")
	f.Add("\\nsk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "[REDACTED:openai]")
	f.Fuzz(func(t *testing.T, in, secret string) {
		r := New(Options{Secrets: []string{secret}})
		out := r.String(in)
		registered := len(secret) >= MinSecretLen && !r.inMarker(secret)
		if registered && strings.Contains(out, secret) {
			t.Fatalf("String(%q) = %q contains registered %q", in, out, secret)
		}
		if !registered || !tokenLike(secret) {
			return
		}
		var sb strings.Builder
		slog.New(r.Handler(slog.NewTextHandler(&sb, nil))).Info(in, "v", in, slog.Group(in, in, in))
		if strings.Contains(sb.String(), secret) {
			t.Fatalf("log output %q contains registered %q", sb.String(), secret)
		}
	})
}

// tokenLike reports whether s has only characters slog's text handler
// writes as they are; others come out escaped, and an escape sequence can
// spell out a different value than the one logged.
func tokenLike(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.:/+=@", c) >= 0) {
			return false
		}
	}
	return true
}

// BenchmarkString redacts a typical log line with and without a secret in
// it, and reports the cost against formatting the same line with slog's text
// handler, measured in the same run.
func BenchmarkString(b *testing.B) {
	r := New(Options{Secrets: []string{"configured-app-secret-value"}})
	lines := map[string]string{
		"clean": `time=2026-01-02T03:04:05Z level=INFO msg="reply sent" request_id=req_abcdefghijklmnop ` +
			`workspace=ws_abcdefghijklmnopqrstuvwxyz bot=bot_abcdefghijklmnopqrstuvwxyz channel=telegram status=200 took=12ms`,
		"secret": `time=2026-01-02T03:04:05Z level=WARN msg="delivery failed" request_id=req_abcdefghijklmnop ` +
			`url=https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq/sendMessage status=502 took=12ms`,
	}
	for name, line := range lines {
		b.Run(name, func(b *testing.B) {
			ref := slog.New(slog.NewTextHandler(discard{}, nil))
			refNs := perOp(b.N, func() { ref.Info(line, "took", 12*time.Millisecond) })
			b.ReportAllocs()
			b.ResetTimer()
			var out string
			for i := 0; i < b.N; i++ {
				out = r.String(line)
			}
			b.StopTimer()
			runtime.KeepAlive(out)
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/refNs, "x-slog-text")
		})
	}
}

// BenchmarkHandler logs through the redacting handler against the same
// handler without it.
func BenchmarkHandler(b *testing.B) {
	r := New(Options{})
	plain := slog.New(slog.NewTextHandler(discard{}, nil))
	redacted := slog.New(r.Handler(slog.NewTextHandler(discard{}, nil)))
	logLine := func(l *slog.Logger) {
		l.Info("reply sent", "workspace", "ws_abcdefghijklmnopqrstuvwxyz", "bot", "bot_abcdefghijklmnopqrstuvwxyz",
			"channel", "telegram", "status", 200, "took", 12*time.Millisecond)
	}
	refNs := perOp(b.N, func() { logLine(plain) })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logLine(redacted)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/refNs, "x-unredacted")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// perOp times n runs of f: the reference a benchmark divides by.
func perOp(n int, f func()) float64 {
	start := time.Now()
	for range n {
		f()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
