package channeltest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
)

// The RFC 8032 §7.1 TEST 1 key and the vector of protocols.md §4.5.
const (
	rfcSeed     = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPublic   = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	vectorBody  = `{"type":1,"id":"787053080478613555","application_id":"787053080478613554","token":"ThisIsATokenFromDiscordThatIsVeryLong","version":1}`
	vectorSig   = "9c316412212f7abccaf4a28fb44a313dd2f4b5fca411dbb8491411c0a6b63f1226893139f4a9d2e2034058429db319edd39a51cb4a3d59706af38ca148bed405"
	discordTok  = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.fakeConformanceToken0123456789abcdefgh"
	discordApp  = "787053080478613554"
	discordUser = "787053080478613560"
)

func newFakeDiscord(t *testing.T, o channeltest.DiscordOptions) (*channeltest.Discord, *channeltest.DiscordApp) {
	t.Helper()
	seed, _ := hex.DecodeString(rfcSeed)
	f := channeltest.NewDiscord(t, o)
	return f, f.AddApp(channeltest.DiscordApp{ApplicationID: discordApp, BotToken: discordTok, BotUserID: discordUser, Username: "helper", Seed: seed})
}

// TestFakeDiscordSignsAsDiscord: with the RFC 8032 key the fake's
// signature of the protocols.md body is the vector's, and its deliveries
// carry the headers over the timestamp followed by the body, byte for
// byte.
func TestFakeDiscordSignsAsDiscord(t *testing.T) {
	t.Parallel()
	f, app := newFakeDiscord(t, channeltest.DiscordOptions{})
	if app.PublicKey != rfcPublic {
		t.Fatalf("public key %s", app.PublicKey)
	}
	if got := app.Sign("1700000000", []byte(vectorBody)); got != vectorSig {
		t.Fatalf("signature %s, want the vector's", got)
	}
	if !bytes.Equal(channeltest.PingInteraction(app, "787053080478613555"), []byte(vectorBody)) {
		t.Fatalf("PING body %s", channeltest.PingInteraction(app, "787053080478613555"))
	}
	got := make(chan *http.Request, 1)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		got <- r
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":1}`)
	}))
	defer srv.Close()
	ask := f.AskInteraction(app, channeltest.Snowflake(time.Now(), 1), "1100000000000000001", "", "1200000000000000001", "hi", time.Now())
	if status, err := f.DeliverInteraction(t.Context(), srv.URL, app, ask); err != nil || status != 200 {
		t.Fatalf("deliver: %d, %v", status, err)
	}
	r := <-got
	ts := r.Header.Get("X-Signature-Timestamp")
	sig, _ := hex.DecodeString(r.Header.Get("X-Signature-Ed25519"))
	pub, _ := hex.DecodeString(rfcPublic)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, ask) ||
		!ed25519.Verify(pub, append([]byte(ts), body...), sig) {
		t.Fatalf("delivery %s %v", r.Method, r.Header)
	}
	if n, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(n, 0)) > time.Minute {
		t.Fatalf("timestamp %q", ts)
	}
	var in map[string]any
	if err := json.Unmarshal(ask, &in); err != nil || in["type"] != float64(2) || in["version"] != float64(1) || in["token"] == "" || in["user"] == nil {
		t.Fatalf("interaction shape %s", ask)
	}
}

func rest(t *testing.T, f *channeltest.Discord, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, f.URL+path, strings.NewReader(body))
	req.Header.Set("User-Agent", "DiscordBot (https://example.com, 1)")
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestFakeDiscordREST: the routes answer as Discord does: bot auth
// required, users/@me and the application with its verify_key, GET
// /gateway/bot with the start limit, messages recorded with their nonce
// (every request, a repeated enforced nonce included), 2,000 characters at most, 429 with
// retry_after, interaction edits with the interaction token alone.
func TestFakeDiscordREST(t *testing.T) {
	t.Parallel()
	f, app := newFakeDiscord(t, channeltest.DiscordOptions{})
	bot := "Bot " + discordTok
	if status, _ := rest(t, f, http.MethodGet, "/users/@me", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("no auth: %d", status)
	}
	if status, u := rest(t, f, http.MethodGet, "/users/@me", bot, ""); status != 200 || u["id"] != discordUser || u["bot"] != true {
		t.Fatalf("users/@me: %d %v", status, u)
	}
	if status, a := rest(t, f, http.MethodGet, "/applications/@me", bot, ""); status != 200 || a["verify_key"] != app.PublicKey || a["id"] != discordApp {
		t.Fatalf("applications/@me: %d %v", status, a)
	}
	status, g := rest(t, f, http.MethodGet, "/gateway/bot", bot, "")
	limit, _ := g["session_start_limit"].(map[string]any)
	if status != 200 || g["url"] != f.GatewayURL || limit["max_concurrency"] != float64(1) || limit["remaining"] != float64(1000) {
		t.Fatalf("gateway/bot: %d %v", status, g)
	}
	msg := `{"content":"hi","nonce":"abc","enforce_nonce":true,"allowed_mentions":{"parse":[]}}`
	for range 2 {
		if status, m := rest(t, f, http.MethodPost, "/channels/1100000000000000001/messages", bot, msg); status != 200 || m["nonce"] != "abc" {
			t.Fatalf("message: %d %v", status, m)
		}
	}
	if s := f.Sent(); len(s) != 2 || s[1].Nonce != "abc" || !s[1].EnforceNonce || s[1].AllowedMentions == nil {
		t.Fatalf("sent = %+v (every request is recorded)", s)
	}
	if status, _ := rest(t, f, http.MethodPost, "/channels/1/messages", bot, `{"content":"`+strings.Repeat("a", 2001)+`"}`); status != http.StatusBadRequest {
		t.Fatalf("2,001 characters: %d", status)
	}
	if status, _ := rest(t, f, http.MethodPost, "/channels/1/messages", bot, `{"content":"x","nonce":"`+strings.Repeat("n", 26)+`"}`); status != http.StatusBadRequest {
		t.Fatalf("a 26-character nonce: %d", status)
	}
	f.Fail(channeltest.DiscordRateLimited(1.5))
	if status, m := rest(t, f, http.MethodPost, "/channels/1/messages", bot, msg); status != http.StatusTooManyRequests || m["retry_after"] != 1.5 || m["global"] != false {
		t.Fatalf("429: %d %v", status, m)
	}
	now := time.Now()
	var in struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(f.AskInteraction(app, channeltest.Snowflake(now, 1), "1100000000000000001", "", "1200000000000000001", "hi", now), &in)
	if status, _ := rest(t, f, http.MethodPatch, "/webhooks/"+discordApp+"/"+in.Token+"/messages/@original", "", `{"content":"answer"}`); status != 200 {
		t.Fatalf("edit: %d", status)
	}
	if status, _ := rest(t, f, http.MethodPatch, "/webhooks/"+discordApp+"/unknown-token/messages/@original", "", `{"content":"answer"}`); status != http.StatusUnauthorized {
		t.Fatalf("edit with an unknown token: %d", status)
	}
	if e := f.Edits(); len(e) != 1 || e[0].Content != "answer" || e[0].Followup {
		t.Fatalf("edits = %+v", e)
	}
	old := now.Add(-15 * time.Minute)
	_ = json.Unmarshal(f.AskInteraction(app, channeltest.Snowflake(old, 2), "1100000000000000001", "", "1200000000000000001", "hi", old), &in)
	if status, _ := rest(t, f, http.MethodPatch, "/webhooks/"+discordApp+"/"+in.Token+"/messages/@original", "", `{"content":"late"}`); status != http.StatusUnauthorized {
		t.Fatalf("edit after 15 minutes: %d", status)
	}
	if status, c := rest(t, f, http.MethodPost, "/applications/"+discordApp+"/commands", bot, `{"name":"ask","type":1,"description":"Ask"}`); status != http.StatusCreated || c["id"] == "" {
		t.Fatalf("command: %d %v", status, c)
	}
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func write(t *testing.T, c *websocket.Conn, v string) {
	t.Helper()
	if err := c.Write(t.Context(), websocket.MessageText, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

// TestFakeDiscordGateway: Hello with the interval, ACK for a heartbeat,
// READY with a session and the resume URL after IDENTIFY, dispatches
// with increasing sequence numbers, a resume replaying what was missed
// then RESUMED, and Invalid Session on a resume of a session that ended.
func TestFakeDiscordGateway(t *testing.T) {
	t.Parallel()
	f, _ := newFakeDiscord(t, channeltest.DiscordOptions{HeartbeatInterval: 41250 * time.Millisecond})
	c, _, err := websocket.Dial(t.Context(), f.GatewayURL+"?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if h := read(t, c); h["op"] != float64(10) || h["d"].(map[string]any)["heartbeat_interval"] != float64(41250) {
		t.Fatalf("hello = %v", h)
	}
	write(t, c, `{"op":2,"d":{"token":"`+discordTok+`","intents":37376,"properties":{"os":"linux","browser":"x","device":"x"}}}`)
	r := read(t, c)
	d, _ := r["d"].(map[string]any)
	if r["op"] != float64(0) || r["t"] != "READY" || r["s"] != float64(1) || d["session_id"] == "" || d["resume_gateway_url"] != f.ResumeURL {
		t.Fatalf("ready = %v", r)
	}
	write(t, c, `{"op":1,"d":1}`)
	if a := read(t, c); a["op"] != float64(11) {
		t.Fatalf("ack = %v", a)
	}
	msg := channeltest.MessageCreate("1300000000000000001", "1100000000000000001", "", "1200000000000000001", false, "hello", "")
	f.Dispatch(discordTok, "MESSAGE_CREATE", msg)
	if e := read(t, c); e["t"] != "MESSAGE_CREATE" || e["s"] != float64(2) {
		t.Fatalf("dispatch = %v", e)
	}
	f.Drop(discordTok)
	f.Dispatch(discordTok, "MESSAGE_CREATE", msg)

	c2, _, err := websocket.Dial(t.Context(), f.ResumeURL+"?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	read(t, c2)
	write(t, c2, `{"op":6,"d":{"token":"`+discordTok+`","session_id":"`+d["session_id"].(string)+`","seq":2}}`)
	if e := read(t, c2); e["t"] != "MESSAGE_CREATE" || e["s"] != float64(3) {
		t.Fatalf("replayed = %v", e)
	}
	if e := read(t, c2); e["t"] != "RESUMED" {
		t.Fatalf("resumed = %v", e)
	}
	f.InvalidateSession(discordTok, false)
	if e := read(t, c2); e["op"] != float64(9) || e["d"] != false {
		t.Fatalf("invalid session = %v", e)
	}
	c3, _, err := websocket.Dial(t.Context(), f.ResumeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.CloseNow()
	read(t, c3)
	write(t, c3, `{"op":6,"d":{"token":"`+discordTok+`","session_id":"`+d["session_id"].(string)+`","seq":3}}`)
	if e := read(t, c3); e["op"] != float64(9) {
		t.Fatalf("resuming an ended session = %v", e)
	}
	if ids := f.Identifies(discordTok); len(ids) != 1 || ids[0].Intents != 37376 || ids[0].Query != "v=10&encoding=json" {
		t.Fatalf("identifies = %+v", ids)
	}
}

// TestFakeDiscordResumeHistory: a resume replays every dispatch after the
// given sequence number, also across several resumes of one session, and
// only while they are within the bounded history; a resume from before
// it, or of a session never made, gets Invalid Session (not resumable).
func TestFakeDiscordResumeHistory(t *testing.T) {
	t.Parallel()
	f, _ := newFakeDiscord(t, channeltest.DiscordOptions{ResumeHistory: 3})
	c, _, err := websocket.Dial(t.Context(), f.GatewayURL+"?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read(t, c)
	write(t, c, `{"op":2,"d":{"token":"`+discordTok+`","intents":37376,"properties":{"os":"linux","browser":"x","device":"x"}}}`)
	sid := read(t, c)["d"].(map[string]any)["session_id"].(string)
	msg := func(i int) []byte {
		return channeltest.MessageCreate(fmt.Sprintf("13000000000000000%02d", i), "1100000000000000001", "", "1200000000000000001", false, fmt.Sprint(i), "")
	}
	f.Drop(discordTok)
	for i := range 4 { // seq 2..5; the history keeps 3..5
		f.Dispatch(discordTok, "MESSAGE_CREATE", msg(i))
	}
	resume := func(seq int) *websocket.Conn {
		c, _, err := websocket.Dial(t.Context(), f.ResumeURL+"?v=10&encoding=json", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		read(t, c)
		write(t, c, fmt.Sprintf(`{"op":6,"d":{"token":"%s","session_id":"%s","seq":%d}}`, discordTok, sid, seq))
		return c
	}
	c2 := resume(3)
	for _, want := range []float64{4, 5} {
		if e := read(t, c2); e["t"] != "MESSAGE_CREATE" || e["s"] != want {
			t.Fatalf("replayed = %v, want seq %v", e, want)
		}
	}
	if e := read(t, c2); e["t"] != "RESUMED" || e["s"] != float64(6) {
		t.Fatalf("resumed = %v", e)
	}
	// A second resume of the same session, from an older number still
	// kept: everything after it again.
	f.Drop(discordTok)
	c3 := resume(2)
	for _, want := range []float64{3, 4, 5} {
		if e := read(t, c3); e["s"] != want {
			t.Fatalf("replayed = %v, want seq %v", e, want)
		}
	}
	if e := read(t, c3); e["t"] != "RESUMED" {
		t.Fatalf("resumed = %v", e)
	}
	f.Dispatch(discordTok, "MESSAGE_CREATE", msg(9)) // seq 8; 3 falls out
	if e := read(t, c3); e["s"] != float64(8) {
		t.Fatalf("live dispatch = %v", e)
	}
	f.Drop(discordTok)
	if e := read(t, resume(2)); e["op"] != float64(9) || e["d"] != false {
		t.Fatalf("a resume from before the history = %v", e)
	}
	c5, _, err := websocket.Dial(t.Context(), f.ResumeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c5.CloseNow()
	read(t, c5)
	write(t, c5, `{"op":6,"d":{"token":"`+discordTok+`","session_id":"never-made","seq":1}}`)
	if e := read(t, c5); e["op"] != float64(9) || e["d"] != false {
		t.Fatalf("a resume of an unknown session = %v", e)
	}
	if rs := f.Resumes(discordTok); len(rs) != 4 || !rs[0].OK || !rs[1].OK || rs[2].OK || rs[3].OK {
		t.Fatalf("resumes = %+v", rs)
	}
}

// TestFakeDiscordEnforceNonce: enforce_nonce behaves as Discord's does —
// a second create by the same bot with the same nonce within the window
// answers the first message (same id, no new message), while a create
// without enforce_nonce, with another nonce, by another bot, or after the
// window makes a new one. Every request stays recorded in Sent.
func TestFakeDiscordEnforceNonce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f, _ := newFakeDiscord(t, channeltest.DiscordOptions{Now: clock})
	other := f.AddApp(channeltest.DiscordApp{ApplicationID: "787053080478613600", BotToken: "other-bot-token", BotUserID: "787053080478613601", Username: "other"})
	bot := "Bot " + discordTok
	post := func(auth, body string) string {
		t.Helper()
		status, m := rest(t, f, http.MethodPost, "/channels/1100000000000000001/messages", auth, body)
		id, _ := m["id"].(string)
		if status != http.StatusOK || id == "" {
			t.Fatalf("create: %d %v", status, m)
		}
		return id
	}
	first := post(bot, `{"content":"one","nonce":"n1","enforce_nonce":true}`)
	if again := post(bot, `{"content":"one","nonce":"n1","enforce_nonce":true}`); again != first {
		t.Fatalf("a repeated enforced nonce made message %s, want the original %s", again, first)
	}
	ids := map[string]bool{first: true}
	for _, c := range []struct{ auth, body string }{
		{bot, `{"content":"one","nonce":"n1"}`},                                          // not enforced
		{bot, `{"content":"two","nonce":"n2","enforce_nonce":true}`},                     // another nonce
		{"Bot " + other.BotToken, `{"content":"one","nonce":"n1","enforce_nonce":true}`}, // another author
	} {
		id := post(c.auth, c.body)
		if ids[id] {
			t.Fatalf("%s by %s answered an earlier message %s", c.body, c.auth, id)
		}
		ids[id] = true
	}
	mu.Lock()
	now = now.Add(channeltest.NonceWindow)
	mu.Unlock()
	if late := post(bot, `{"content":"one","nonce":"n1","enforce_nonce":true}`); ids[late] {
		t.Fatalf("a nonce past the window answered message %s", late)
	}
	sent, created := f.Sent(), f.Created()
	if len(sent) != 6 || len(created) != 5 || !sent[1].Replayed || sent[1].MessageID != first || sent[0].Replayed {
		t.Fatalf("sent = %+v, created = %d", sent, len(created))
	}
}
