package redact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/secret"
)

type stringer struct{ s string }

func (s stringer) String() string { return "stringer(" + s.s + ")" }

type textMarshaler struct{ s string }

func (t textMarshaler) MarshalText() ([]byte, error) { return []byte("text:" + t.s), nil }

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("computed " + v.s) }

type nilStringer struct{ p *int }

func (n *nilStringer) String() string { return fmt.Sprint(*n.p) } // panics on nil

type config struct {
	Name  string
	Token string
	Inner struct{ URL string }
}

// logEverything writes tok through every path a value takes into a log.
func logEverything(logger *slog.Logger, tok string) {
	var cfg config
	cfg.Name = "bot"
	cfg.Token = tok
	cfg.Inner.URL = "https://api.telegram.org/bot" + tok + "/getMe"
	err := fmt.Errorf("deliver: %w", fmt.Errorf("POST https://api.example/x?key=%s: %w", tok, errors.New("401")))
	logger.Info("calling with "+tok,
		"plain", tok,
		"err", err,
		"stringer", stringer{tok},
		"text", textMarshaler{tok},
		"bytes", []byte("raw "+tok),
		"struct", cfg,
		"pointer", &cfg,
		"map", map[string]string{"k": tok},
		"slice", []string{"a", tok},
		"valuer", valuer{tok},
		slog.Group("outer", "inner", tok, slog.Group("deeper", "x", tok, slog.Any("e", err))),
	)
	logger.With("with", tok).WithGroup("g").With("gw", "v "+tok).Warn("second", "a", tok)
	logger.Error(tok)
}

func TestHandlerRemovesSecretsFromEveryPath(t *testing.T) {
	t.Parallel()
	for _, p := range plantedSecrets(newGen(10)) {
		for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
			"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			t.Run(p.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				r := redact.New(redact.Options{})
				logEverything(slog.New(r.Handler(mk(&buf))), p.secret)
				out := buf.String()
				if !strings.Contains(out, "second") || strings.Count(out, "\n") != 3 {
					t.Fatalf("records missing from output:\n%s", out)
				}
				assertGone(t, out, p.secret)
			})
		}
	}
}

func TestHandlerRegisteredValue(t *testing.T) {
	t.Parallel()
	// A value no pattern knows, like a WhatsApp app secret.
	const appSecret = "9f86d081884c7d659a2feaa0c55ad015"
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	r.Register(appSecret)
	logEverything(slog.New(r.Handler(slog.NewJSONHandler(&buf, nil))), appSecret)
	if strings.Contains(buf.String(), appSecret) {
		t.Fatalf("registered value survived:\n%s", buf.String())
	}
}

func TestHandlerSensitiveKeys(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	logger := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil)))
	logger.Info("login",
		"password", "hunter2",
		"Authorization", "xyz",
		"api_key", 12345678,
		"cookie", []string{"a=1"},
		slog.Group("credentials", "user", "ann", "pin", "0000"),
		"user", "ann",
		"input_tokens", 512,
		"nothing", nil,
	)
	logger.WithGroup("webhook_secret").Info("verify", "value", "s3cr3t")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"password", "Authorization", "api_key", "cookie"} {
		if first[k] != redact.Marker {
			t.Errorf("%s = %v, want %s", k, first[k], redact.Marker)
		}
	}
	creds, _ := first["credentials"].(map[string]any)
	if creds["user"] != redact.Marker || creds["pin"] != redact.Marker {
		t.Errorf("a group named like a secret must be redacted inside: %v", first["credentials"])
	}
	if first["user"] != "ann" || first["input_tokens"] != float64(512) || first["nothing"] != nil {
		t.Errorf("ordinary attributes changed: %v", first)
	}
	if strings.Contains(lines[1], "s3cr3t") {
		t.Errorf("attribute inside a sensitive WithGroup survived: %s", lines[1])
	}
}

func TestHandlerKeepsShapeAndKinds(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	logger := slog.New(r.Handler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	logger.Debug("m", "n", 3, "ok", true, "d", time.Second, slog.Group("g", "a", "b"), "s", secret.New("pal_"+strings.Repeat("x", 43)))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["n"] != float64(3) || got["ok"] != true || got["d"] != float64(time.Second) {
		t.Errorf("non-string kinds changed: %v", got)
	}
	if g, _ := got["g"].(map[string]any); g["a"] != "b" {
		t.Errorf("group shape lost: %v", got["g"])
	}
	if got["s"] != secret.Redacted {
		t.Errorf("secret.Secret = %v", got["s"])
	}
}

func TestHandlerEnabledAndPanickingValues(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	h := r.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled must follow the wrapped handler")
	}
	// A Stringer that panics must not take the process down.
	slog.New(h).Error("x", "v", &nilStringer{})
	if !strings.Contains(buf.String(), "PANIC") {
		t.Errorf("panicking String not reported: %q", buf.String())
	}
}

func TestWriterAsServerErrorLog(t *testing.T) {
	t.Parallel()
	g := newGen(11)
	key := "sk-proj-" + g.s(urlsafe, 74) + "T3BlbkFJ" + g.s(urlsafe, 74)
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	errLog := log.New(r.Writer(&buf), "http: ", log.Lmsgprefix)
	errLog.Printf("panic serving 10.0.0.1:1234: provider rejected %s", key)
	if strings.Contains(buf.String(), key) || !strings.Contains(buf.String(), "[REDACTED:openai]") {
		t.Errorf("got %q", buf.String())
	}
}

func ExampleRedactor_Handler() {
	r := redact.New(redact.Options{})
	r.Register("configured-whatsapp-app-secret")
	logger := slog.New(r.Handler(slog.NewTextHandler(exampleOut{}, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	logger.Info("sending",
		"url", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq/sendMessage",
		"password", "hunter2",
		"err", errors.New("bad signature for configured-whatsapp-app-secret"))
	// Output:
	// level=INFO msg=sending url=https://api.telegram.org/bot[REDACTED:telegram]/sendMessage password=[REDACTED] err="bad signature for [REDACTED]"
}

type exampleOut struct{}

func (exampleOut) Write(p []byte) (int, error) { fmt.Print(string(p)); return len(p), nil }

// TestHandlerSafeAttrsSkipOnlyThemselves: in a record that mixes Safe
// attributes with free text, the free text (a path, a query, a user agent,
// an error) is still redacted however the record is built, Safe values pass
// unchanged, and a Safe value under a key or group that names a secret is
// still replaced.
func TestHandlerSafeAttrsSkipOnlyThemselves(t *testing.T) {
	t.Parallel()
	tok := "sk-proj-" + strings.Repeat("Zq9xW", 10)
	r := redact.New(redact.Options{Secrets: []string{"registered-value-1234"}})
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewJSONHandler(&buf, nil)
		if format == "text" {
			h = slog.NewTextHandler(&buf, nil)
		}
		logger := slog.New(r.Handler(h))
		logger.LogAttrs(context.Background(), slog.LevelInfo, "http request",
			redact.Safe("pattern", "GET /bots/{id}"),
			redact.Safe("request_id", "req_0123456789abcdef"),
			redact.Safe("client_ip", "2001:db8::1"),
			slog.String("path", "/bots/x/"+tok),
			slog.String("query", "token=registered-value-1234&x=1"),
			slog.String("user_agent", "curl/8 Authorization: Bearer "+tok),
			slog.Any("err", fmt.Errorf("upstream: key %s refused", tok)),
			redact.Safe("api_key", "looks-harmless-but-named-a-key"),
			slog.Group("secret", redact.Safe("inner", "in-a-secret-group")),
		)
		out := buf.String()
		for _, leak := range []string{tok, "registered-value-1234", "looks-harmless-but-named-a-key", "in-a-secret-group"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s: %q reached the log: %s", format, leak, out)
			}
		}
		for _, kept := range []string{"GET /bots/{id}", "req_0123456789abcdef", "2001:db8::1", "/bots/x/", "curl/8"} {
			if !strings.Contains(out, kept) {
				t.Errorf("%s: %q missing: %s", format, kept, out)
			}
		}
	}
	// Without the redacting handler a Safe value still prints as its text.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(context.Background(), slog.LevelInfo, "m", redact.Safe("pattern", "GET /x"))
	if !strings.Contains(buf.String(), `"pattern":"GET /x"`) {
		t.Errorf("plain handler: %s", buf.String())
	}
}

// TestHandlerRemembersCleanNamesPerSnapshot: a message and a key that were
// clean, and so are remembered, are redacted once the same text is
// registered as a secret; a dirty message is never remembered.
func TestHandlerRemembersCleanNamesPerSnapshot(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	var buf bytes.Buffer
	logger := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil)))
	const name = "zebra-quartz-window-77"
	tok := "sk-proj-" + strings.Repeat("Zq9xW", 10)
	for range 3 {
		logger.Info(name, name, "v")
		logger.Info("dirty "+tok, "k", "v")
	}
	if strings.Count(buf.String(), name) != 6 || strings.Contains(buf.String(), tok) {
		t.Fatalf("before Register: %s", buf.String())
	}
	r.Register(name)
	buf.Reset()
	logger.Info(name, name, "v")
	if strings.Contains(buf.String(), name) {
		t.Fatalf("a remembered name outlived Register: %s", buf.String())
	}
}

// BenchmarkAccessLine logs a line shaped like the HTTP access log through
// the redacting JSON handler.
func BenchmarkAccessLine(b *testing.B) {
	r := redact.New(redact.Options{})
	l := slog.New(r.Handler(slog.NewJSONHandler(io.Discard, nil)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", "GET"),
			redact.Safe("pattern", "GET /healthz"),
			slog.Int("status", 200),
			slog.Int64("bytes", 15),
			slog.Duration("duration", 30*time.Microsecond),
			redact.Safe("request_id", "req_0123456789abcdef0123"),
			redact.Safe("client_ip", "127.0.0.1"),
		)
	}
}
