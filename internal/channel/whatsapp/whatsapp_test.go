package whatsapp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	token       = "EAAGwhatsappAdapterTestAccessToken_0123456789"
	appSecret   = "TEST_APP_SECRET"
	verifyToken = "verify-token-for-the-adapter-test"
	phoneID     = "106540352242922"
	// The fixture of protocols.md §2.6 and its signature.
	fixture          = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}`
	fixtureSignature = "sha256=964f50820adcc03228037724153dd41dcd72d72113a4659d63916721028e0c23"
)

// fixtureTime is when the fixture's message was sent.
var fixtureTime = time.Unix(1749416383, 0)

func creds() channel.Credentials {
	return channel.Credentials{"access_token": secret.New(token), "app_secret": secret.New(appSecret), "verify_token": secret.New(verifyToken),
		"phone_number_id": secret.New(phoneID)}
}

// setup starts a fake WhatsApp with one number and an adapter pointed at
// it through an egress client that allows only the fake, its clock at
// now.
func setup(t *testing.T, now time.Time) (*channeltest.WhatsApp, *whatsapp.Platform) {
	t.Helper()
	f := channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: appSecret})
	f.AddNumber(phoneID, "+1 555-078-3881", "Parcel Shop", token)
	return f, adapter(t, f.URL, now)
}

func adapter(t *testing.T, base string, now time.Time) *whatsapp.Platform {
	t.Helper()
	rule, err := egress.RuleForURL(base)
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
	p, err := whatsapp.New(whatsapp.Options{BaseURL: base, Client: client, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// connected runs Connect and returns the channel as the service would
// store it, with its access.
func connected(t *testing.T, p *whatsapp.Platform) (palisade.Channel, channel.Access) {
	t.Helper()
	conn, err := p.Connect(t.Context(), creds())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"settings":{"phone_number_id":%q}}`, conn.Settings["phone_number_id"])
	ch := palisade.Channel{ID: palisade.NewChannelID(), WorkspaceID: palisade.NewWorkspaceID(), BotID: palisade.NewBotID(), Kind: "whatsapp",
		ExternalID: conn.ExternalID, Name: conn.Name, Config: cfg}
	return ch, channel.Access{Channel: ch, Credentials: conn.Credentials, Secret: conn.Secret, WebhookURL: "https://chat.example/hooks/whatsapp/" + string(ch.BotID)}
}

// noSecret fails when err's text carries a credential.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{token, appSecret, verifyToken} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("an error carries a credential: %q", err.Error())
		}
	}
}

func rejection(err error) channel.Reason {
	var rj *channel.Rejection
	if errors.As(err, &rj) {
		return rj.Reason
	}
	return ""
}

// TestTheVectorsVerify: protocols.md §2.6's vectors pass VerifySignature,
// and the adapter's Sign reproduces them.
func TestTheVectorsVerify(t *testing.T) {
	t.Parallel()
	sec := secret.New(appSecret)
	for body, sig := range map[string]string{
		"test":  "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
		fixture: fixtureSignature,
	} {
		if err := whatsapp.VerifySignature([]string{sig}, []byte(body), sec); err != nil {
			t.Errorf("vector for %.20q: %v", body, err)
		}
		if got := whatsapp.Sign(sec, []byte(body)); got != sig {
			t.Errorf("Sign(%.20q) = %s", body, got)
		}
	}
}

func TestConnectReadsThePhoneNumber(t *testing.T) {
	t.Parallel()
	f, p := setup(t, fixtureTime)
	conn, err := p.Connect(t.Context(), creds())
	if err != nil {
		t.Fatal(err)
	}
	if conn.Name != "+1 555-078-3881" || conn.ExternalID != phoneID || conn.Masked["access_token"] != "••••6789" || conn.Masked["phone_number_id"] != phoneID ||
		conn.Masked["app_secret"] != "••••" || conn.Settings["phone_number_id"] != phoneID {
		t.Fatalf("connection = %+v", conn)
	}
	printed := fmt.Sprintf("%v %+v %#v", conn, conn, conn)
	for _, s := range []string{token, appSecret, verifyToken} {
		if strings.Contains(printed, s) {
			t.Fatal("the connection prints a credential")
		}
	}
	if calls := f.Calls(); len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].Path != "/"+phoneID || !calls[0].Authorized {
		t.Fatalf("calls = %+v", calls)
	}
	// The access token is sealed as the credentials, the app secret and
	// verify token as the verification secret.
	c, _ := channel.DecodeFields(conn.Credentials)
	s, _ := channel.DecodeFields(conn.Secret)
	if c["access_token"] != token || c["phone_number_id"] != phoneID || c["app_secret"] != "" || s["app_secret"] != appSecret || s["verify_token"] != verifyToken || s["access_token"] != "" {
		t.Fatalf("sealed values are not split as expected")
	}
	with := func(k, v string) channel.Credentials {
		c := creds()
		if v == "" {
			delete(c, k)
		} else {
			c[k] = secret.New(v)
		}
		return c
	}
	for name, c := range map[string]struct {
		in    channel.Credentials
		field string
	}{
		"no access token":       {with("access_token", ""), "access_token"},
		"no app secret":         {with("app_secret", ""), "app_secret"},
		"no verify token":       {with("verify_token", ""), "verify_token"},
		"no phone number id":    {with("phone_number_id", ""), "phone_number_id"},
		"unknown field":         {with("bot_token", "x"), "bot_token"},
		"phone id not digits":   {with("phone_number_id", "../me"), "phone_number_id"},
		"token with a space":    {with("access_token", "EAAG token with spaces 0123"), "access_token"},
		"short verify token":    {with("verify_token", "abc"), "verify_token"},
		"wrong access token":    {with("access_token", "EAAGwrongAccessTokenWrongAccessToken"), "access_token"},
		"another phone number":  {with("phone_number_id", "999999999"), "phone_number_id"},
		"app secret with space": {with("app_secret", "has a space in it"), "app_secret"},
	} {
		_, err := p.Connect(t.Context(), c.in)
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeInvalid || pe.Field != "credentials."+c.field {
			t.Errorf("%s: %v, want an invalid credentials.%s", name, err, c.field)
		}
		noSecret(t, err)
	}
}

func TestSetUpTestAndRotation(t *testing.T) {
	t.Parallel()
	f, p := setup(t, fixtureTime)
	_, a := connected(t, p)
	n := len(f.Calls())
	if err := p.SetUp(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := p.TearDown(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if len(f.Calls()) != n {
		t.Fatal("SetUp or TearDown called the Graph API")
	}
	if _, err := p.NewSecret(a); !errors.Is(err, channel.ErrCannotRotate) {
		t.Fatalf("NewSecret = %v", err)
	}
	res, err := p.Test(t.Context(), a)
	if err != nil || !res.OK || !strings.Contains(res.Detail, "+1 555-078-3881") || !strings.Contains(res.Detail, a.WebhookURL) {
		t.Fatalf("Test = %+v, %v", res, err)
	}
	f.AddNumber(phoneID, "+1 555-078-3881", "Parcel Shop", "EAAGrotatedTokenRotatedToken0000")
	if res, err := p.Test(t.Context(), a); err != nil || res.OK || !strings.Contains(res.Detail, "access token") {
		t.Fatalf("Test with a revoked token = %+v, %v", res, err)
	}
}

func TestVerifyChecksTheSignatureOverTheRawBody(t *testing.T) {
	t.Parallel()
	_, p := setup(t, fixtureTime)
	_, a := connected(t, p)
	body := []byte(fixture)
	changed := []byte(strings.Replace(fixture, "color?", "colour", 1))
	changed = changed[:len(body)]
	oneByte := append([]byte(nil), body...)
	oneByte[len(oneByte)-3] ^= 1
	for name, c := range map[string]struct {
		values []string
		body   []byte
		want   channel.Reason
	}{
		"missing":            {nil, body, channel.ReasonMissingHeader},
		"empty":              {[]string{""}, body, channel.ReasonMissingHeader},
		"twice":              {[]string{fixtureSignature, fixtureSignature}, body, channel.ReasonMalformedHeader},
		"no prefix":          {[]string{strings.TrimPrefix(fixtureSignature, "sha256=")}, body, channel.ReasonMalformedHeader},
		"sha1":               {[]string{"sha1=" + strings.TrimPrefix(fixtureSignature, "sha256=")}, body, channel.ReasonMalformedHeader},
		"not hex":            {[]string{"sha256=" + strings.Repeat("z", 64)}, body, channel.ReasonMalformedHeader},
		"short":              {[]string{fixtureSignature[:len(fixtureSignature)-2]}, body, channel.ReasonMalformedHeader},
		"wrong":              {[]string{"sha256=" + strings.Repeat("0", 64)}, body, channel.ReasonBadSignature},
		"one byte changed":   {[]string{fixtureSignature}, oneByte, channel.ReasonBadSignature},
		"body edited":        {[]string{fixtureSignature}, changed, channel.ReasonBadSignature},
		"trailing newline":   {[]string{fixtureSignature}, append(append([]byte(nil), body...), '\n'), channel.ReasonBadSignature},
		"signed as re-coded": {[]string{fixtureSignature}, []byte(strings.ReplaceAll(fixture, `":"`, `": "`)), channel.ReasonBadSignature},
	} {
		h := http.Header{}
		for _, v := range c.values {
			h.Add(whatsapp.SignatureHeader, v)
		}
		_, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: c.body}, a.Secret)
		if got := rejection(err); got != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	h := http.Header{}
	h.Set(whatsapp.SignatureHeader, fixtureSignature)
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: body}, a.Secret); err != nil {
		t.Fatalf("the vector: %v", err)
	}
	// Upper-case hex is the same signature.
	h.Set(whatsapp.SignatureHeader, "sha256="+strings.ToUpper(strings.TrimPrefix(fixtureSignature, "sha256=")))
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: body}, a.Secret); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
	// A secret that is not the channel's refuses everything.
	if _, err := p.Verify(channel.Request{Method: http.MethodPost, Header: h, Body: body}, secret.New("garbage")); rejection(err) != channel.ReasonNoSecret {
		t.Fatalf("unreadable secret: %v", err)
	}
}

func TestVerifyAndAnswerTheChallenge(t *testing.T) {
	t.Parallel()
	_, p := setup(t, fixtureTime)
	ch, a := connected(t, p)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for name, c := range map[string]struct {
		query url.Values
		want  channel.Reason
	}{
		"wrong token":      {q("hub.mode", "subscribe", "hub.challenge", "1158201444", "hub.verify_token", "not-the-token"), channel.ReasonBadSignature},
		"token one off":    {q("hub.mode", "subscribe", "hub.challenge", "1158201444", "hub.verify_token", verifyToken+"x"), channel.ReasonBadSignature},
		"token prefix":     {q("hub.mode", "subscribe", "hub.challenge", "1158201444", "hub.verify_token", verifyToken[:10]), channel.ReasonBadSignature},
		"no token":         {q("hub.mode", "subscribe", "hub.challenge", "1158201444"), channel.ReasonMissingHeader},
		"not subscribe":    {q("hub.mode", "unsubscribe", "hub.challenge", "1158201444", "hub.verify_token", verifyToken), channel.ReasonMalformedHeader},
		"no mode":          {q("hub.challenge", "1158201444", "hub.verify_token", verifyToken), channel.ReasonMalformedHeader},
		"no challenge":     {q("hub.mode", "subscribe", "hub.verify_token", verifyToken), channel.ReasonMalformedHeader},
		"token twice":      {q("hub.mode", "subscribe", "hub.challenge", "1", "hub.verify_token", verifyToken, "hub.verify_token", verifyToken), channel.ReasonMalformedHeader},
		"app secret given": {q("hub.mode", "subscribe", "hub.challenge", "1", "hub.verify_token", appSecret), channel.ReasonBadSignature},
	} {
		_, err := p.Verify(channel.Request{Method: http.MethodGet, Query: c.query}, a.Secret)
		if got := rejection(err); got != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	good := q("hub.mode", "subscribe", "hub.challenge", "1158201444", "hub.verify_token", verifyToken)
	r := channel.Request{Method: http.MethodGet, Query: good}
	if _, err := p.Verify(r, a.Secret); err != nil {
		t.Fatal(err)
	}
	d, err := p.Parse(r, ch)
	if err != nil || d.Response.Status != 200 || string(d.Response.Body) != "1158201444" || !strings.HasPrefix(d.Response.ContentType, "text/plain") || len(d.Messages) != 0 {
		t.Fatalf("challenge answer = %+v, %v", d, err)
	}
	for _, bad := range []string{"<script>", strings.Repeat("1", 200), "a b"} {
		good.Set("hub.challenge", bad)
		if _, err := p.Parse(channel.Request{Method: http.MethodGet, Query: good}, ch); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("challenge %q echoed: %v", bad, err)
		}
	}
}

func TestParseAnswersTextMessagesToTheNumber(t *testing.T) {
	t.Parallel()
	_, p := setup(t, fixtureTime.Add(time.Minute))
	ch, _ := connected(t, p)
	text := func(id, from, body string, at time.Time) string {
		return string(channeltest.WhatsAppTextPayload(channeltest.WhatsAppText{WABAID: "102290129340398", PhoneNumberID: phoneID, Display: "15550783881",
			From: from, Name: "N", ID: id, Timestamp: at, Text: body}))
	}
	wamid := "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
	sheena := channel.Message{Key: wamid, UserID: "16505551234", Text: "Does it come in another color?", Route: channel.Route{Chat: "16505551234"}}
	batch := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"106540352242922"},"messages":[` +
		`{"from":"111","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"first"}},` +
		`{"from":"222","id":"wamid.B","timestamp":"1749416384","type":"image","image":{"id":"1","mime_type":"image/jpeg"}},` +
		`{"from":"333","id":"wamid.C","timestamp":"1749416385","type":"text","text":{"body":"third"}},` +
		`{"from":"111","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"first"}}]},"field":"messages"}]},` +
		`{"id":"2","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"106540352242922"},"messages":[` +
		`{"from":"444","id":"wamid.D","timestamp":"1749416386","type":"text","text":{"body":"other entry"}}]},"field":"messages"}]}]}`
	cases := []struct {
		name string
		body string
		want []channel.Message
	}{
		{"the fixture", fixture, []channel.Message{sheena}},
		{"escaped as Meta sends it", text("wamid.E", "16505551234", "Grüße @ 50% </b>", fixtureTime),
			[]channel.Message{{Key: "wamid.E", UserID: "16505551234", Text: "Grüße @ 50% </b>", Route: channel.Route{Chat: "16505551234"}}}},
		{"a batch", batch, []channel.Message{
			{Key: "wamid.A", UserID: "111", Text: "first", Route: channel.Route{Chat: "111"}},
			{Key: "wamid.C", UserID: "333", Text: "third", Route: channel.Route{Chat: "333"}},
			{Key: "wamid.D", UserID: "444", Text: "other entry", Route: channel.Route{Chat: "444"}}}},
		{"a status callback", string(channeltest.WhatsAppStatusPayload("1", phoneID, "1", "wamid.X", "16505551234", "read", fixtureTime)), nil},
		{"another phone number", strings.Replace(fixture, `"phone_number_id":"106540352242922"`, `"phone_number_id":"999"`, 1), nil},
		{"another field", strings.Replace(fixture, `"field":"messages"`, `"field":"account_update"`, 1), nil},
		{"too old", text("wamid.F", "1", "hi", fixtureTime.Add(-25*time.Hour)), nil},
		{"group message", strings.Replace(fixture, `"type":"text"`, `"group_id":"G1","type":"text"`, 1), nil},
		{"blank text", text("wamid.G", "1", "  ", fixtureTime), nil},
		{"sender not a wa_id", text("wamid.H", "+1 555", "hi", fixtureTime), nil},
		{"no entries", `{"object":"whatsapp_business_account","entry":[]}`, nil},
		{"unknown fields", strings.Replace(fixture, `"type":"text"`, `"type":"text","future":{"x":[1]}`, 1), []channel.Message{sheena}},
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
	for name, b := range map[string]string{
		"not JSON":       "object=whatsapp_business_account",
		"truncated":      fixture[:len(fixture)-1],
		"another object": strings.Replace(fixture, "whatsapp_business_account", "page", 1),
		"an array":       "[" + fixture + "]",
		"ids as numbers": strings.Replace(fixture, `"timestamp":"1749416383"`, `"timestamp":1749416383`, 1),
		"empty":          "",
	} {
		if _, err := p.Parse(channel.Request{Method: http.MethodPost, Body: []byte(b)}, ch); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestSplitAtTheTextLimit(t *testing.T) {
	t.Parallel()
	_, p := setup(t, fixtureTime)
	para := strings.Repeat("wörd ", 700) // 3,500 characters
	for _, c := range []struct {
		text  string
		parts int
	}{
		{"hello", 1},
		{" \n", 0},
		{strings.Repeat("ä", 4096), 1},
		{strings.Repeat("ä", 4097), 2},
		{strings.Repeat("😀", 4096), 1},
		{para + "\n\n" + para, 2},
	} {
		ps := p.Split(c.text)
		if len(ps) != c.parts {
			t.Errorf("%d characters: %d parts, want %d", len([]rune(c.text)), len(ps), c.parts)
		}
		for _, part := range ps {
			if n := len([]rune(part)); n > whatsapp.MaxText || n == 0 {
				t.Errorf("a part of %d characters", n)
			}
		}
	}
}

func TestSendClassifiesMetasAnswers(t *testing.T) {
	t.Parallel()
	f, p := setup(t, fixtureTime)
	_, a := connected(t, p)
	out := channel.Outgoing{Route: channel.Route{Chat: "16505551234"}, Text: "It comes in blue. See https://shop.example/blue"}
	if err := p.Send(t.Context(), a.Credentials, out); err != nil {
		t.Fatal(err)
	}
	sent := f.Sent()
	if len(sent) != 1 || sent[0].To != "16505551234" || sent[0].Text != out.Text || sent[0].PhoneNumberID != phoneID || sent[0].PreviewURL || sent[0].RecipientType != "individual" {
		t.Fatalf("sent = %+v", sent)
	}
	var se *channel.SendError
	f.Fail(channeltest.WhatsAppRateLimited(7))
	err := p.Send(t.Context(), a.Credentials, out)
	if !errors.As(err, &se) || se.After != 7*time.Second || se.Final || !se.Answered() || se.Code != "130429" {
		t.Fatalf("throughput limit = %v", err)
	}
	noSecret(t, err)
	f.Fail(channeltest.WhatsAppRateLimited(0))
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || se.After != time.Second || se.Final {
		t.Fatalf("throughput limit without Retry-After = %v", err)
	}
	f.Fail(channeltest.WhatsAppPairRateLimited())
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || se.After != 6*time.Second || se.Final || se.Status != 400 {
		t.Fatalf("pair rate limit = %v", err)
	}
	f.Fail(channeltest.WhatsAppWindowClosed())
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || !se.Final || se.Code != "131047" {
		t.Fatalf("window closed = %v", err)
	}
	f.Fail(channeltest.WhatsAppFailure{Status: 500, Code: 131000, Type: "OAuthException", Message: "(#131000) Something went wrong"})
	if err := p.Send(t.Context(), a.Credentials, out); !errors.As(err, &se) || se.Final || se.After != 0 {
		t.Fatalf("something went wrong = %v", err)
	}
	f.SetDown(true)
	err = p.Send(t.Context(), a.Credentials, out)
	if !errors.As(err, &se) || se.Final || se.Status != http.StatusBadGateway || se.After != 0 {
		t.Fatalf("down = %v", err)
	}
	noSecret(t, err)
	f.SetDown(false)
	revoked := channel.EncodeFields(map[string]string{"access_token": "EAAGrevokedRevokedRevoked000000", "phone_number_id": phoneID})
	if err := p.Send(t.Context(), revoked, out); !errors.As(err, &se) || !se.Final || se.Code != "token_rejected" {
		t.Fatalf("revoked token = %v", err)
	}
	if err := p.Send(t.Context(), a.Credentials, channel.Outgoing{Route: channel.Route{Chat: "../me"}, Text: "x"}); !errors.As(err, &se) || !se.Final {
		t.Fatalf("bad route = %v", err)
	}
	if n := len(f.Sent()); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}
}

// An unreachable Graph API yields errors that carry no credential.
func TestUnreachableErrorsCarryNoSecret(t *testing.T) {
	t.Parallel()
	p := adapter(t, "http://127.0.0.1:1/v26.0", fixtureTime)
	_, err := p.Connect(t.Context(), creds())
	if palisade.ErrorCode(err) != palisade.CodeUnavailable {
		t.Fatalf("Connect = %v", err)
	}
	noSecret(t, err)
	c := channel.EncodeFields(map[string]string{"access_token": token, "phone_number_id": phoneID})
	err = p.Send(t.Context(), c, channel.Outgoing{Route: channel.Route{Chat: "1"}, Text: "x"})
	var se *channel.SendError
	if !errors.As(err, &se) || se.Answered() || se.Final {
		t.Fatalf("Send = %v", err)
	}
	noSecret(t, err)
}

// CheckPolicy passes the default policy for the official Graph API and
// refuses a URL the policy does not name.
func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	if err := whatsapp.CheckPolicy(egress.DefaultPolicy(), ""); err != nil {
		t.Fatalf("the default policy refuses the official Graph API: %v", err)
	}
	if err := whatsapp.CheckPolicy(egress.DefaultPolicy(), whatsapp.DefaultBaseURL); err != nil {
		t.Fatal(err)
	}
	for _, outside := range []string{"https://graph.internal/v26.0", "https://graph.facebook.com"} {
		if err := whatsapp.CheckPolicy(egress.DefaultPolicy(), outside); err == nil {
			t.Errorf("%s passed", outside)
		}
	}
	for _, bad := range []string{"ftp://x", "https://user:pw@graph.facebook.com/v26.0", "https://graph.facebook.com/v26.0?q=1", "not a url"} {
		if _, err := whatsapp.New(whatsapp.Options{BaseURL: bad, Client: &egress.Client{}}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
}
