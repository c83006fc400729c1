package probe_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/probe"
	"github.com/palisadehq/palisade/internal/secret"
)

const replayBot = "bot_cccccccccccccccccccccccccc"

var (
	tgSecret    = "tg-secret-token-0123456789abcdef"
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	waSecret    = "whatsapp-app-secret-0123456789"
	discordSeed = strings.Repeat("42", 32)
)

func replaySecrets() probe.Secrets {
	bot := palisade.BotID(replayBot)
	return probe.Secrets{Channels: []probe.ChannelSecret{
		{Kind: "telegram", Bot: bot, Secret: secret.New(tgSecret)},
		{Kind: "slack", Bot: bot, Secret: secret.New(slackSecret)},
		{Kind: "whatsapp", Bot: bot, Secret: secret.New(waSecret)},
		{Kind: "discord", Bot: bot, Secret: secret.New(discordSeed)},
	}}
}

// fakeInbound verifies deliveries as Palisade does (the secret, the
// signature over the body, a five-minute window) and records each message
// once in the bot's conversation of its channel; each flag breaks one of
// those.
type fakeInbound struct {
	otherSecret bool // verifies with another secret than the channel's
	ignoreBody  bool // checks the signature header is there, not what it signs
	noWindow    bool // takes any signed time
	noDedupe    bool // records a replayed message again
	mu          sync.Mutex
	seen        map[string]bool
	conv        map[string][]string // kind -> user messages
}

func hmacHexOf(key string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (f *fakeInbound) verify(kind string, h http.Header, body []byte) bool {
	sec := map[string]string{"telegram": tgSecret, "slack": slackSecret, "whatsapp": waSecret, "discord": discordSeed}[kind]
	if f.otherSecret {
		sec = strings.Repeat("0", len(sec))
	}
	inWindow := func(ts string) bool {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return false
		}
		d := time.Since(time.Unix(n, 0))
		return f.noWindow || (d < 5*time.Minute && d > -5*time.Minute)
	}
	switch kind {
	case "telegram":
		return hmac.Equal([]byte(h.Get("X-Telegram-Bot-Api-Secret-Token")), []byte(sec))
	case "slack":
		ts, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
		if f.ignoreBody {
			return sig != "" && inWindow(ts)
		}
		return inWindow(ts) && hmac.Equal([]byte(sig), []byte("v0="+hmacHexOf(sec, "v0:"+ts+":", string(body))))
	case "whatsapp":
		sig := h.Get("X-Hub-Signature-256")
		if f.ignoreBody {
			return sig != ""
		}
		return hmac.Equal([]byte(sig), []byte("sha256="+hmacHexOf(sec, string(body))))
	case "discord":
		seed, _ := hex.DecodeString(sec)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		ts := h.Get("X-Signature-Timestamp")
		sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
		if err != nil || !inWindow(ts) {
			return false
		}
		return f.ignoreBody || ed25519.Verify(pub, append([]byte(ts), body...), sig)
	}
	return false
}

// parse returns a delivery's dedupe key and message text (none for a
// delivery without a message) and the platform's answer.
func parseDelivery(kind string, body []byte) (key, text, answer string) {
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	str := func(x any) string {
		switch y := x.(type) {
		case string:
			return y
		case float64:
			return strconv.FormatFloat(y, 'f', -1, 64)
		}
		return ""
	}
	switch kind {
	case "telegram":
		if m, ok := v["message"].(map[string]any); ok {
			return str(v["update_id"]), str(m["text"]), ""
		}
	case "slack":
		if v["type"] == "url_verification" {
			return "", "", str(v["challenge"])
		}
		if e, ok := v["event"].(map[string]any); ok && v["team_id"] == "T0PROBE01" {
			return str(v["event_id"]), str(e["text"]), ""
		}
	case "whatsapp":
		for _, e := range asList(v["entry"]) {
			for _, c := range asList(e.(map[string]any)["changes"]) {
				val := c.(map[string]any)["value"].(map[string]any)
				if val["metadata"].(map[string]any)["phone_number_id"] != "106540352242922" {
					continue
				}
				for _, m := range asList(val["messages"]) {
					mm := m.(map[string]any)
					return str(mm["id"]), str(mm["text"].(map[string]any)["body"]), ""
				}
			}
		}
	case "discord":
		if v["type"] == float64(1) {
			return "", "", `{"type":1}`
		}
		if d, ok := v["data"].(map[string]any); ok && v["application_id"] == "1234567890123456789" {
			for _, o := range asList(d["options"]) {
				return str(v["id"]), str(o.(map[string]any)["value"]), `{"type":5}`
			}
		}
	}
	return "", "", ""
}

func asList(x any) []any {
	l, _ := x.([]any)
	return l
}

func (f *fakeInbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen, f.conv = map[string]bool{}, map[string][]string{}
	}
	if kind, bot, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/hooks/"), "/"); ok && r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		if bot != replayBot || !f.verify(kind, r.Header, body) {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		key, text, answer := parseDelivery(kind, body)
		if text != "" && (f.noDedupe || !f.seen[kind+key]) {
			f.seen[kind+key] = true
			f.conv[kind] = append(f.conv[kind], text)
		}
		_, _ = w.Write([]byte(answer))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+keyA {
		http.Error(w, `{"error":{"code":"unauthenticated"}}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/api/v1/bots/"+replayBot+"/channels":
		_, _ = w.Write([]byte(`{"data":[{"type":"telegram","external_id":"7000000001"},{"type":"slack","external_id":"T0PROBE01/U0PROBE01"},` +
			`{"type":"whatsapp","external_id":"106540352242922"},{"type":"discord","external_id":"1234567890123456789"}]}`))
	case r.URL.Path == "/api/v1/conversations":
		kind := r.URL.Query().Get("channel")
		if len(f.conv[kind]) == 0 || r.URL.Query().Get("bot_id") != replayBot {
			_, _ = w.Write([]byte(`{"data":[]}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":[{"id":"cnv_` + kind + `"}]}`))
	case strings.HasPrefix(r.URL.Path, "/api/v1/conversations/cnv_"):
		kind, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/v1/conversations/cnv_"), "/")
		if r.Method == http.MethodDelete {
			delete(f.conv, kind)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if sub != "messages" {
			http.NotFound(w, r)
			return
		}
		var data []map[string]string
		for _, m := range f.conv[kind] {
			data = append(data, map[string]string{"role": "user", "content": m}, map[string]string{"role": "assistant", "content": "About: " + m + "."})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	default:
		http.NotFound(w, r)
	}
}

// TestReplayChecks: with the channel secrets every replay check passes
// against a receiver that verifies, windows and deduplicates like
// Palisade, and fails against one that skips the property it tests; the
// probe deletes the conversation it made. Without secrets they skip.
func TestReplayChecks(t *testing.T) {
	t.Parallel()
	opts := probe.Options{APIKey: secret.New(keyA), Secrets: replaySecrets()}
	breaks := map[string]func() *fakeInbound{
		"signed-delivery-accepted": func() *fakeInbound { return &fakeInbound{otherSecret: true} },
		"replay-deduplicated":      func() *fakeInbound { return &fakeInbound{noDedupe: true} },
		"tampered-body-refused":    func() *fakeInbound { return &fakeInbound{ignoreBody: true} },
		"stale-timestamp-refused":  func() *fakeInbound { return &fakeInbound{noWindow: true} },
		"future-timestamp-refused": func() *fakeInbound { return &fakeInbound{noWindow: true} },
	}
	for _, c := range category(t, probe.CatReplay) {
		kind, suffix, _ := strings.Cut(c.Name, "-")
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			bad, ok := breaks[suffix]
			if !ok {
				t.Fatalf("no receiver breaks %s", c.Name)
			}
			good := &fakeInbound{}
			expect(t, c, serveHTTP(t, good), serveHTTP(t, bad()), opts)
			good.mu.Lock()
			left := len(good.conv[kind])
			good.mu.Unlock()
			if left != 0 {
				t.Errorf("the probe left %d messages in the %s conversation", left, kind)
			}
			if r := one(t, serveHTTP(t, &fakeInbound{}), c, probe.Options{APIKey: secret.New(keyA)}); r.Status != probe.Skip || !strings.Contains(r.Evidence, "--secrets") {
				t.Errorf("without secrets = %s (%s)", r.Status, r.Evidence)
			}
		})
	}
}

// TestParseSecrets reads YAML and JSON secrets files and refuses unknown
// platforms, bad bot ids and empty secrets.
func TestParseSecrets(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"channels:\n  - kind: telegram\n    bot: " + replayBot + "\n    secret: abc\n",
		`{"channels":[{"kind":"telegram","bot":"` + replayBot + `","secret":"abc"}],"login":{"email":"a@example.com","password":"pw"}}`,
	} {
		s, err := probe.ParseSecrets([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := s.Channel("telegram"); !ok || c.Secret.Reveal() != "abc" || c.Bot != replayBot {
			t.Errorf("%q: %+v", raw, s)
		}
	}
	for _, raw := range []string{
		"channels:\n  - kind: irc\n    bot: " + replayBot + "\n    secret: abc\n",
		"channels:\n  - kind: slack\n    bot: not-a-bot\n    secret: abc\n",
		"channels:\n  - kind: slack\n    bot: " + replayBot + "\n",
		"channels: [",
		"login:\n  email: a@example.com\n",
	} {
		if _, err := probe.ParseSecrets([]byte(raw)); err == nil {
			t.Errorf("%q was accepted", raw)
		}
	}
}
