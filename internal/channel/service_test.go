package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

const token = "7123456789:AAHchannelServiceTestToken_abcdefgh"

// recorder is a fake audit.Recorder keeping entries.
type recorder struct {
	mu      sync.Mutex
	entries []audit.Entry
}

var _ audit.Recorder = (*recorder)(nil)

func (r *recorder) Record(_ context.Context, _ palisade.Scope, e audit.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	return nil
}

func (r *recorder) RecordPlatform(ctx context.Context, e audit.Entry) error {
	return r.Record(ctx, palisade.Scope{}, e)
}

func (r *recorder) of(a audit.Action) []audit.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Entry
	for _, e := range r.entries {
		if e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

type env struct {
	s      store.Store
	fake   *channeltest.Telegram
	svc    *channel.Service
	audit  *recorder
	rej    *channel.Rejections
	caller palisade.Caller
	bot    palisade.Bot
	sleeps *[]time.Duration
}

func setup(t *testing.T, o channeltest.TelegramOptions) env {
	t.Helper()
	return setupAt(t, o, "https://chat.example/")
}

func setupAt(t *testing.T, o channeltest.TelegramOptions, publicURL string) env {
	t.Helper()
	sealer := sealtest.NewKeyring(t)
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fake := channeltest.NewTelegram(t, o)
	fake.AddBot(token, "helper_bot")
	rule, _ := egress.RuleForURL(fake.URL)
	policy, _ := egress.NewPolicy(rule)
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := telegram.New(telegram.Options{BaseURL: fake.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rej := channel.NewRejections(rec, nil, time.Now)
	var mu sync.Mutex
	sleeps := &[]time.Duration{}
	svc, err := channel.New(channel.Options{Store: s, Sealer: sealer, ArgsKey: testArgsKey(t), Platforms: []channel.Platform{tg}, PublicURL: publicURL,
		Audit: rec, Rejections: rej, Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			*sleeps = append(*sleeps, d)
			mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	bot, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return env{s: s, fake: fake, svc: svc, audit: rec, rej: rej, caller: palisade.Caller{Scope: scope, Actor: "usr_test"}, bot: bot, sleeps: sleeps}
}

func (e env) connect(t *testing.T) channel.View {
	t.Helper()
	v, err := e.svc.Connect(t.Context(), e.caller, e.bot.ID, "telegram", channel.Credentials{"bot_token": secret.New(token)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e env) deliver(t *testing.T, header string, body []byte) (channel.Receipt, error) {
	t.Helper()
	h := http.Header{}
	if header != "" {
		h.Set(telegram.SecretHeader, header)
	}
	return e.svc.Receive(t.Context(), "telegram", e.bot.ID, channel.Request{Method: http.MethodPost, Header: h, Body: body})
}

func TestConnectSealsAndSetsTheWebhookUp(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	v := e.connect(t)
	if v.Status != channel.StatusActive || v.Kind != "telegram" || v.Name != "@helper_bot" || v.WebhookURL != "https://chat.example/hooks/telegram/"+string(e.bot.ID) ||
		v.Masked["bot_token"] != "••••efgh" || !v.HasCredentials || !v.HasSecret {
		t.Fatalf("view = %+v", v)
	}
	if s := fmt.Sprintf("%+v", v); strings.Contains(s, token) || strings.Contains(s, token[len(token)-8:]) {
		t.Fatalf("the view shows the token: %s", s)
	}
	wh := e.fake.Bot(token).Webhook
	if wh.URL != v.WebhookURL || wh.SecretToken == "" {
		t.Fatalf("webhook = %+v", wh)
	}
	creds, err := e.s.ChannelCredentials(t.Context(), e.caller.Scope, v.ID)
	if err != nil || !strings.Contains(creds.Reveal(), token) {
		t.Fatalf("credentials not sealed as given: %v", err)
	}
	if got := e.audit.of(audit.ActionChannelConnected); len(got) != 1 || got[0].Target != string(v.ID) || got[0].Outcome != audit.OutcomeSuccess ||
		strings.Contains(fmt.Sprint(got[0].Detail), token) {
		t.Fatalf("audit = %+v", got)
	}
	// One channel of a kind per bot.
	_, err = e.svc.Connect(t.Context(), e.caller, e.bot.ID, "telegram", channel.Credentials{"bot_token": secret.New(token)})
	if palisade.ErrorCode(err) != palisade.CodeConflict {
		t.Fatalf("second connect = %v", err)
	}
	// Another workspace's bot is not found; an unknown type is invalid.
	other := palisade.Caller{Scope: palisade.ScopeFor(palisade.NewWorkspaceID()), Actor: "usr_x"}
	if _, err := e.svc.Connect(t.Context(), other, e.bot.ID, "telegram", channel.Credentials{"bot_token": secret.New(token)}); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("connect through another workspace = %v", err)
	}
	if _, err := e.svc.Connect(t.Context(), e.caller, e.bot.ID, "fax", nil); palisade.ErrorCode(err) != palisade.CodeInvalid {
		t.Fatalf("unknown type = %v", err)
	}
	list, err := e.svc.List(t.Context(), e.caller.Scope, e.bot.ID)
	if err != nil || len(list) != 1 || list[0].ID != v.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := e.svc.List(t.Context(), other.Scope, e.bot.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("List from another workspace = %v", err)
	}
	if _, err := e.svc.Get(t.Context(), e.caller.Scope, palisade.NewBotID(), v.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("Get under another bot = %v", err)
	}
}

// A set-up Telegram refuses leaves nothing behind.
func TestConnectKeepsNothingWhenSetUpFails(t *testing.T) {
	t.Parallel()
	// The real server's rules, and a public URL they refuse.
	e := setupAt(t, channeltest.TelegramOptions{}, "http://127.0.0.1:8080")
	_, err := e.svc.Connect(t.Context(), e.caller, e.bot.ID, "telegram", channel.Credentials{"bot_token": secret.New(token)})
	if palisade.ErrorCode(err) != palisade.CodeInvalid || !strings.Contains(palisade.ErrorMessage(err), "HTTPS") {
		t.Fatalf("connect with a URL Telegram refuses = %v", err)
	}
	if list, _ := e.s.ListChannels(t.Context(), e.caller.Scope, e.bot.ID); len(list) != 0 {
		t.Fatalf("a channel was kept: %+v", list)
	}
	if got := e.audit.of(audit.ActionChannelConnected); len(got) != 1 || got[0].Outcome != audit.OutcomeFailure {
		t.Fatalf("audit = %+v", got)
	}
}

func TestReceiveVerifiesThenEnqueuesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	e.connect(t)
	good := e.fake.Bot(token).Webhook.SecretToken
	body := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")
	r, err := e.deliver(t, good, body)
	if err != nil || r.Accepted != 1 || r.Duplicates != 0 || r.Response.Status != 0 {
		t.Fatalf("first delivery = %+v, %v", r, err)
	}
	r, err = e.deliver(t, good, body)
	if err != nil || r.Accepted != 0 || r.Duplicates != 1 {
		t.Fatalf("replay = %+v, %v", r, err)
	}
	if n, err := e.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); err != nil || n != 1 {
		t.Fatalf("inbound jobs = %d, %v", n, err)
	}
	for name, c := range map[string]struct {
		header string
		bot    palisade.BotID
		want   channel.Reason
	}{
		"wrong secret":   {"wrong", e.bot.ID, channel.ReasonBadSignature},
		"missing header": {"", e.bot.ID, channel.ReasonMissingHeader},
		"unknown bot":    {good, palisade.NewBotID(), channel.ReasonUnknownChannel},
	} {
		h := http.Header{}
		if c.header != "" {
			h.Set(telegram.SecretHeader, c.header)
		}
		_, err := e.svc.Receive(t.Context(), "telegram", c.bot, channel.Request{Method: http.MethodPost, Header: h, Body: body})
		var rj *channel.Rejection
		if !errors.As(err, &rj) || rj.Reason != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	// A body that does not parse is refused after verification.
	if _, err := e.deliver(t, good, body[:len(body)-1]); palisade.ErrorCode(err) != palisade.CodeInvalid {
		t.Fatalf("truncated body = %v", err)
	}
	// The refusals of the known channel are audited once per reason and
	// minute, with counts; the unknown bot's is not.
	for range 3 {
		e.deliver(t, "wrong", body)
	}
	e.rej.Flush(t.Context(), true)
	got := e.audit.of(audit.ActionWebhookRejected)
	counts := map[string]string{}
	for _, en := range got {
		if en.Target != string(e.bot.ID) || en.Outcome != audit.OutcomeDenied || en.Detail["channel"] != "telegram" {
			t.Fatalf("rejection entry = %+v", en)
		}
		counts[en.Detail["reason"]] = en.Detail["count"]
	}
	if len(got) != 2 || counts["bad_signature"] != "4" || counts["missing_header"] != "1" {
		t.Fatalf("rejection entries = %+v", got)
	}
	if strings.Contains(fmt.Sprint(got), "hello") {
		t.Fatal("the audit holds payload content")
	}
}

// A channel without a verification secret refuses every delivery.
func TestChannelWithoutSecretRefusesEverything(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	v := e.connect(t)
	if err := e.s.SetChannelSecret(t.Context(), e.caller.Scope, v.ID, secret.Secret{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"", "anything", e.fake.Bot(token).Webhook.SecretToken} {
		_, err := e.deliver(t, h, channeltest.TextUpdate(1, 1, 1, "A", "x"))
		var rj *channel.Rejection
		if !errors.As(err, &rj) || rj.Reason != channel.ReasonNoSecret {
			t.Fatalf("header %q: %v", h, err)
		}
	}
}

func reply(e env, v channel.View, ref, text string) error {
	return e.svc.Reply(context.Background(), e.caller.Scope, job.Reply{BotID: e.bot.ID, Channel: "telegram", ChannelID: v.ID, Ref: ref,
		Route: []byte(`{"chat":"111111111"}`), Text: text})
}

func TestReplySendsEachPartOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	v := e.connect(t)
	long := strings.Repeat("A sentence of the answer. ", 200) // two parts
	if err := reply(e, v, "100000001", long); err != nil {
		t.Fatal(err)
	}
	if sent := e.fake.Sent(); len(sent) != 2 || sent[0].ChatID != 111111111 {
		t.Fatalf("sent = %d messages", len(sent))
	}
	// A retried job sends nothing again.
	if err := reply(e, v, "100000001", long); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Sent()); n != 2 {
		t.Fatalf("a retry sent %d messages in all, want 2", n)
	}
	// A part left pending (the process died inside the call) is sent
	// again: the one possible duplicate.
	if _, err := e.s.BeginReply(t.Context(), e.caller.Scope, store.ReplyPart{BotID: e.bot.ID, Source: "telegram", Ref: "100000002", Part: 0}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := reply(e, v, "100000002", "short"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Sent()); n != 3 {
		t.Fatalf("sent %d messages in all, want 3", n)
	}
}

func TestReplyHonoursRetryAfterAndGivesUpOnFinalRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	v := e.connect(t)
	e.fake.Fail(channeltest.TooManyRequests(2))
	if err := reply(e, v, "1", "hello"); err != nil {
		t.Fatal(err)
	}
	if len(*e.sleeps) != 1 || (*e.sleeps)[0] != 2*time.Second || len(e.fake.Sent()) != 1 {
		t.Fatalf("waited %v, sent %d", *e.sleeps, len(e.fake.Sent()))
	}
	// A wait longer than the inline bound goes back to the job runner.
	e.fake.Fail(channeltest.TooManyRequests(600))
	err := reply(e, v, "2", "hello")
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() != 600*time.Second {
		t.Fatalf("long flood control = %v", err)
	}
	// ...and the part starts clean next time: the platform refused it.
	if err := reply(e, v, "2", "hello"); err != nil || len(e.fake.Sent()) != 2 {
		t.Fatalf("after flood control: %v, sent %d", err, len(e.fake.Sent()))
	}
	e.fake.Fail(channeltest.Blocked())
	if err := reply(e, v, "3", "hello"); palisade.ErrorCode(err) != palisade.CodeForbidden {
		t.Fatalf("blocked = %v", err)
	}
	// A channel that is gone is final too.
	if err := e.svc.Disconnect(t.Context(), e.caller, e.bot.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := reply(e, v, "4", "hello"); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("disconnected = %v", err)
	}
}

func TestDisconnectAndRotate(t *testing.T) {
	t.Parallel()
	e := setup(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	v := e.connect(t)
	old := e.fake.Bot(token).Webhook.SecretToken
	if _, err := e.svc.RotateSecret(t.Context(), e.caller, e.bot.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	fresh := e.fake.Bot(token).Webhook.SecretToken
	if fresh == "" || fresh == old {
		t.Fatal("the secret token was not replaced at Telegram")
	}
	body := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")
	if _, err := e.deliver(t, old, body); err == nil {
		t.Fatal("the old secret still verifies")
	}
	if _, err := e.deliver(t, fresh, body); err != nil {
		t.Fatalf("the new secret does not verify: %v", err)
	}
	if got := e.audit.of(audit.ActionSecretChanged); len(got) != 1 || got[0].Target != string(v.ID) {
		t.Fatalf("audit = %+v", got)
	}
	res, err := e.svc.Test(t.Context(), e.caller, e.bot.ID, v.ID)
	if err != nil || !res.OK {
		t.Fatalf("Test = %+v, %v", res, err)
	}
	if err := e.svc.Disconnect(t.Context(), e.caller, e.bot.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if wh := e.fake.Bot(token).Webhook; wh.URL != "" || len(e.fake.CallsOf("deleteWebhook")) != 1 {
		t.Fatalf("webhook after disconnect = %+v", wh)
	}
	if _, err := e.deliver(t, fresh, body); err == nil {
		t.Fatal("a disconnected channel accepts deliveries")
	}
	if got := e.audit.of(audit.ActionChannelRemoved); len(got) != 1 || got[0].Detail["teardown"] != "done" {
		t.Fatalf("audit = %+v", got)
	}
	// Telegram unreachable: the channel goes anyway.
	v = e.connect(t)
	e.fake.SetDown(true)
	if err := e.svc.Disconnect(t.Context(), e.caller, e.bot.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.audit.of(audit.ActionChannelRemoved); len(got) != 2 || got[1].Detail["teardown"] != "failed" {
		t.Fatalf("audit = %+v", got)
	}
}

// testArgsKey authenticates the arguments of the jobs a delivery makes.
func testArgsKey(t *testing.T) *job.ArgsKey {
	t.Helper()
	k, err := job.NewArgsKey(bytes.Repeat([]byte{0x77}, job.ArgsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
