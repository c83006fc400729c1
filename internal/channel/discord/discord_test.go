package discord_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	appID     = "787053080478613554"
	botUserID = "787053080478613560"
	token     = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
)

// The RFC 8032 §7.1 TEST 1 key pair and the vector of protocols.md §4.5.
const (
	vectorSeed      = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	vectorPublicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	vectorTimestamp = "1700000000"
	vectorBody      = `{"type":1,"id":"787053080478613555","application_id":"787053080478613554","token":"ThisIsATokenFromDiscordThatIsVeryLong","version":1}`
	vectorSignature = "9c316412212f7abccaf4a28fb44a313dd2f4b5fca411dbb8491411c0a6b63f1226893139f4a9d2e2034058429db319edd39a51cb4a3d59706af38ca148bed405"
)

func seed(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(vectorSeed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setup(t *testing.T, now func() time.Time) (*channeltest.Discord, *channeltest.DiscordApp, *discord.Platform) {
	t.Helper()
	f := channeltest.NewDiscord(t, channeltest.DiscordOptions{Now: now})
	app := f.AddApp(channeltest.DiscordApp{ApplicationID: appID, BotToken: token, BotUserID: botUserID, Username: "helper", Seed: seed(t)})
	rule, _ := egress.RuleForURL(f.URL)
	policy, _ := egress.NewPolicy(rule)
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	p, err := discord.New(discord.Options{BaseURL: f.URL, Client: client, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return f, app, p
}

func creds(pub string) channel.Credentials {
	return channel.Credentials{"application_id": secret.New(appID), "public_key": secret.New(pub), "bot_token": secret.New(token)}
}

func connected(t *testing.T, p *discord.Platform, pub string) (palisade.Channel, channel.Access) {
	t.Helper()
	conn, err := p.Connect(t.Context(), creds(pub))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"settings":{"bot_user_id":%q,"application_id":%q,"username":"helper"}}`, botUserID, appID)
	ch := palisade.Channel{ID: "ch_test", BotID: palisade.NewBotID(), Kind: "discord", Config: cfg}
	return ch, channel.Access{Channel: ch, Credentials: conn.Credentials, Secret: conn.Secret, WebhookURL: "https://chat.example.com/hooks/discord/" + string(ch.BotID)}
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(fmt.Sprintf("%v %+v", err, err), token) {
		t.Fatalf("an error quotes the bot token: %v", err)
	}
}

func TestVectorVerifies(t *testing.T) {
	t.Parallel()
	pub := ed25519.NewKeyFromSeed(seed(t)).Public().(ed25519.PublicKey)
	if hex.EncodeToString(pub) != vectorPublicKey {
		t.Fatal("the RFC 8032 seed does not give the public key of the vector")
	}
	// RFC 8032 TEST 1: the empty message.
	sig, _ := hex.DecodeString("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	if !ed25519.Verify(pub, nil, sig) {
		t.Fatal("RFC 8032 TEST 1 does not verify")
	}
	_, _, p := setup(t, time.Now)
	sec := channel.EncodeFields(map[string]string{"public_key": vectorPublicKey})
	h := http.Header{}
	h.Set(discord.SignatureHeader, vectorSignature)
	h.Set(discord.TimestampHeader, vectorTimestamp)
	v, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: []byte(vectorBody)}, sec)
	if err != nil {
		t.Fatalf("the protocols.md vector does not verify: %v", err)
	}
	if !v.SignedAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("signed at %v", v.SignedAt)
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	_, _, p := setup(t, time.Now)
	sec := channel.EncodeFields(map[string]string{"public_key": vectorPublicKey})
	flipped := []byte(vectorBody)
	flipped[10] ^= 1
	badSig := []byte(vectorSignature)
	badSig[0] = 'a'
	cases := []struct {
		name     string
		sig, ts  []string
		body     string
		want     channel.Reason
		otherKey bool
	}{
		{"wrong signature", []string{string(badSig)}, []string{vectorTimestamp}, vectorBody, channel.ReasonBadSignature, false},
		{"body changed by one byte", []string{vectorSignature}, []string{vectorTimestamp}, string(flipped), channel.ReasonBadSignature, false},
		{"another timestamp", []string{vectorSignature}, []string{"1700000001"}, vectorBody, channel.ReasonBadSignature, false},
		{"another key", []string{vectorSignature}, []string{vectorTimestamp}, vectorBody, channel.ReasonBadSignature, true},
		{"no signature", nil, []string{vectorTimestamp}, vectorBody, channel.ReasonMissingHeader, false},
		{"no timestamp", []string{vectorSignature}, nil, vectorBody, channel.ReasonMissingHeader, false},
		{"empty signature", []string{""}, []string{vectorTimestamp}, vectorBody, channel.ReasonMissingHeader, false},
		{"short signature", []string{vectorSignature[:126]}, []string{vectorTimestamp}, vectorBody, channel.ReasonMalformedHeader, false},
		{"not hex", []string{strings.Repeat("zz", 64)}, []string{vectorTimestamp}, vectorBody, channel.ReasonMalformedHeader, false},
		{"timestamp not a number", []string{vectorSignature}, []string{"17e8"}, vectorBody, channel.ReasonMalformedHeader, false},
		{"two signatures", []string{vectorSignature, vectorSignature}, []string{vectorTimestamp}, vectorBody, channel.ReasonMalformedHeader, false},
	}
	for _, c := range cases {
		h := http.Header{}
		for _, v := range c.sig {
			h.Add(discord.SignatureHeader, v)
		}
		for _, v := range c.ts {
			h.Add(discord.TimestampHeader, v)
		}
		s := sec
		if c.otherKey {
			other, _, _ := ed25519.GenerateKey(nil)
			s = channel.EncodeFields(map[string]string{"public_key": hex.EncodeToString(other)})
		}
		_, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: []byte(c.body)}, s)
		var rj *channel.Rejection
		if !errors.As(err, &rj) || rj.Reason != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
}

func TestConnectChecksTokenAndApplication(t *testing.T) {
	t.Parallel()
	f, app, p := setup(t, time.Now)
	conn, err := p.Connect(t.Context(), creds(strings.ToUpper(app.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	if conn.ExternalID != appID || conn.Name != "@helper" || conn.Settings["bot_user_id"] != botUserID {
		t.Fatalf("connection = %+v", conn)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", conn, conn, conn), token) || strings.Contains(conn.Masked["bot_token"], token[:20]) {
		t.Fatal("the connection prints the token")
	}
	for _, c := range f.Calls() {
		if !strings.HasPrefix(c.UserAgent, "DiscordBot (") || !c.Auth {
			t.Fatalf("call %+v without the bot's User-Agent or token", c)
		}
	}
	otherKey := strings.Repeat("ab", 32)
	for name, in := range map[string]channel.Credentials{
		"missing":            {"application_id": secret.New(appID)},
		"bad application id": {"application_id": secret.New("abc"), "public_key": secret.New(app.PublicKey), "bot_token": secret.New(token)},
		"bad key":            {"application_id": secret.New(appID), "public_key": secret.New("xyz"), "bot_token": secret.New(token)},
		"bad token":          {"application_id": secret.New(appID), "public_key": secret.New(app.PublicKey), "bot_token": secret.New("not a token")},
		"unknown token":      {"application_id": secret.New(appID), "public_key": secret.New(app.PublicKey), "bot_token": secret.New("MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")},
		"another app":        {"application_id": secret.New("123456789012345678"), "public_key": secret.New(app.PublicKey), "bot_token": secret.New(token)},
		"another key":        {"application_id": secret.New(appID), "public_key": secret.New(otherKey), "bot_token": secret.New(token)},
	} {
		_, err := p.Connect(t.Context(), in)
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeInvalid || !strings.HasPrefix(pe.Field, "credentials.") {
			t.Errorf("%s: %v, want an invalid credentials field", name, err)
		}
		noToken(t, err)
	}
	if _, err := p.NewSecret(channel.Access{}); !errors.Is(err, channel.ErrCannotRotate) {
		t.Fatalf("NewSecret = %v", err)
	}
}

func TestSetUpRegistersAsk(t *testing.T) {
	t.Parallel()
	f, app, p := setup(t, time.Now)
	_, a := connected(t, p, app.PublicKey)
	if err := p.SetUp(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	cmds := f.Commands()
	if len(cmds) != 1 || cmds[0].ApplicationID != appID || cmds[0].Body["name"] != "ask" {
		t.Fatalf("commands = %+v", cmds)
	}
	opts, _ := cmds[0].Body["options"].([]any)
	if len(opts) != 1 || opts[0].(map[string]any)["type"] != float64(3) || opts[0].(map[string]any)["required"] != true {
		t.Fatalf("options = %+v", opts)
	}
	res, err := p.Test(t.Context(), a)
	if err != nil || !res.OK || !strings.Contains(res.Detail, a.WebhookURL) {
		t.Fatalf("Test = %+v, %v", res, err)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	f, app, p := setup(t, time.Now)
	ch, _ := connected(t, p, app.PublicKey)
	now := time.Now()
	dm := f.AskInteraction(app, channeltest.Snowflake(now, 1), "1100000000000000001", "", "1200000000000000001", "  where is my parcel? ", now)
	d, err := p.Parse(channel.Request{Body: dm}, ch)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Response.Body) != `{"type":5}` || d.Response.ContentType != "application/json" || len(d.Messages) != 1 {
		t.Fatalf("DM /ask = %+v", d)
	}
	m := d.Messages[0]
	if m.Key != channeltest.Snowflake(now, 1) || m.UserID != "1200000000000000001" || m.ChatID != "" || m.Text != "where is my parcel?" ||
		m.Route.Chat != "1100000000000000001" || m.Route.Token == "" || m.Route.ReplyTo != m.Key {
		t.Fatalf("DM message = %+v", m)
	}
	guild := f.AskInteraction(app, channeltest.Snowflake(now, 2), "1100000000000000002", "1000000000000000009", "1200000000000000002", "hi", now)
	d, err = p.Parse(channel.Request{Body: guild}, ch)
	if err != nil || len(d.Messages) != 1 || d.Messages[0].ChatID != "1100000000000000002" || d.Messages[0].UserID != "1200000000000000002" {
		t.Fatalf("guild /ask = %+v, %v", d, err)
	}
	d, err = p.Parse(channel.Request{Body: []byte(vectorBody)}, ch)
	if err != nil || string(d.Response.Body) != `{"type":1}` || len(d.Messages) != 0 {
		t.Fatalf("PING = %+v, %v", d, err)
	}
	other := strings.Replace(string(dm), `"name":"ask"`, `"name":"other"`, 1)
	if d, err := p.Parse(channel.Request{Body: []byte(other)}, ch); err != nil || len(d.Messages) != 0 || !strings.Contains(string(d.Response.Body), `"type":4`) {
		t.Fatalf("another command = %+v, %v", d, err)
	}
	for name, b := range map[string]string{
		"not JSON": "type=1", "empty": "", "no id": `{"type":1}`, "unknown type": `{"type":9,"id":"1"}`, "array": `[{"type":1,"id":"1"}]`,
		"another application": strings.Replace(string(dm), appID, "123456789012345678", 1),
	} {
		if _, err := p.Parse(channel.Request{Body: []byte(b)}, ch); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestMessageFromEvent(t *testing.T) {
	t.Parallel()
	const guild, chID, user = "1000000000000000009", "1100000000000000001", "1200000000000000001"
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"DM", channeltest.MessageCreate("1300000000000000001", chID, "", user, false, "hello", ""), "{1300000000000000001 " + user + "  hello {" + chID + "   }}"},
		{"guild mention", channeltest.MessageCreate("1300000000000000002", chID, guild, user, false, "hello", botUserID),
			"{1300000000000000002 " + user + " " + chID + " hello {" + chID + "  1300000000000000002 }}"},
		{"guild chatter", channeltest.MessageCreate("1300000000000000003", chID, guild, user, false, "hello", ""), ""},
		{"another bot mentioned", channeltest.MessageCreate("1300000000000000004", chID, guild, user, false, "hello", "999999999999999999"), ""},
		{"own message", channeltest.MessageCreate("1300000000000000005", chID, "", botUserID, true, "hello", ""), ""},
		{"another bot", channeltest.MessageCreate("1300000000000000006", chID, "", "1400000000000000001", true, "hello", ""), ""},
		{"mention alone", channeltest.MessageCreate("1300000000000000007", chID, guild, user, false, "", botUserID), ""},
	}
	for _, c := range cases {
		m, ok, err := discord.MessageFromEvent(c.body, botUserID)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := ""
		if ok {
			got = fmt.Sprint(m)
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if _, _, err := discord.MessageFromEvent([]byte(`{"id":"x"}`), botUserID); err == nil {
		t.Fatal("a message without ids parsed")
	}
}

func TestSendChannelMessage(t *testing.T) {
	t.Parallel()
	f, app, p := setup(t, time.Now)
	_, a := connected(t, p, app.PublicKey)
	out := channel.Outgoing{Route: channel.Route{Chat: "1100000000000000001", ReplyTo: "1300000000000000002"}, Text: "@everyone ships today", Key: "1300000000000000002/0"}
	if err := p.Send(t.Context(), a.Credentials, out); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), a.Credentials, out); err != nil {
		t.Fatal(err)
	}
	sent := f.Sent()
	if len(sent) != 2 || sent[0].ChannelID != "1100000000000000001" || sent[0].ReplyTo != "1300000000000000002" || !sent[0].EnforceNonce ||
		sent[0].AllowedMentions == nil || len(sent[0].AllowedMentions) != 0 {
		t.Fatalf("sent = %+v", sent)
	}
	// The same part carries the same nonce every time, within Discord's
	// 25 characters; another part another.
	if sent[0].Nonce == "" || sent[0].Nonce != sent[1].Nonce || len(sent[0].Nonce) > 25 || discord.Nonce("1300000000000000002/1") == sent[0].Nonce {
		t.Fatalf("nonces %q %q", sent[0].Nonce, sent[1].Nonce)
	}

	f.Fail(channeltest.DiscordRateLimited(2.5))
	err := p.Send(t.Context(), a.Credentials, out)
	var se *channel.SendError
	if !errors.As(err, &se) || se.After != 2500*time.Millisecond || se.Final || !se.Answered() {
		t.Fatalf("429 = %v", err)
	}
	f.Fail(channeltest.DiscordFailure{Status: 403, Code: 50001, Message: "Missing Access"})
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || !se.Final || se.Status != 403 {
		t.Fatalf("403 = %v", err)
	}
	f.SetDown(true)
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || se.Final || se.Status != http.StatusBadGateway {
		t.Fatalf("down = %v", err)
	}
	f.SetDown(false)
	noToken(t, err)
	if parts := p.Split(strings.Repeat("é", 4500)); len(parts) != 3 || len([]rune(parts[0])) != 2000 {
		t.Fatalf("split into %d parts", len(parts))
	}
}

func TestSendEditsTheInteraction(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	f, app, p := setup(t, clock)
	ch, a := connected(t, p, app.PublicKey)
	body := f.AskInteraction(app, channeltest.Snowflake(now, 7), "1100000000000000001", "", "1200000000000000001", "hi", now)
	d, err := p.Parse(channel.Request{Body: body}, ch)
	if err != nil {
		t.Fatal(err)
	}
	route := d.Messages[0].Route
	if err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: route, Text: "first", Key: d.Messages[0].Key + "/0"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: route, Text: "second", Key: d.Messages[0].Key + "/1"}); err != nil {
		t.Fatal(err)
	}
	edits := f.Edits()
	if len(edits) != 2 || edits[0].Followup || edits[0].Content != "first" || !edits[1].Followup || edits[0].AllowedMentions == nil || len(edits[0].AllowedMentions) != 0 {
		t.Fatalf("edits = %+v", edits)
	}
	for _, c := range f.Calls() {
		if strings.HasPrefix(c.Route, "^/api/v10/webhooks") && c.Auth {
			t.Fatal("the interaction endpoints were sent the bot token")
		}
	}
	// Past the token's 15 minutes, the reply fails for good without a
	// call.
	now = now.Add(discord.TokenLife)
	calls := len(f.Calls())
	err = p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: route, Text: "late", Key: d.Messages[0].Key + "/0"})
	var se *channel.SendError
	if !errors.As(err, &se) || !se.Final || se.Code != "interaction_expired" || len(f.Calls()) != calls {
		t.Fatalf("expired = %v", err)
	}
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	if err := discord.CheckPolicy(egress.DefaultPolicy(), ""); err != nil {
		t.Fatalf("the default policy refuses Discord: %v", err)
	}
	if err := discord.CheckPolicy(egress.DefaultPolicy(), "https://discord.internal/api/v10"); err == nil {
		t.Fatal("a REST URL outside the policy passed")
	}
	for _, bad := range []string{"ftp://x", "https://u:p@discord.com/api/v10", "https://discord.com/api/v10?x=1"} {
		if _, err := discord.New(discord.Options{BaseURL: bad, Client: &egress.Client{}}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
}
