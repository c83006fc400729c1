package channeltest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
)

var conformanceApp = channeltest.SlackApp{BotToken: "xoxb-1111111111-2222222222-ConformanceSlackToken", SigningSecret: "8f742231b10e8888abcd99yyyzzz85a5",
	TeamID: "T0CONFORM1", Team: "Conformance", BotUserID: "U0BOTUSER1", BotID: "B0BOTID001", BotName: "helper"}

// webAPI calls the fake as a Web API client does: JSON with a Bearer
// token (or a form carrying the token), and decodes the answer.
func webAPI(t *testing.T, base, token, method, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: the answer is not JSON: %v", method, err)
	}
	if _, ok := env["ok"].(bool); !ok {
		t.Fatalf("%s: no boolean ok: %v", method, env)
	}
	return resp.StatusCode, resp.Header, env
}

// TestSlackSignatureMatchesTheVector: the fake signs as §3.1 says, which
// the official test vector pins; one byte more in the body changes it.
func TestSlackSignatureMatchesTheVector(t *testing.T) {
	t.Parallel()
	const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	const want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got := channeltest.SlackSignature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", []byte(body)); got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	if got := channeltest.SlackSignature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", []byte(body+"------")); got == want {
		t.Fatal("a changed body signs the same")
	}
}

// TestSlackFakeKeepsTheWireFacts holds the fake's Web API to §3.5:
// auth.test names the bot user and team; errors are ok:false with HTTP
// 200; rate limiting is 429 with Retry-After; chat.postMessage needs a
// channel and text, records the thread, truncates past 40,000 characters
// and never deduplicates.
func TestSlackFakeKeepsTheWireFacts(t *testing.T) {
	t.Parallel()
	f := channeltest.NewSlack(t)
	if !strings.HasSuffix(f.URL, "/api") {
		t.Fatalf("URL %s: the Web API lives under /api", f.URL)
	}
	app := f.AddApp(conformanceApp)

	status, _, env := webAPI(t, f.URL, app.BotToken, "auth.test", "application/json; charset=utf-8", "{}")
	if status != 200 || env["ok"] != true || env["user_id"] != app.BotUserID || env["team_id"] != app.TeamID || env["bot_id"] != app.BotID || env["user"] != "helper" {
		t.Fatalf("auth.test = %d %v", status, env)
	}
	// The token also comes as a form parameter.
	if status, _, env := webAPI(t, f.URL, "", "auth.test", "application/x-www-form-urlencoded", "token="+app.BotToken); status != 200 || env["ok"] != true {
		t.Fatalf("auth.test by form = %d %v", status, env)
	}
	for _, c := range []struct{ token, code string }{{"", "not_authed"}, {"xoxb-0000000000-0000000000-unknown", "invalid_auth"}} {
		status, _, env := webAPI(t, f.URL, c.token, "auth.test", "application/json", "{}")
		if status != 200 || env["ok"] != false || env["error"] != c.code {
			t.Fatalf("auth.test with token %q = %d %v, want 200 ok:false %s", c.token, status, env, c.code)
		}
	}

	post := func(v map[string]any) (int, http.Header, map[string]any) {
		b, _ := json.Marshal(v)
		return webAPI(t, f.URL, app.BotToken, "chat.postMessage", "application/json; charset=utf-8", string(b))
	}
	status, _, env = post(map[string]any{"channel": "C0CHANNEL1", "text": "hello", "thread_ts": "1749416383.000200"})
	msg, _ := env["message"].(map[string]any)
	if status != 200 || env["ok"] != true || env["channel"] != "C0CHANNEL1" || env["ts"] == "" || msg["thread_ts"] != "1749416383.000200" || msg["bot_id"] != app.BotID {
		t.Fatalf("chat.postMessage = %d %v", status, env)
	}
	for _, c := range []struct {
		params map[string]any
		code   string
	}{
		{map[string]any{"text": "x"}, "channel_not_found"},
		{map[string]any{"channel": "nope", "text": "x"}, "channel_not_found"},
		{map[string]any{"channel": "D0DIRECT01", "text": "  "}, "no_text"},
	} {
		if status, _, env := post(c.params); status != 200 || env["ok"] != false || env["error"] != c.code {
			t.Fatalf("chat.postMessage %v = %d %v, want 200 ok:false %s", c.params, status, env, c.code)
		}
	}
	f.Fail(channeltest.SlackError("not_in_channel"), channeltest.SlackRateLimited(7))
	if status, _, env := post(map[string]any{"channel": "C0CHANNEL1", "text": "x"}); status != 200 || env["ok"] != false || env["error"] != "not_in_channel" {
		t.Fatalf("chat.postMessage failing = %d %v", status, env)
	}
	if status, h, env := post(map[string]any{"channel": "C0CHANNEL1", "text": "x"}); status != 429 || h.Get("Retry-After") != "7" || env["ok"] != false || env["error"] != "ratelimited" {
		t.Fatalf("chat.postMessage rate limited = %d %v %v", status, h, env)
	}
	before := len(f.Sent())
	post(map[string]any{"channel": "D0DIRECT01", "text": "twice"})
	post(map[string]any{"channel": "D0DIRECT01", "text": "twice"})
	post(map[string]any{"channel": "D0DIRECT01", "text": strings.Repeat("é", channeltest.SlackMaxText+1)})
	sent := f.Sent()[before:]
	if len(sent) != 3 || sent[0].Text != "twice" || sent[1].Text != "twice" || sent[0].TS == sent[1].TS || sent[0].Channel != "D0DIRECT01" {
		t.Fatalf("sent = %+v", sent)
	}
	if !sent[2].Truncated || len([]rune(sent[2].Text)) != channeltest.SlackMaxText {
		t.Fatalf("a 40,001-character text was kept whole")
	}
	if len(f.CallsOf("chat.postMessage")) != 9 {
		t.Fatalf("chat.postMessage calls = %d", len(f.CallsOf("chat.postMessage")))
	}
}

// TestSlackFakeDeliversLikeSlack: an event reaches the Request URL as
// §3.1 and §3.4 say: POST, application/json, the body byte for byte, a
// current timestamp and the v0 signature over it; a retry adds
// X-Slack-Retry-Num and X-Slack-Retry-Reason to the same body. The
// url_verification request is signed and passes on each of the three
// answer forms Slack takes, and fails on a wrong challenge. The event
// fixtures have the documented shapes.
func TestSlackFakeDeliversLikeSlack(t *testing.T) {
	t.Parallel()
	type seen struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var got []seen
	answer := "plain"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Header.Clone(), b})
		mode := answer
		mu.Unlock()
		var v struct {
			Type, Challenge string
		}
		if json.Unmarshal(b, &v) == nil && v.Type == "url_verification" {
			switch mode {
			case "plain":
				w.Header().Set("Content-Type", "text/plain")
				_, _ = io.WriteString(w, v.Challenge)
			case "form":
				w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
				_, _ = io.WriteString(w, "challenge="+v.Challenge)
			case "json":
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"challenge": v.Challenge})
			default:
				_, _ = io.WriteString(w, "wrong")
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()

	f := channeltest.NewSlack(t)
	app := f.AddApp(conformanceApp)
	for _, mode := range []string{"plain", "form", "json", "wrong"} {
		mu.Lock()
		answer = mode
		mu.Unlock()
		err := f.VerifyRequestURL(t.Context(), app.BotToken, hook.URL+"/hooks")
		if (err == nil) != (mode != "wrong") {
			t.Fatalf("url_verification answered %s: %v", mode, err)
		}
	}
	if f.App(app.BotToken).RequestURL != hook.URL+"/hooks" {
		t.Fatal("a verified Request URL was not kept")
	}

	body := channeltest.SlackDM(*app, "Ev0DM00001", "D0DIRECT01", "U0PERSON01", "1749416383.000100", "", "hello & <bye>")
	if status, err := f.Deliver(t.Context(), app.BotToken, body); err != nil || status != 200 {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	if status, err := f.DeliverRetry(t.Context(), app.BotToken, body, 2, "http_timeout"); err != nil || status != 200 {
		t.Fatalf("DeliverRetry = %d, %v", status, err)
	}
	if _, err := f.DeliverRetry(t.Context(), app.BotToken, body, 4, "http_timeout"); err == nil {
		t.Fatal("a fourth retry was sent")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("the Request URL received %d requests, want 6", len(got))
	}
	for i, g := range got {
		ts := g.header.Get("X-Slack-Request-Timestamp")
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(secs, 0)).Abs() > 5*time.Second {
			t.Fatalf("request %d: timestamp %q", i, ts)
		}
		if sig := g.header.Get("X-Slack-Signature"); sig != channeltest.SlackSignature(app.SigningSecret, ts, g.body) {
			t.Fatalf("request %d: signature %q does not sign the body received", i, sig)
		}
		if g.header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: Content-Type %q", i, g.header.Get("Content-Type"))
		}
	}
	first, retry := got[4], got[5]
	if !bytes.Equal(first.body, body) || !bytes.Equal(retry.body, body) {
		t.Fatal("a delivery's body was not sent byte for byte")
	}
	if _, ok := first.header["X-Slack-Retry-Num"]; ok {
		t.Fatal("a first delivery carries X-Slack-Retry-Num")
	}
	if retry.header.Get("X-Slack-Retry-Num") != "2" || retry.header.Get("X-Slack-Retry-Reason") != "http_timeout" {
		t.Fatalf("retry headers = %v", retry.header)
	}

	// §3.3 shapes: the envelope and the message.im event.
	var env struct {
		Token          string `json:"token"`
		TeamID         string `json:"team_id"`
		APIAppID       string `json:"api_app_id"`
		Type           string `json:"type"`
		EventID        string `json:"event_id"`
		EventTime      int64  `json:"event_time"`
		Authorizations []struct {
			TeamID string `json:"team_id"`
			UserID string `json:"user_id"`
			IsBot  bool   `json:"is_bot"`
		} `json:"authorizations"`
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	e := env.Event
	if env.Type != "event_callback" || env.EventID != "Ev0DM00001" || env.TeamID != app.TeamID || env.APIAppID == "" || env.EventTime != 1749416383 ||
		len(env.Authorizations) != 1 || env.Authorizations[0].UserID != app.BotUserID || !env.Authorizations[0].IsBot {
		t.Fatalf("envelope = %s", body)
	}
	if e["type"] != "message" || e["channel_type"] != "im" || e["channel"] != "D0DIRECT01" || e["user"] != "U0PERSON01" || e["ts"] != "1749416383.000100" ||
		e["event_ts"] != "1749416383.000100" || e["text"] != "hello & <bye>" {
		t.Fatalf("message.im event = %v", e)
	}
	if _, ok := e["subtype"]; ok {
		t.Fatal("a person's message carries a subtype")
	}
	var m struct{ Event map[string]any }
	_ = json.Unmarshal(channeltest.SlackMention(*app, "Ev0MENTION", "C0CHANNEL1", "U0PERSON01", "1749416384.000100", "", "hours?"), &m)
	if m.Event["type"] != "app_mention" || m.Event["text"] != "<@"+app.BotUserID+"> hours?" || m.Event["channel"] != "C0CHANNEL1" {
		t.Fatalf("app_mention event = %v", m.Event)
	}
	_ = json.Unmarshal(channeltest.SlackBotMessage(*app, "Ev0BOTMSG1", "D0DIRECT01", "1749416385.000100", "an answer"), &m)
	if m.Event["bot_id"] != app.BotID || m.Event["user"] != app.BotUserID {
		t.Fatalf("the bot's own message = %v", m.Event)
	}
	_ = json.Unmarshal(channeltest.SlackEdit(*app, "Ev0EDIT001", "D0DIRECT01", "U0PERSON01", "1749416386.000100", "edited"), &m)
	if m.Event["subtype"] != "message_changed" {
		t.Fatalf("an edit = %v", m.Event)
	}
}
