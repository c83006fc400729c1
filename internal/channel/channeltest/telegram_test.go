package channeltest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
)

const fakeToken = "123456789:AAHfakeTelegramTokenForConformance01"

// botAPI calls the fake as a client of the real Bot API would, and
// decodes the envelope (§1.1).
func botAPI(t *testing.T, base, token, method, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/bot"+token+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", method, ct)
	}
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", method, err)
	}
	if _, ok := env["ok"].(bool); !ok {
		t.Fatalf("%s: the envelope has no boolean ok: %v", method, env)
	}
	return resp.StatusCode, env
}

// wantError checks a failure envelope: ok false, error_code equal to the
// HTTP status, a description starting as Telegram's do.
func wantError(t *testing.T, what string, status int, env map[string]any, wantStatus int, descPrefix string) {
	t.Helper()
	desc, _ := env["description"].(string)
	if status != wantStatus || env["ok"] != false || env["error_code"] != float64(wantStatus) || !strings.HasPrefix(desc, descPrefix) {
		t.Fatalf("%s = %d %v, want %d with a description starting %q", what, status, env, wantStatus, descPrefix)
	}
}

// TestTelegramFakeKeepsTheWireFacts holds the fake to protocols.md §1: the
// envelope, the token in the path, setWebhook's rules for the secret
// token, the URL and allowed_updates, sendMessage's limits counted in
// UTF-16, flood control with retry_after, and no deduplication.
func TestTelegramFakeKeepsTheWireFacts(t *testing.T) {
	t.Parallel()
	f := channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	bot := f.AddBot(fakeToken, "conformance_bot")

	// §1.1 and §1.8: the token is in the path; an unknown one is 401, a
	// malformed one 404.
	status, env := botAPI(t, f.URL, fakeToken, "getMe", "application/json", "{}")
	res, _ := env["result"].(map[string]any)
	if status != 200 || env["ok"] != true || res["is_bot"] != true || res["username"] != "conformance_bot" || res["id"] != float64(bot.ID) {
		t.Fatalf("getMe = %d %v", status, env)
	}
	status, env = botAPI(t, f.URL, "987654321:AAHunknownTokenUnknownToken0000000", "getMe", "", "")
	wantError(t, "getMe with an unknown token", status, env, 401, "Unauthorized")
	status, env = botAPI(t, f.URL, "0123:abc", "getMe", "", "")
	wantError(t, "getMe with a malformed token", status, env, 404, "Not Found")

	// §1.2 setWebhook: secret_token is 1 to 256 of A-Za-z0-9_-; the URL
	// must be HTTPS on 443, 80, 88 or 8443.
	for _, c := range []struct {
		body   string
		status int
		desc   string
	}{
		{`{"url":"https://hooks.example/telegram","secret_token":"` + strings.Repeat("a", 257) + `"}`, 400, "Bad Request: secret token contains unallowed characters"},
		{`{"url":"https://hooks.example/telegram","secret_token":"has space"}`, 400, "Bad Request: secret token contains unallowed characters"},
		{`{"url":"http://hooks.example/telegram","secret_token":"abc"}`, 400, "Bad Request: bad webhook: An HTTPS URL must be provided"},
		{`{"url":"https://hooks.example:8080/telegram","secret_token":"abc"}`, 400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"},
		{`{"secret_token":"abc"}`, 400, "Bad Request"},
	} {
		status, env := botAPI(t, f.URL, fakeToken, "setWebhook", "application/json", c.body)
		wantError(t, "setWebhook "+c.body, status, env, c.status, c.desc)
	}
	secret256 := strings.Repeat("A-z_9", 51) + "x"
	status, env = botAPI(t, f.URL, fakeToken, "setWebhook", "application/json",
		`{"url":"https://hooks.example:8443/telegram","secret_token":"`+secret256+`","allowed_updates":["message"]}`)
	if status != 200 || env["ok"] != true || env["result"] != true {
		t.Fatalf("setWebhook with a 256-character secret = %d %v", status, env)
	}
	if wh := f.Bot(fakeToken).Webhook; wh.URL != "https://hooks.example:8443/telegram" || wh.SecretToken != secret256 || len(wh.AllowedUpdates) != 1 || wh.AllowedUpdates[0] != "message" {
		t.Fatalf("webhook recorded = %+v", wh)
	}
	// The same through a form, as the Bot API also accepts.
	form := url.Values{"url": {"https://hooks.example/t"}, "secret_token": {"s3cr3t"}, "allowed_updates": {`["message"]`}}.Encode()
	if status, env := botAPI(t, f.URL, fakeToken, "setWebhook", "application/x-www-form-urlencoded", form); status != 200 || env["ok"] != true {
		t.Fatalf("setWebhook by form = %d %v", status, env)
	}
	status, env = botAPI(t, f.URL, fakeToken, "getWebhookInfo", "", "")
	if info, _ := env["result"].(map[string]any); status != 200 || info["url"] != "https://hooks.example/t" || info["pending_update_count"] != float64(0) {
		t.Fatalf("getWebhookInfo = %d %v", status, env)
	}
	if status, env := botAPI(t, f.URL, fakeToken, "deleteWebhook", "application/json", `{}`); status != 200 || env["result"] != true {
		t.Fatalf("deleteWebhook = %d %v", status, env)
	}
	if wh := f.Bot(fakeToken).Webhook; wh.URL != "" || wh.SecretToken != "" {
		t.Fatalf("webhook after deleteWebhook = %+v", wh)
	}

	// §1.6 sendMessage: text is 1 to 4,096 UTF-16 code units; an emoji
	// outside the BMP counts two.
	send := func(text string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"chat_id": 111111111, "text": text})
		return botAPI(t, f.URL, fakeToken, "sendMessage", "application/json", string(b))
	}
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{strings.Repeat("a", 4096), true},
		{strings.Repeat("a", 4097), false},
		{strings.Repeat("😀", 2048), true},
		{strings.Repeat("😀", 2048) + "a", false},
		{"", false},
	} {
		status, env := send(c.text)
		if c.ok && (status != 200 || env["ok"] != true) {
			t.Fatalf("sendMessage of %d bytes = %d %v", len(c.text), status, env)
		}
		if _, hasResult := env["result"]; !c.ok && (status != 400 || env["ok"] != false || env["error_code"] != float64(400) || hasResult) {
			t.Fatalf("sendMessage of %d bytes accepted: %d %v", len(c.text), status, env)
		}
	}

	// §1.7 flood control: HTTP 429, error_code 429, parameters.retry_after.
	f.Fail(channeltest.TooManyRequests(3))
	status, env = send("hello")
	params, _ := env["parameters"].(map[string]any)
	wantError(t, "sendMessage under flood control", status, env, 429, "Too Many Requests: retry after 3")
	if params["retry_after"] != float64(3) {
		t.Fatalf("retry_after = %v", env)
	}
	// The fake never deduplicates: the same message twice is sent twice.
	before := len(f.Sent())
	send("twice")
	send("twice")
	if sent := f.Sent(); len(sent) != before+2 || sent[len(sent)-1].Text != "twice" || sent[len(sent)-2].Text != "twice" || sent[len(sent)-1].ChatID != 111111111 {
		t.Fatalf("sent = %+v", sent[before:])
	}
}

// TestTelegramFakeDeliversLikeTelegram: an update reaches the webhook as
// §1.3 says Telegram sends it: POST, application/json, the body byte for
// byte, the secret token in X-Telegram-Bot-Api-Secret-Token (absent when
// none was set), and the webhook's status comes back. The §1.5 fixture is
// reproduced exactly.
func TestTelegramFakeDeliversLikeTelegram(t *testing.T) {
	t.Parallel()
	const fixture = `{"update_id":100000001,"message":{"message_id":42,"from":{"id":111111111,"is_bot":false,"first_name":"Ann"},"chat":{"id":111111111,"type":"private","first_name":"Ann"},"date":1749416383,"text":"hello"}}`
	if got := string(channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")); got != fixture {
		t.Fatalf("TextUpdate =\n%s\nwant the fixture of protocols.md §1.5\n%s", got, fixture)
	}

	type seen struct {
		method, contentType, secret string
		hasSecret                   bool
		body                        []byte
	}
	var mu sync.Mutex
	var got []seen
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, has := r.Header[http.CanonicalHeaderKey("X-Telegram-Bot-Api-Secret-Token")]
		mu.Lock()
		got = append(got, seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Telegram-Bot-Api-Secret-Token"), has, b})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()

	f := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	f.AddBot(fakeToken, "conformance_bot")
	if status, env := botAPI(t, f.URL, fakeToken, "setWebhook", "application/json", `{"url":"`+hook.URL+`/hooks","secret_token":"S3cret_token-1"}`); status != 200 || env["ok"] != true {
		t.Fatalf("setWebhook = %d %v", status, env)
	}
	body := []byte(fixture)
	status, err := f.Deliver(t.Context(), fakeToken, body)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	if status, env := botAPI(t, f.URL, fakeToken, "setWebhook", "application/json", `{"url":"`+hook.URL+`/hooks"}`); status != 200 || env["ok"] != true {
		t.Fatalf("setWebhook without a secret = %d %v", status, env)
	}
	if _, err := f.Deliver(t.Context(), fakeToken, body); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("the webhook received %d requests", len(got))
	}
	if g := got[0]; g.method != http.MethodPost || g.contentType != "application/json" || g.secret != "S3cret_token-1" || !bytes.Equal(g.body, body) {
		t.Fatalf("delivery = %+v", g)
	}
	if g := got[1]; g.hasSecret || !bytes.Equal(g.body, body) {
		t.Fatalf("delivery without a secret token = %+v", g)
	}
}
