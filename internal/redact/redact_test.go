package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	urlsafe = alnum + "_-"
	upper32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lower   = "abcdefghijklmnopqrstuvwxyz"
	digits  = "0123456789"
	b64     = alnum + "+/"
)

// gen builds random strings from a seeded source, so that every run plants
// the same valid-looking keys and a failure can be reproduced.
type gen struct{ rnd *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) s(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// planted is a realistic secret of one format and the kind its marker names.
type planted struct {
	name   string
	secret string
	kind   string // "" when the plain marker is expected
}

// plantedSecrets returns one secret of every format the redactor claims.
func plantedSecrets(g *gen) []planted {
	return []planted{
		{"openai project", "sk-proj-" + g.s(urlsafe, 74) + "T3BlbkFJ" + g.s(urlsafe, 74), "openai"},
		{"openai service account", "sk-svcacct-" + g.s(urlsafe, 58) + "T3BlbkFJ" + g.s(urlsafe, 58), "openai"},
		{"openai admin", "sk-admin-" + g.s(urlsafe, 58) + "T3BlbkFJ" + g.s(urlsafe, 58), "openai"},
		{"openai legacy", "sk-" + g.s(alnum, 20) + "T3BlbkFJ" + g.s(alnum, 20), "openai"},
		{"openai project without marker", "sk-proj-" + g.s(urlsafe, 40), "openai"},
		{"openai-compatible sk key", "sk-" + g.s(alnum, 48), "api-key"},
		{"anthropic", "sk-ant-api03-" + g.s(urlsafe, 93) + "AA", "anthropic"},
		{"anthropic admin", "sk-ant-admin01-" + g.s(urlsafe, 93) + "AA", "anthropic"},
		{"google", "AIza" + g.s(urlsafe, 35), "google"},
		{"groq", "gsk_" + g.s(alnum, 52), "groq"},
		{"nvidia", "nvapi-" + g.s(urlsafe, 64), "nvidia"},
		{"telegram", "7" + g.s(digits, 9) + ":A" + g.s(urlsafe, 34), "telegram"},
		{"slack bot", "xoxb-" + g.s(digits, 12) + "-" + g.s(digits, 13) + "-" + g.s(alnum, 24), "slack"},
		{"slack user", "xoxp-" + g.s(digits, 11) + "-" + g.s(digits, 11) + "-" + g.s(digits, 12) + "-" + g.s(alnum, 32), "slack"},
		{"slack app", "xapp-1-A" + g.s(upper32, 10) + "-" + g.s(digits, 13) + "-" + g.s(lower+digits, 64), "slack"},
		{"slack config access", "xoxe.xoxp-1-" + g.s(upper32, 164), "slack"},
		{"slack config refresh", "xoxe-1-" + g.s(upper32, 146), "slack"},
		{"slack legacy", "xoxs-" + g.s(digits, 10) + "-" + g.s(digits, 10) + "-" + g.s(digits, 10) + "-" + g.s("0123456789abcdef", 64), "slack"},
		{"slack workspace", "xoxa-2-" + g.s(alnum, 40), "slack"},
		{"slack webhook url", "https://hooks.slack.com/services/T" + g.s(upper32, 8) + "/B" + g.s(upper32, 8) + "/" + g.s(alnum, 24), "slack"},
		{"github classic", "ghp_" + g.s(alnum, 36), "github"},
		{"github fine-grained", "github_pat_" + g.s(alnum+"_", 82), "github"},
		{"github oauth", "gho_" + g.s(alnum, 36), "github"},
		{"github app", "ghs_" + g.s(alnum, 36), "github"},
		{"github refresh", "ghr_" + g.s(alnum, 36), "github"},
		{"stripe secret", "sk_live_" + g.s(alnum, 99), "stripe"},
		{"stripe restricted", "rk_test_" + g.s(alnum, 24), "stripe"},
		{"aws access key id", "AKIA" + g.s(upper32, 16), "aws"},
		{"aws session key id", "ASIA" + g.s(upper32, 16), "aws"},
		{"aws bedrock", "ABSK" + g.s(b64, 132), "aws"},
		{"huggingface", "hf_" + g.s(lower+strings.ToUpper(lower), 34), "huggingface"},
		{"palisade api key", "pal_" + g.s(urlsafe, 43), "palisade"},
		{"standard webhooks secret", "whsec_" + g.s(b64, 32), "webhook-secret"},
		{"polar webhook secret", "polar_whs_" + g.s(alnum, 43), "polar"},
		{"polar access token", "polar_oat_" + g.s(alnum, 43), "polar"},
		{"meta access token", "EAA" + g.s(alnum, 180), "meta"},
		{"discord bot token", "M" + g.s(alnum, 25) + "." + g.s(urlsafe, 6) + "." + g.s(urlsafe, 38), "discord"},
		{"jwt", "eyJhbGciOiJSUzI1NiJ9.eyJ" + g.s(urlsafe, 60) + "." + g.s(urlsafe, 86), "jwt"},
	}
}

// contexts put a secret where log text carries secrets. Each returns the
// text; the secret must not survive any of them.
var contexts = []struct {
	name string
	wrap func(secret string) string
}{
	{"bare", func(s string) string { return s }},
	{"in a sentence", func(s string) string { return "using key " + s + " for the call" }},
	{"quoted", func(s string) string { return `key="` + s + `"` }},
	{"in JSON", func(s string) string {
		b, _ := json.Marshal(map[string]any{"config": map[string]string{"value": s}, "n": 1})
		return string(b)
	}},
	{"in escaped JSON", func(s string) string {
		inner, _ := json.Marshal(map[string]string{"value": s})
		outer, _ := json.Marshal(map[string]string{"body": string(inner)})
		return string(outer)
	}},
	{"in a URL query", func(s string) string {
		return "https://api.example.com/v1/models?key=" + url.QueryEscape(s) + "&alt=sse"
	}},
	{"in a URL path", func(s string) string { return "https://api.example.com/v1/keys/" + s + "/usage" }},
	{"glued to a word", func(s string) string { return "https://api.telegram.org/bot" + s + "/sendMessage" }},
	{"wrapped error", func(s string) string {
		err := fmt.Errorf("calling provider: %w", fmt.Errorf("status 401: invalid key %q", s))
		return err.Error()
	}},
	{"after a newline escape", func(s string) string { return `line one\n` + s + `\nline two` }},
	{"between punctuation", func(s string) string { return "(" + s + ");" }},
}

func TestStringRemovesEveryPlantedFormat(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	for _, p := range plantedSecrets(newGen(1)) {
		for _, c := range contexts {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				in := c.wrap(p.secret)
				out := r.String(in)
				assertGone(t, out, p.secret)
				if !strings.Contains(out, "[REDACTED") {
					t.Errorf("output has no marker: %q", out)
				}
			})
		}
	}
}

func TestStringNamesTheKind(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	for _, p := range plantedSecrets(newGen(2)) {
		if strings.HasPrefix(p.secret, "https://") {
			continue // the URL rule and the Slack rule overlap
		}
		got := r.String("x " + p.secret + " y")
		want := "x [REDACTED:" + p.kind + "] y"
		if got != want {
			t.Errorf("%s: got %q, want %q", p.name, got, want)
		}
	}
	untyped := redact.New(redact.Options{Untyped: true})
	if got := untyped.String("x ghp_" + strings.Repeat("a", 36)); got != "x [REDACTED]" {
		t.Errorf("untyped: got %q", got)
	}
}

// assertGone fails if the secret, or a long piece of its end, survived.
func assertGone(t *testing.T, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Fatalf("secret survived: %q", out)
	}
	if tail := secret[len(secret)-12:]; strings.Contains(out, tail) {
		t.Fatalf("end of secret survived (%q): %q", tail, out)
	}
	if esc := url.QueryEscape(secret); strings.Contains(out, esc[len(esc)-12:]) {
		t.Fatalf("end of escaped secret survived: %q", out)
	}
}

func TestStringContextualSecrets(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"telegram URL", "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq/sendMessage failed",
			"POST https://api.telegram.org/bot[REDACTED:telegram]/sendMessage failed"},
		{"password in URL", "dial postgres://app:S3cr3t-P4ss@db.internal:5432/palisade?sslmode=require",
			"dial postgres://app:[REDACTED]@db.internal:5432/palisade?sslmode=require"},
		{"password with @ in URL", "redis://:p@ss@w0rd@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"},
		{"port is not a password", "GET http://localhost:8080/path@x", "GET http://localhost:8080/path@x"},
		{"authorization header", "Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED]"},
		{"authorization in JSON", `{"Authorization":"Basic dXNlcjpwYXNz","x":1}`, `{"Authorization":"[REDACTED]","x":1}`},
		{"http.Header printed", "map[Authorization:[Bearer tok123456] Content-Type:[application/json]]",
			"map[Authorization:[[REDACTED]] Content-Type:[application/json]]"},
		{"bearer in prose with token", "sent bearer x9f8e7d6c5b4 upstream", "sent bearer [REDACTED:bearer] upstream"},
		{"Bearer header spelling takes anything", "Bearer hunter2hunter", "Bearer [REDACTED:bearer]"},
		{"bearer in prose without token", "missing bearer token in request", "missing bearer token in request"},
		{"basic credentials", "proxy says Basic dXNlcjpzZWNyZXQ= rejected", "proxy says Basic [REDACTED:basic] rejected"},
		{"basic in prose", "basic authentication failed", "basic authentication failed"},
		{"shortest key=value", "token=x", "token=[REDACTED]"},
		{"password key=value", "login user=ann password=hunter2 ok", "login user=ann password=[REDACTED] ok"},
		{"quoted password with spaces", `{"password": "correct horse battery staple"}`, `{"password": "[REDACTED]"}`},
		{"escaped JSON password", `{"body":"{\"password\":\"a b c\"}"}`, `{"body":"{\"password\":\"[REDACTED]\"}"}`},
		{"api key header", "X-Api-Key: k123456", "X-Api-Key: [REDACTED]"},
		{"token in query", "GET /callback?code=1&access_token=abc123&state=x", "GET /callback?code=1&access_token=[REDACTED]&state=x"},
		{"aws secret access key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"aws_secret_access_key = [REDACTED]"},
		{"cookie header", "Cookie: __Host-session=abc; theme=dark", "Cookie: [REDACTED]"},
		{"token counts are not secrets", "usage input_tokens=512 max_tokens: 4096", "usage input_tokens=512 max_tokens: 4096"},
		{"private key", "key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY----- loaded",
			"key: [REDACTED:private-key] loaded"},
		{"truncated private key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC",
			"[REDACTED:private-key]"},
		{"ordinary line untouched", `level=INFO msg="reply sent" bot=bot_abc channel=telegram status=200 took=12ms`,
			`level=INFO msg="reply sent" bot=bot_abc channel=telegram status=200 took=12ms`},
		{"ids untouched", "ws_abcdefghijklmnopqrstuvwxyz key_abcdefghijklmnopqrstuvwxyz", "ws_abcdefghijklmnopqrstuvwxyz key_abcdefghijklmnopqrstuvwxyz"},
		{"principal is not pal_", "principal_abcdefghijklmnopqrstuvwxyz", "principal_abcdefghijklmnopqrstuvwxyz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := r.String(c.in); got != c.want {
				t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestStringIsIdempotent(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{Secrets: []string{"configured-app-secret-1"}})
	for _, p := range plantedSecrets(newGen(3)) {
		for _, c := range contexts {
			once := r.String(c.wrap(p.secret) + " password=hunter2 configured-app-secret-1")
			if twice := r.String(once); twice != once {
				t.Errorf("%s/%s: second pass changed output\n once %q\ntwice %q", p.name, c.name, once, twice)
			}
		}
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	const appSecret = "f00dfacecafebabe1234"
	in := "verify with " + appSecret + " failed"
	if got := r.String(in); got != in {
		t.Fatalf("unregistered value changed: %q", got)
	}
	r.Register(appSecret, "short", "")
	if got, want := r.String(in), "verify with [REDACTED] failed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := r.String("a short word"); got != "a short word" {
		t.Errorf("values under MinSecretLen must be ignored: %q", got)
	}

	r.RegisterSecrets(secret.New("whatsapp-verify-token-1"), secret.New(""))
	if got := r.String("hub.verify_token=whatsapp-verify-token-1"); strings.Contains(got, "whatsapp-verify-token-1") {
		t.Errorf("RegisterSecrets: %q", got)
	}

	// Escaped spellings are known too.
	odd := "p@ss/word+with spaces&more"
	r.Register(odd)
	for _, s := range []string{odd, url.QueryEscape(odd), url.PathEscape(odd)} {
		if got := r.String("x=" + s); strings.Contains(got, s) {
			t.Errorf("form %q survived: %q", s, got)
		}
	}

	// Overlapping occurrences are all covered.
	r2 := redact.New(redact.Options{Secrets: []string{"aaaaaaaa"}})
	if got := r2.String("xaaaaaaaaaaaay"); got != "x[REDACTED]y" {
		t.Errorf("overlapping: %q", got)
	}

	// A value that is part of a marker would make every output contain it.
	r3 := redact.New(redact.Options{Secrets: []string{"REDACTED", "[REDACTED:openai]"}})
	if got := r3.String("plain text"); got != "plain text" {
		t.Errorf("marker-like value registered: %q", got)
	}
}

func TestRegisterManyUsesIndex(t *testing.T) {
	t.Parallel()
	g := newGen(4)
	var secrets []string
	for range 500 {
		secrets = append(secrets, g.s(alnum, 12+g.rnd.IntN(30)))
	}
	r := redact.New(redact.Options{})
	r.Register(secrets...)
	for _, s := range secrets {
		out := r.String("before " + s + " after " + s[:len(s)-1])
		if strings.Contains(out, s) || !strings.Contains(out, "[REDACTED]") {
			t.Fatalf("%q survived: %q", s, out)
		}
		if !strings.Contains(out, s[:len(s)-1]) {
			t.Fatalf("a different (shorter) value was redacted: %q", out)
		}
	}
}

func TestRegisterConcurrentWithString(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	g := newGen(5)
	secrets := make([]string, 64)
	for i := range secrets {
		secrets[i] = g.s(alnum, 20)
	}
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() { r.Register(secrets[i]) })
		wg.Go(func() { _ = r.String("line with " + secrets[i]) })
	}
	wg.Wait()
	for _, s := range secrets {
		if strings.Contains(r.String(s), s) {
			t.Fatalf("registered %q lost in a concurrent Register", s)
		}
	}
}

// A replacement can join surrounding text into a registered value; the
// output must still not contain it.
func TestRegisteredValueRebuiltByReplacement(t *testing.T) {
	t.Parallel()
	const secret = "ED]abcdefgh"
	r := redact.New(redact.Options{Secrets: []string{secret}})
	for _, in := range []string{
		secret + "abcdefgh",
		"ED]abcdefghabcdefghabcdefgh",
		"D][REDACED]abcdefgh" + secret,
	} {
		if out := r.String(in); strings.Contains(out, secret) {
			t.Errorf("String(%q) = %q contains the secret", in, out)
		}
	}
}

func TestSensitiveKey(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{SensitiveKeys: []string{"dsn"}})
	cases := []struct {
		key  string
		want bool
	}{
		{"password", true}, {"Password", true}, {"new_password", true}, {"token", true},
		{"bot_token", true}, {"gatewayToken", true}, {"secret", true}, {"webhook_secret", true},
		{"authorization", true}, {"Authorization", true}, {"api_key", true}, {"X-Api-Key", true},
		{"apiKey", true}, {"cookie", true}, {"Set-Cookie", true}, {"client-secret", true},
		{"aws_secret_access_key", true}, {"private_key", true}, {"database_dsn", true},
		{"tokens", false}, {"input_tokens", false}, {"token_count", false}, {"api_key_id", false},
		{"key", false}, {"bot", false}, {"", false}, {"secretary_name", false},
	}
	for _, c := range cases {
		if got := r.SensitiveKey(c.key); got != c.want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}

func TestErrorsWrappedWithW(t *testing.T) {
	t.Parallel()
	g := newGen(6)
	r := redact.New(redact.Options{})
	for _, p := range plantedSecrets(g) {
		base := errors.New("upstream said: bad credentials " + p.secret)
		err := fmt.Errorf("send reply: %w", fmt.Errorf("POST /v1/chat: %w", base))
		assertGone(t, r.String(err.Error()), p.secret)
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	g := newGen(7)
	tok := "123456789:A" + g.s(urlsafe, 34)
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	w := r.Writer(&buf)
	// A line arriving in pieces, split inside the token.
	parts := []string{"http: proxy error: GET https://api.telegram.org/bot", tok[:10], tok[10:], "/getMe: EOF\nnext line\npartial "}
	for _, p := range parts {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if strings.Contains(buf.String(), "partial") {
		t.Errorf("unterminated line written early: %q", buf.String())
	}
	if err := w.(interface{ Flush() error }).Flush(); err != nil {
		t.Fatal(err)
	}
	want := "http: proxy error: GET https://api.telegram.org/bot[REDACTED:telegram]/getMe: EOF\nnext line\npartial "
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestWriterLongLineWithoutNewline(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := redact.New(redact.Options{})
	w := r.Writer(&buf)
	chunk := strings.Repeat("x", 1024)
	for range redact.MaxLine/1024 + 2 {
		_, _ = w.Write([]byte(chunk))
	}
	if buf.Len() == 0 {
		t.Fatal("a line longer than MaxLine was held back")
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterReportsErrors(t *testing.T) {
	t.Parallel()
	want := errors.New("disk full")
	w := redact.New(redact.Options{}).Writer(failWriter{want})
	if _, err := w.Write([]byte("line\n")); !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
}

func TestBasicAcceptsOnlyCredentials(t *testing.T) {
	t.Parallel()
	r := redact.New(redact.Options{})
	cred := base64.StdEncoding.EncodeToString([]byte("admin:letmein"))
	if got := r.String("Basic " + cred); strings.Contains(got, cred) {
		t.Errorf("basic credentials survived: %q", got)
	}
	notCred := base64.StdEncoding.EncodeToString([]byte("no colon here"))
	if got := r.String("basic " + notCred); !strings.Contains(got, notCred) {
		t.Errorf("base64 without user:password redacted: %q", got)
	}
}
