package telegram_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

const token = "7123456789:AAHtelegramAdapterTestToken_abcdefgh"

// setup starts a fake Telegram with one bot and an adapter pointed at it
// through an egress client that allows only the fake.
func setup(t *testing.T) (*channeltest.Telegram, *telegram.Platform) {
	t.Helper()
	f := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	f.AddBot(token, "helper_bot")
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
	p, err := telegram.New(telegram.Options{BaseURL: f.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

// connected runs Connect and returns the channel as the service would
// store it, with its access.
func connected(t *testing.T, p *telegram.Platform) (palisade.Channel, channel.Access) {
	t.Helper()
	conn, err := p.Connect(t.Context(), channel.Credentials{"bot_token": secret.New(token)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"settings":{"username":%q,"bot_id":%q}}`, conn.Settings["username"], conn.Settings["bot_id"])
	ch := palisade.Channel{ID: palisade.NewChannelID(), WorkspaceID: palisade.NewWorkspaceID(), BotID: palisade.NewBotID(), Kind: "telegram",
		ExternalID: conn.ExternalID, Name: conn.Name, Config: cfg}
	return ch, channel.Access{Channel: ch, Credentials: conn.Credentials, Secret: conn.Secret, WebhookURL: "https://chat.example/hooks/telegram/" + string(ch.BotID)}
}

// noToken fails when err's text carries the bot token or its secret part.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, token[strings.Index(token, ":")+1:]) {
		t.Fatalf("an error carries the bot token: %q", msg)
	}
}

func TestConnectChecksTheTokenAndMakesASecret(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	conn, err := p.Connect(t.Context(), channel.Credentials{"bot_token": secret.New(token)})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Name != "@helper_bot" || conn.ExternalID != "7123456789" || conn.Masked["bot_token"] != "••••efgh" || conn.Settings["username"] != "helper_bot" {
		t.Fatalf("connection = %+v", conn)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", conn, conn, conn), token) {
		t.Fatal("the connection prints the token")
	}
	if len(f.CallsOf("getMe")) != 1 {
		t.Fatalf("getMe calls = %d", len(f.CallsOf("getMe")))
	}
	for name, in := range map[string]channel.Credentials{
		"missing":       {},
		"unknown field": {"bot_token": secret.New(token), "app_secret": secret.New("x")},
		"malformed":     {"bot_token": secret.New("not a token")},
		"leading zero":  {"bot_token": secret.New("0123:AAHabc")},
		"unknown bot":   {"bot_token": secret.New("7999999999:AAHunknownBotTokenUnknownBotToken")},
	} {
		_, err := p.Connect(t.Context(), in)
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeInvalid || !strings.HasPrefix(pe.Field, "credentials.") {
			t.Errorf("%s: %v, want an invalid credentials field", name, err)
		}
		noToken(t, err)
	}
	// Two connections never share a secret token.
	again, _ := p.Connect(t.Context(), channel.Credentials{"bot_token": secret.New(token)})
	if again.Secret.Reveal() == conn.Secret.Reveal() {
		t.Fatal("the secret token is not fresh")
	}
}

func TestSetUpSetsTheWebhookWithItsSecret(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	_, a := connected(t, p)
	if err := p.SetUp(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	wh := f.Bot(token).Webhook
	if wh.URL != a.WebhookURL || len(wh.AllowedUpdates) != 1 || wh.AllowedUpdates[0] != "message" || len(wh.SecretToken) < 32 ||
		strings.Trim(wh.SecretToken, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		t.Fatalf("webhook = %+v", wh)
	}
	// The header Telegram will send passes verification.
	h := http.Header{}
	h.Set(telegram.SecretHeader, wh.SecretToken)
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h}, a.Secret); err != nil {
		t.Fatalf("the secret set at Telegram does not verify: %v", err)
	}
	res, err := p.Test(t.Context(), a)
	if err != nil || !res.OK || !strings.Contains(res.Detail, "@helper_bot") {
		t.Fatalf("Test = %+v, %v", res, err)
	}
	if err := p.TearDown(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if wh := f.Bot(token).Webhook; wh.URL != "" {
		t.Fatalf("webhook after TearDown = %+v", wh)
	}
	if res, _ := p.Test(t.Context(), a); res.OK {
		t.Fatalf("Test after TearDown = %+v", res)
	}
}

func TestSetUpRefusedByTelegramSaysWhy(t *testing.T) {
	t.Parallel()
	strict := channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	strict.AddBot(token, "helper_bot")
	rule, _ := egress.RuleForURL(strict.URL)
	policy, _ := egress.NewPolicy(rule)
	client, _ := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	p, err := telegram.New(telegram.Options{BaseURL: strict.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	_, a := connected(t, p)
	a.WebhookURL = "http://127.0.0.1:8080/hooks/telegram/" + string(a.Channel.BotID)
	err = p.SetUp(t.Context(), a)
	if palisade.ErrorCode(err) != palisade.CodeInvalid || !strings.Contains(palisade.ErrorMessage(err), "HTTPS") {
		t.Fatalf("SetUp with a plain-HTTP URL = %v", err)
	}
	noToken(t, err)
}

func TestVerifyComparesTheSecretHeader(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	_, a := connected(t, p)
	good := secretOf(t, a.Secret)
	for name, c := range map[string]struct {
		values []string
		want   channel.Reason
	}{
		"missing":        {nil, channel.ReasonMissingHeader},
		"empty":          {[]string{""}, channel.ReasonMissingHeader},
		"wrong":          {[]string{"not-the-secret"}, channel.ReasonBadSignature},
		"one byte off":   {[]string{good[:len(good)-1] + string(good[len(good)-1]^1)}, channel.ReasonBadSignature},
		"a prefix":       {[]string{good[:10]}, channel.ReasonBadSignature},
		"twice":          {[]string{good, good}, channel.ReasonMalformedHeader},
		"another case":   {[]string{strings.ToUpper(good)}, channel.ReasonBadSignature},
		"with a newline": {[]string{good + "\n"}, channel.ReasonBadSignature},
	} {
		h := http.Header{}
		for _, v := range c.values {
			h.Add(telegram.SecretHeader, v)
		}
		_, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h}, a.Secret)
		var rj *channel.Rejection
		if !errors.As(err, &rj) || rj.Reason != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	h := http.Header{}
	h.Set(telegram.SecretHeader, good)
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h}, a.Secret); err != nil {
		t.Fatalf("the right secret: %v", err)
	}
}

func secretOf(t *testing.T, v secret.Secret) string {
	t.Helper()
	m, err := channel.DecodeFields(v)
	if err != nil || m["secret_token"] == "" {
		t.Fatalf("the secret is not a secret token: %v", err)
	}
	return m["secret_token"]
}

func TestParseAnswersPrivateChatsAndGroupMentions(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	ch, _ := connected(t, p)
	self := &channeltest.TelegramBot{ID: 7123456789, Username: "helper_bot"}
	other := &channeltest.TelegramBot{ID: 5555, Username: "other_bot"}
	cases := []struct {
		name string
		body string
		want []channel.Message
	}{
		{"private", string(channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")),
			[]channel.Message{{Key: "100000001", UserID: "111111111", Text: "hello", Route: channel.Route{Chat: "111111111"}}}},
		{"group mention", string(channeltest.GroupUpdate(100000002, 77, -1001234567890, 222, "Bo", "where is my parcel?", "@helper_bot", nil)),
			[]channel.Message{{Key: "100000002", UserID: "222", ChatID: "-1001234567890", Text: "where is my parcel?",
				Route: channel.Route{Chat: "-1001234567890", ReplyTo: "77"}}}},
		{"group mention in another case", string(channeltest.GroupUpdate(100000003, 78, -100123, 222, "Bo", "hi", "@Helper_Bot", nil)),
			[]channel.Message{{Key: "100000003", UserID: "222", ChatID: "-100123", Text: "hi", Route: channel.Route{Chat: "-100123", ReplyTo: "78"}}}},
		{"group reply to the bot", string(channeltest.GroupUpdate(100000004, 79, -100123, 222, "Bo", "and tomorrow?", "", self)),
			[]channel.Message{{Key: "100000004", UserID: "222", ChatID: "-100123", Text: "and tomorrow?", Route: channel.Route{Chat: "-100123", ReplyTo: "79"}}}},
		{"group chatter", string(channeltest.GroupUpdate(100000005, 80, -100123, 222, "Bo", "lunch?", "", nil)), nil},
		{"another bot mentioned", string(channeltest.GroupUpdate(100000006, 81, -100123, 222, "Bo", "hi", "@other_bot", nil)), nil},
		{"reply to another bot", string(channeltest.GroupUpdate(100000007, 82, -100123, 222, "Bo", "hi", "", other)), nil},
		{"mention alone", string(channeltest.GroupUpdate(100000008, 83, -100123, 222, "Bo", "", "@helper_bot", nil)), nil},
		// The entity offsets count UTF-16 code units: an emoji before
		// the mention counts two.
		{"mention after an emoji", `{"update_id":100000009,"message":{"message_id":84,"from":{"id":222,"is_bot":false,"first_name":"Bo"},"chat":{"id":-100123,"type":"supergroup","title":"G"},"date":1749416383,"text":"😀 @helper_bot hi","entities":[{"offset":3,"length":11,"type":"mention"}]}}`,
			[]channel.Message{{Key: "100000009", UserID: "222", ChatID: "-100123", Text: "😀  hi", Route: channel.Route{Chat: "-100123", ReplyTo: "84"}}}},
		{"forum topic", `{"update_id":100000010,"message":{"message_id":85,"message_thread_id":12,"is_topic_message":true,"from":{"id":222,"is_bot":false,"first_name":"Bo"},"chat":{"id":-100123,"type":"supergroup","title":"G"},"date":1749416383,"text":"@helper_bot hi","entities":[{"offset":0,"length":11,"type":"mention"}]}}`,
			[]channel.Message{{Key: "100000010", UserID: "222", ChatID: "-100123", Text: "hi", Route: channel.Route{Chat: "-100123", Thread: "12", ReplyTo: "85"}}}},
		{"edited message", `{"update_id":100000011,"edited_message":{"message_id":42,"from":{"id":1,"is_bot":false,"first_name":"A"},"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}`, nil},
		{"photo", `{"update_id":100000012,"message":{"message_id":42,"from":{"id":1,"is_bot":false,"first_name":"A"},"chat":{"id":1,"type":"private"},"date":1,"photo":[]}}`, nil},
		{"from a bot", `{"update_id":100000013,"message":{"message_id":42,"from":{"id":1,"is_bot":true,"first_name":"A"},"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}`, nil},
		{"channel post", `{"update_id":100000014,"channel_post":{"message_id":42,"chat":{"id":-1001,"type":"channel"},"date":1,"text":"x"}}`, nil},
		{"unknown fields", `{"update_id":100000015,"future_field":{"a":1},"message":{"message_id":1,"from":{"id":9,"is_bot":false,"first_name":"A","is_premium":true},"chat":{"id":9,"type":"private"},"date":1,"text":"hi","new_thing":[1]}}`,
			[]channel.Message{{Key: "100000015", UserID: "9", Text: "hi", Route: channel.Route{Chat: "9"}}}},
	}
	for _, c := range cases {
		d, err := p.Parse(channel.Request{Method: http.MethodPost, Body: []byte(c.body)}, ch)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if fmt.Sprint(d.Messages) != fmt.Sprint(c.want) || d.Response.Status != 0 {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, d.Messages, c.want)
		}
	}
}

// Telegram signs nothing: a body changed in transit is only caught when it
// no longer parses, and then nothing is accepted.
func TestParseRefusesWhatIsNotAnUpdate(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	ch, _ := connected(t, p)
	body := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")
	for name, b := range map[string][]byte{
		"last byte dropped": body[:len(body)-1],
		"a quote changed":   []byte(strings.Replace(string(body), `"update_id"`, `'update_id"`, 1)),
		"no update_id":      []byte(`{"message":{"message_id":1,"from":{"id":1,"is_bot":false,"first_name":"A"},"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}`),
		"not JSON":          []byte("update_id=1"),
		"empty":             nil,
		"an array":          []byte(`[{"update_id":1}]`),
	} {
		if _, err := p.Parse(channel.Request{Method: http.MethodPost, Body: b}, ch); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestSplitAtTelegramsLimitInUTF16(t *testing.T) {
	t.Parallel()
	_, p := setup(t)
	para := strings.Repeat("word ", 700) // 3,500 characters
	sentence := strings.Repeat("Short sentence here. ", 300)
	emoji := strings.Repeat("😀", 3000) // 6,000 UTF-16 units
	cases := []struct {
		name  string
		text  string
		parts int
		check func([]string) error
	}{
		{"short", "hello", 1, nil},
		{"blank", "  \n ", 0, nil},
		{"exactly the limit", strings.Repeat("a", 4096), 1, nil},
		{"one over", strings.Repeat("a", 4097), 2, nil},
		{"paragraphs", para + "\n\n" + para, 2, func(ps []string) error {
			if ps[0] != strings.TrimSpace(para) {
				return errors.New("not cut at the paragraph break")
			}
			return nil
		}},
		{"sentences", sentence, 2, func(ps []string) error {
			if !strings.HasSuffix(ps[0], ".") || !strings.HasPrefix(ps[1], "Short") {
				return errors.New("not cut at a sentence end")
			}
			return nil
		}},
		{"emoji count two", emoji, 2, func(ps []string) error {
			if ps[0] != strings.Repeat("😀", 2048) {
				return fmt.Errorf("first part has %d emoji, want 2048", len([]rune(ps[0])))
			}
			return nil
		}},
	}
	for _, c := range cases {
		ps := p.Split(c.text)
		if len(ps) != c.parts {
			t.Errorf("%s: %d parts, want %d", c.name, len(ps), c.parts)
			continue
		}
		var joined strings.Builder
		for _, part := range ps {
			if n := channel.UTF16.Len(part); n > telegram.MaxText || n == 0 {
				t.Errorf("%s: a part of %d UTF-16 units", c.name, n)
			}
			joined.WriteString(strings.Join(strings.Fields(part), ""))
		}
		if joined.String() != strings.Join(strings.Fields(c.text), "") {
			t.Errorf("%s: text lost or added in splitting", c.name)
		}
		if c.check != nil {
			if err := c.check(ps); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}
}

func TestSendClassifiesTelegramsAnswers(t *testing.T) {
	t.Parallel()
	f, p := setup(t)
	_, a := connected(t, p)
	out := channel.Outgoing{Route: channel.Route{Chat: "-100123", Thread: "12", ReplyTo: "85"}, Text: "Your parcel ships today."}
	if err := p.Send(t.Context(), a.Credentials, out); err != nil {
		t.Fatal(err)
	}
	sent := f.Sent()
	if len(sent) != 1 || sent[0].ChatID != -100123 || sent[0].ThreadID != 12 || sent[0].ReplyTo != 85 || sent[0].Text != out.Text || sent[0].ParseMode != "" {
		t.Fatalf("sent = %+v", sent)
	}

	f.Fail(channeltest.TooManyRequests(7))
	err := p.Send(t.Context(), a.Credentials, out)
	var se *channel.SendError
	if !errors.As(err, &se) || se.After != 7*time.Second || se.Final || !se.Answered() {
		t.Fatalf("flood control = %v", err)
	}
	noToken(t, err)

	f.Fail(channeltest.Blocked())
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || !se.Final || se.Status != 403 {
		t.Fatalf("blocked = %v", err)
	}
	noToken(t, err)

	f.SetDown(true)
	err = p.Send(t.Context(), a.Credentials, out)
	if !errors.As(err, &se) || se.Final || se.Status != http.StatusBadGateway || se.After != 0 {
		t.Fatalf("down = %v", err)
	}
	noToken(t, err)
	f.SetDown(false)

	revoked := channel.EncodeFields(map[string]string{"bot_token": "7123456789:AAHrevokedTokenRevokedTokenRevoked0"})
	if err := p.Send(t.Context(), revoked, out); !errors.As(err, &se) || !se.Final {
		t.Fatalf("revoked token = %v", err)
	}
}

// A Bot API server that cannot be reached yields errors that name the
// method, never the URL with its token.
func TestUnreachableServerErrorsCarryNoToken(t *testing.T) {
	t.Parallel()
	rule, _ := egress.RuleForURL("http://127.0.0.1:1")
	policy, _ := egress.NewPolicy(rule)
	client, _ := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	p, err := telegram.New(telegram.Options{BaseURL: "http://127.0.0.1:1", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Connect(t.Context(), channel.Credentials{"bot_token": secret.New(token)})
	if palisade.ErrorCode(err) != palisade.CodeUnavailable {
		t.Fatalf("Connect = %v", err)
	}
	noToken(t, err)
	creds := channel.EncodeFields(map[string]string{"bot_token": token})
	err = p.Send(t.Context(), creds, channel.Outgoing{Route: channel.Route{Chat: "1"}, Text: "x"})
	var se *channel.SendError
	if !errors.As(err, &se) || se.Answered() || se.Final {
		t.Fatalf("Send = %v", err)
	}
	noToken(t, err)
	noToken(t, p.TearDown(t.Context(), channel.Access{Credentials: creds}))
}

// CheckPolicy passes the default policy for the official server and
// refuses a server the policy does not name.
func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	if err := telegram.CheckPolicy(egress.DefaultPolicy(), ""); err != nil {
		t.Fatalf("the default policy refuses the official Bot API: %v", err)
	}
	if err := telegram.CheckPolicy(egress.DefaultPolicy(), "https://bot-api.internal:8081"); err == nil {
		t.Fatal("a self-hosted server outside the policy passed")
	}
	for _, bad := range []string{"ftp://x", "https://user:pw@api.telegram.org", "https://api.telegram.org/?q=1", "not a url"} {
		if _, err := telegram.New(telegram.Options{BaseURL: bad, Client: &egress.Client{}}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
}
