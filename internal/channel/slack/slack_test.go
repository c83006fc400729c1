package slack_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/slack"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

var app = channeltest.SlackApp{BotToken: "xoxb-1234567890-1234567890123-SlackAdapterTestToken", SigningSecret: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
	TeamID: "T0TEAM0001", Team: "Acme", BotUserID: "U0HELPER01", BotID: "B0HELPER01", BotName: "helper"}

// setup starts a fake Slack with the app and an adapter pointed at it
// through an egress client that allows only the fake.
func setup(t *testing.T) (*channeltest.Slack, *slack.Platform) {
	t.Helper()
	f := channeltest.NewSlack(t)
	f.AddApp(app)
	rule, err := egress.RuleForURL(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	p, err := slack.New(slack.Options{BaseURL: f.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

func creds() channel.Credentials {
	return channel.Credentials{"bot_token": secret.New(app.BotToken), "signing_secret": secret.New(app.SigningSecret)}
}

// connected runs Connect and returns the channel as the service would
// store it, with its access.
func connected(t *testing.T, p *slack.Platform) (palisade.Channel, channel.Access) {
	t.Helper()
	conn, err := p.Connect(t.Context(), creds())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"settings": conn.Settings, "masked": conn.Masked})
	ch := palisade.Channel{ID: palisade.NewChannelID(), WorkspaceID: palisade.NewWorkspaceID(), BotID: palisade.NewBotID(), Kind: "slack",
		ExternalID: conn.ExternalID, Name: conn.Name, Config: string(cfg)}
	return ch, channel.Access{Channel: ch, Credentials: conn.Credentials, Secret: conn.Secret, WebhookURL: "https://chat.example/hooks/slack/" + string(ch.BotID)}
}

// noCredential fails when text carries the bot token, its secret tail or
// the signing secret.
func noCredential(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range []string{app.BotToken, app.BotToken[len(app.BotToken)-16:], app.SigningSecret} {
		if strings.Contains(text, v) {
			t.Fatalf("%s carries a credential: %q", what, text)
		}
	}
}

// signed is a request signed with the app's signing secret at t.
func signed(body []byte, at time.Time) channel.Request {
	return channel.Request{Method: http.MethodPost, Header: channeltest.SlackHeaders(app.SigningSecret, at, body), Body: body}
}

// TestVerifyTheVector: the official vector of protocols.md §3.1 verifies
// and hands its timestamp back for the window; the vector's body with
// "------" appended, as the SDK test does, does not.
func TestVerifyTheVector(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	sec := channel.EncodeFields(map[string]string{"signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"})
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	v, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: []byte(body)}, sec)
	if err != nil || !v.SignedAt.Equal(time.Unix(1531420618, 0)) {
		t.Fatalf("Verify(vector) = %+v, %v", v, err)
	}
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: []byte(body + "------")}, sec); reason(err) != channel.ReasonBadSignature {
		t.Fatalf("Verify(vector body + ------) = %v", err)
	}
}

func reason(err error) channel.Reason {
	var rj *channel.Rejection
	if errors.As(err, &rj) {
		return rj.Reason
	}
	return ""
}

// TestVerifyRefusals: each malformed or wrong request is refused with its
// reason, before anything reads the body.
func TestVerifyRefusals(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	_, a := connected(t, p)
	body := channeltest.SlackDM(app, "Ev0REFUSE1", "D0DIRECT01", "U0PERSON01", "1749416383.000100", "", "hello")
	now := time.Now()
	good := signed(body, now)
	with := func(f func(h http.Header)) channel.Request {
		h := good.Header.Clone()
		f(h)
		return channel.Request{Method: http.MethodPost, Header: h, Body: body}
	}
	sig := good.Header.Get("X-Slack-Signature")
	changed := []byte(strings.Replace(string(body), "hello", "hellp", 1))
	cases := []struct {
		name string
		r    channel.Request
		want channel.Reason
	}{
		{"no signature", with(func(h http.Header) { h.Del("X-Slack-Signature") }), channel.ReasonMissingHeader},
		{"no timestamp", with(func(h http.Header) { h.Del("X-Slack-Request-Timestamp") }), channel.ReasonMissingHeader},
		{"empty signature", with(func(h http.Header) { h.Set("X-Slack-Signature", "") }), channel.ReasonMissingHeader},
		{"two signatures", with(func(h http.Header) { h.Add("X-Slack-Signature", sig) }), channel.ReasonMalformedHeader},
		{"no v0 prefix", with(func(h http.Header) { h.Set("X-Slack-Signature", strings.TrimPrefix(sig, "v0=")) }), channel.ReasonMalformedHeader},
		{"v1 prefix", with(func(h http.Header) { h.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(sig, "v0=")) }), channel.ReasonMalformedHeader},
		{"short signature", with(func(h http.Header) { h.Set("X-Slack-Signature", sig[:len(sig)-2]) }), channel.ReasonMalformedHeader},
		{"not hex", with(func(h http.Header) { h.Set("X-Slack-Signature", sig[:len(sig)-1]+"z") }), channel.ReasonMalformedHeader},
		{"timestamp not a number", with(func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "12a") }), channel.ReasonMalformedHeader},
		{"negative timestamp", with(func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "-1") }), channel.ReasonMalformedHeader},
		{"huge timestamp", with(func(h http.Header) { h.Set("X-Slack-Request-Timestamp", strings.Repeat("9", 40)) }), channel.ReasonMalformedHeader},
		{"timestamp changed", with(func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "1") }), channel.ReasonBadSignature},
		{"signature one digit off", with(func(h http.Header) {
			last := sig[len(sig)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			h.Set("X-Slack-Signature", sig[:len(sig)-1]+string(flip))
		}), channel.ReasonBadSignature},
		{"body changed by one byte", channel.Request{Method: http.MethodPost, Header: good.Header, Body: changed}, channel.ReasonBadSignature},
		{"signed with another secret", channel.Request{Method: http.MethodPost, Header: channeltest.SlackHeaders("another0secret0of0the0same0size", now, body), Body: body}, channel.ReasonBadSignature},
	}
	for _, c := range cases {
		if _, err := p.Verify(c.r, a.Secret); reason(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if v, err := p.Verify(good, a.Secret); err != nil || v.SignedAt.Unix() != now.Unix() {
		t.Fatalf("the genuine request: %+v, %v", v, err)
	}
	// Upper-case hex is the same MAC.
	if _, err := p.Verify(with(func(h http.Header) { h.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(sig, "v0="))) }), a.Secret); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
}

// TestConnect: auth.test names the bot user, its bot id and its team,
// kept as settings; the signing secret is sealed as the verification
// secret; the credentials come back masked only; a token Slack refuses
// and credentials of the wrong form are field errors; nothing made here
// carries a credential.
func TestConnect(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	conn, err := p.Connect(t.Context(), creds())
	if err != nil {
		t.Fatal(err)
	}
	if conn.Settings["bot_user_id"] != app.BotUserID || conn.Settings["bot_id"] != app.BotID || conn.Settings["team_id"] != app.TeamID ||
		conn.Name != "@helper (Acme)" || conn.ExternalID != app.TeamID+"/"+app.BotUserID {
		t.Fatalf("connection = %+v", conn)
	}
	if !strings.Contains(conn.Credentials.Reveal(), app.BotToken) || !strings.Contains(conn.Secret.Reveal(), app.SigningSecret) ||
		strings.Contains(conn.Credentials.Reveal(), app.SigningSecret) {
		t.Fatal("the token and the signing secret were not sealed apart")
	}
	masked, _ := json.Marshal(conn.Masked)
	noCredential(t, "masked credentials", string(masked))
	settings, _ := json.Marshal(conn.Settings)
	noCredential(t, "settings", string(settings)+conn.Name+conn.ExternalID)
	if calls := f.CallsOf("auth.test"); len(calls) != 1 || calls[0].BotUserID != app.BotUserID {
		t.Fatalf("auth.test calls = %+v", calls)
	}
	if _, err := p.NewSecret(channel.Access{}); !errors.Is(err, channel.ErrCannotRotate) {
		t.Fatalf("NewSecret = %v", err)
	}

	for _, c := range []struct {
		name  string
		in    channel.Credentials
		field string
	}{
		{"unknown token", channel.Credentials{"bot_token": secret.New("xoxb-9999999999-9999999999999-UnknownToUnknown"), "signing_secret": secret.New(app.SigningSecret)}, "credentials.bot_token"},
		{"user token", channel.Credentials{"bot_token": secret.New("xoxp-1234567890-1234567890-abcdefabcdef"), "signing_secret": secret.New(app.SigningSecret)}, "credentials.bot_token"},
		{"no signing secret", channel.Credentials{"bot_token": secret.New(app.BotToken)}, "credentials.signing_secret"},
		{"signing secret with a space", channel.Credentials{"bot_token": secret.New(app.BotToken), "signing_secret": secret.New("0f1e2d3c4b5a6978 8796a5b4c3d2e1f0")}, "credentials.signing_secret"},
		{"unknown field", channel.Credentials{"bot_token": secret.New(app.BotToken), "signing_secret": secret.New(app.SigningSecret), "app_token": secret.New("x")}, "credentials.app_token"},
	} {
		_, err := p.Connect(t.Context(), c.in)
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeInvalid || pe.Field != c.field {
			t.Fatalf("%s: %v, want a field error on %s", c.name, err, c.field)
		}
		noCredential(t, c.name, err.Error())
	}
	f.SetDown(true)
	_, err = p.Connect(t.Context(), creds())
	if palisade.ErrorCode(err) != palisade.CodeUnavailable {
		t.Fatalf("Slack down: %v", err)
	}
	noCredential(t, "the error of a Slack that is down", err.Error())
}

// TestTest reports a working connection, a revoked token and a token
// that now belongs to another bot.
func TestTest(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	ch, a := connected(t, p)
	res, err := p.Test(t.Context(), a)
	if err != nil || !res.OK || !strings.Contains(res.Detail, "@helper") || !strings.Contains(res.Detail, a.WebhookURL) {
		t.Fatalf("Test = %+v, %v", res, err)
	}
	other := ch
	other.Config = `{"settings":{"bot_user_id":"U0SOMEONE1","team_id":"T0TEAM0001"}}`
	if res, _ := p.Test(t.Context(), channel.Access{Channel: other, Credentials: a.Credentials}); res.OK {
		t.Fatalf("Test with another bot's token = %+v", res)
	}
	revoked := channel.EncodeFields(map[string]string{"bot_token": "xoxb-1234567890-1234567890123-RevokedRevoked"})
	if res, _ := p.Test(t.Context(), channel.Access{Channel: ch, Credentials: revoked}); res.OK || !strings.Contains(res.Detail, "no longer accepts") {
		t.Fatalf("Test with a revoked token = %+v", res)
	}
	f.SetDown(true)
	if res, _ := p.Test(t.Context(), a); res.OK {
		t.Fatalf("Test with Slack down = %+v", res)
	}
}

// TestParse: url_verification is answered with the challenge; a direct
// message and a mention are answered (keyed on the event id, routed to
// their channel and thread, the mention taken out); the bot's own
// messages, any bot's, edits, other subtypes and types, channel chatter
// and another workspace's events are dropped; a body that is not an
// Events API request is invalid.
func TestParse(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	ch, _ := connected(t, p)
	const ts, thread = "1749416383.000100", "1749416300.000050"

	d, err := p.Parse(channel.Request{Body: []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)}, ch)
	if err != nil || len(d.Messages) != 0 || d.Response.Status != 200 || string(d.Response.Body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" ||
		!strings.HasPrefix(d.Response.ContentType, "text/plain") {
		t.Fatalf("url_verification = %+v, %v", d, err)
	}

	type want struct {
		key, user, chat, text, routeChat, thread string
	}
	other := app
	other.TeamID = "T0ELSEWHER"
	cases := []struct {
		name string
		body []byte
		want *want
	}{
		{"direct message", channeltest.SlackDM(app, "Ev0DM00001", "D0DIRECT01", "U0PERSON01", ts, "", "Where is my parcel &amp; &lt;box&gt;?"),
			&want{"Ev0DM00001", "U0PERSON01", "", "Where is my parcel & <box>?", "D0DIRECT01", ""}},
		{"direct message in a thread", channeltest.SlackDM(app, "Ev0DM00002", "D0DIRECT01", "U0PERSON01", ts, thread, "and then?"),
			&want{"Ev0DM00002", "U0PERSON01", "", "and then?", "D0DIRECT01", thread}},
		{"mention", channeltest.SlackMention(app, "Ev0MENTION", "C0CHANNEL1", "U0PERSON02", ts, "", "what are your hours?"),
			&want{"Ev0MENTION", "U0PERSON02", "C0CHANNEL1", "what are your hours?", "C0CHANNEL1", ts}},
		{"mention in a thread", channeltest.SlackMention(app, "Ev0MENTIO2", "C0CHANNEL1", "U0PERSON02", ts, thread, "and on Sunday?"),
			&want{"Ev0MENTIO2", "U0PERSON02", "C0CHANNEL1", "and on Sunday?", "C0CHANNEL1", thread}},
		{"the bot's own message", channeltest.SlackBotMessage(app, "Ev0OWNMSG1", "D0DIRECT01", ts, "an answer"), nil},
		{"the bot user without bot_id", channeltest.SlackDM(app, "Ev0OWNMSG2", "D0DIRECT01", app.BotUserID, ts, "", "an answer"), nil},
		{"an edit", channeltest.SlackEdit(app, "Ev0EDIT001", "D0DIRECT01", "U0PERSON01", ts, "edited"), nil},
		{"another workspace", channeltest.SlackDM(other, "Ev0OTHER01", "D0DIRECT01", "U0PERSON01", ts, "", "hi"), nil},
		{"only the mention", channeltest.SlackMention(app, "Ev0EMPTY01", "C0CHANNEL1", "U0PERSON02", ts, "", " "), nil},
		{"a channel message", []byte(`{"type":"event_callback","team_id":"T0TEAM0001","event_id":"Ev0CHAN001","event":{"type":"message","channel":"C0CHANNEL1","channel_type":"channel","user":"U0PERSON01","text":"chatter","ts":"1.1"}}`), nil},
		{"another bot", []byte(`{"type":"event_callback","team_id":"T0TEAM0001","event_id":"Ev0BOT0001","event":{"type":"message","channel":"D0DIRECT01","channel_type":"im","user":"U0OTHERBOT","bot_id":"B0OTHERBOT","text":"hi","ts":"1.1"}}`), nil},
		{"a bot_message subtype", []byte(`{"type":"event_callback","team_id":"T0TEAM0001","event_id":"Ev0BOT0002","event":{"type":"message","subtype":"bot_message","channel":"D0DIRECT01","channel_type":"im","text":"hi","ts":"1.1"}}`), nil},
		{"app_rate_limited", []byte(`{"token":"x","type":"app_rate_limited","team_id":"T0TEAM0001","minute_rate_limited":1518467820,"api_app_id":"A0FAKEAPP1"}`), nil},
		{"a reaction", []byte(`{"type":"event_callback","team_id":"T0TEAM0001","event_id":"Ev0REACT01","event":{"type":"reaction_added","user":"U0PERSON01","reaction":"thumbsup"}}`), nil},
	}
	for _, c := range cases {
		d, err := p.Parse(channel.Request{Body: c.body}, ch)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Response.Status != 0 || len(d.Response.Body) != 0 {
			t.Fatalf("%s: answered %+v, want an empty 200", c.name, d.Response)
		}
		if c.want == nil {
			if len(d.Messages) != 0 {
				t.Fatalf("%s: answered %+v", c.name, d.Messages)
			}
			continue
		}
		if len(d.Messages) != 1 {
			t.Fatalf("%s: %d messages", c.name, len(d.Messages))
		}
		m, w := d.Messages[0], c.want
		if m.Key != w.key || m.UserID != w.user || m.ChatID != w.chat || m.Text != w.text || m.Route.Chat != w.routeChat || m.Route.Thread != w.thread {
			t.Fatalf("%s: %+v, want %+v", c.name, m, *w)
		}
	}
	for _, body := range []string{``, `{`, `[]`, `{"type":"event_callback","event_id":"Ev0X"}`, `{"type":"event_callback","event":{}}`,
		`{"type":"event_callback","event_id":"not-an-id","event":{}}`, `{"type":"url_verification"}`, `{"type":"url_verification","challenge":"a\nb"}`, `{"no":"type"}`} {
		if _, err := p.Parse(channel.Request{Body: []byte(body)}, ch); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Fatalf("Parse(%q) = %v, want invalid", body, err)
		}
	}
}

// TestSend: a part is posted with chat.postMessage in its channel and
// thread, escaped so it cannot mention anyone; ok:false at HTTP 200 is a
// failure carrying Slack's code (final where retrying cannot help); 429
// carries Retry-After; a Slack that is down may pass. No error carries a
// credential or the text.
func TestSend(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	_, a := connected(t, p)
	route := channel.Route{Chat: "C0CHANNEL1", Thread: "1749416383.000100"}
	if err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: route, Text: "Hi <!channel> & <@U0BOSS0001>"}); err != nil {
		t.Fatal(err)
	}
	sent := f.Sent()
	if len(sent) != 1 || sent[0].Channel != "C0CHANNEL1" || sent[0].ThreadTS != "1749416383.000100" || sent[0].Text != "Hi &lt;!channel&gt; &amp; &lt;@U0BOSS0001&gt;" {
		t.Fatalf("sent = %+v", sent)
	}
	if c := f.CallsOf("chat.postMessage")[0]; c.Params["unfurl_links"] != false || c.Params["unfurl_media"] != false {
		t.Fatalf("chat.postMessage params = %v", c.Params)
	}
	const secretText = "the confidential answer"
	for _, c := range []struct {
		name    string
		fail    channeltest.SlackFailure
		status  int
		code    string
		final   bool
		after   time.Duration
		downNow bool
	}{
		{"not in channel", channeltest.SlackError("not_in_channel"), 200, "not_in_channel", true, 0, false},
		{"channel not found", channeltest.SlackError("channel_not_found"), 200, "channel_not_found", true, 0, false},
		{"token revoked", channeltest.SlackError("token_revoked"), 200, "token_revoked", true, 0, false},
		{"internal error", channeltest.SlackError("internal_error"), 200, "internal_error", false, 0, false},
		{"ok:false ratelimited", channeltest.SlackFailure{Status: 200, Error: "ratelimited"}, 200, "ratelimited", false, time.Second, false},
		{"429", channeltest.SlackRateLimited(7), 429, "ratelimited", false, 7 * time.Second, false},
		{"down", channeltest.SlackFailure{}, 503, "http_503", false, 0, true},
	} {
		if c.downNow {
			f.SetDown(true)
		} else {
			f.Fail(c.fail)
		}
		err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: route, Text: secretText})
		f.SetDown(false)
		var se *channel.SendError
		if !errors.As(err, &se) || se.Status != c.status || se.Code != c.code || se.Final != c.final || se.After != c.after || !se.Answered() {
			t.Fatalf("%s: %#v", c.name, err)
		}
		noCredential(t, c.name, err.Error())
		if strings.Contains(err.Error(), secretText) {
			t.Fatalf("%s: the error carries the text", c.name)
		}
	}
	if len(f.Sent()) != 1 {
		t.Fatalf("a refused part was recorded as sent: %+v", f.Sent())
	}
	var se *channel.SendError
	if err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: channel.Route{Chat: "not a channel"}, Text: "x"}); !errors.As(err, &se) || !se.Final {
		t.Fatalf("a route without a channel: %v", err)
	}
}

// TestSplit cuts at 4,000 characters.
func TestSplit(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	parts := p.Split(strings.Repeat("a", 3000) + "\n\n" + strings.Repeat("é", 3000))
	if len(parts) != 2 || len([]rune(parts[0])) != 3000 || len([]rune(parts[1])) != 3000 {
		t.Fatalf("parts of %v runes", []int{len([]rune(parts[0])), len([]rune(parts[1]))})
	}
	for _, part := range p.Split(strings.Repeat("word ", 3000)) {
		if len([]rune(part)) > slack.MaxText {
			t.Fatalf("a part of %d characters", len([]rune(part)))
		}
	}
}

// TestCheckPolicy: the default egress policy allows the official Web API
// methods; a Web API URL it does not name is refused, naming the method.
func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	if err := slack.CheckPolicy(egress.DefaultPolicy(), ""); err != nil {
		t.Fatalf("the default policy refuses the official Web API: %v", err)
	}
	if err := slack.CheckPolicy(egress.DefaultPolicy(), slack.DefaultBaseURL); err != nil {
		t.Fatal(err)
	}
	err := slack.CheckPolicy(egress.DefaultPolicy(), "https://slack-proxy.internal/api")
	if err == nil || !strings.Contains(err.Error(), "auth.test") {
		t.Fatalf("a URL outside the policy: %v", err)
	}
	for _, bad := range []string{"ftp://slack.com/api", "https://user:pw@slack.com/api", "https://slack.com/api?x=1"} {
		if _, err := slack.New(slack.Options{BaseURL: bad, Client: &egress.Client{}}); err == nil {
			t.Fatalf("New accepted %s", bad)
		}
		if err := slack.CheckPolicy(egress.DefaultPolicy(), bad); err == nil {
			t.Fatalf("CheckPolicy accepted %s", bad)
		}
	}
	if u, _ := url.Parse(slack.DefaultBaseURL); u.Host != "slack.com" {
		t.Fatal(u)
	}
}

// FuzzParse: whatever a verified body holds, Parse never panics, and a
// message it returns is addressable: an event id key, a sender, a channel
// id route, text.
func FuzzParse(f *testing.F) {
	ts := "1749416383.000100"
	for _, b := range [][]byte{
		channeltest.SlackDM(app, "Ev0DM00001", "D0DIRECT01", "U0PERSON01", ts, "", "hello"),
		channeltest.SlackMention(app, "Ev0MENTION", "C0CHANNEL1", "U0PERSON02", ts, "1749416300.000050", "hours?"),
		channeltest.SlackBotMessage(app, "Ev0OWNMSG1", "D0DIRECT01", ts, "an answer"),
		channeltest.SlackEdit(app, "Ev0EDIT001", "D0DIRECT01", "U0PERSON01", ts, "edited"),
		[]byte(`{"token":"x","challenge":"c","type":"url_verification"}`),
	} {
		f.Add(b)
	}
	ch := palisade.Channel{Kind: "slack", Config: `{"settings":{"bot_user_id":"U0HELPER01","bot_id":"B0HELPER01","team_id":"T0TEAM0001"}}`}
	p, err := slack.New(slack.Options{Client: &egress.Client{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := p.Parse(channel.Request{Method: http.MethodPost, Body: body}, ch)
		if err != nil {
			if palisade.ErrorCode(err) != palisade.CodeInvalid {
				t.Fatalf("Parse failed with %v", err)
			}
			return
		}
		for _, m := range d.Messages {
			if !strings.HasPrefix(m.Key, "Ev") || m.UserID == "" || m.UserID == "U0HELPER01" || m.Route.Chat == "" || strings.TrimSpace(m.Text) == "" {
				t.Fatalf("message %+v", m)
			}
		}
	})
}
