package admin_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

const uiToken = "7123456789:AAHadminChannelsPageToken_QWERTYUI"

// mountChannels serves the UI with a channel service connecting to a
// fake Telegram.
func mountChannels(t *testing.T, e *env) *channeltest.Telegram {
	t.Helper()
	fake := channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	fake.AddBot(uiToken, "ui_helper_bot")
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
	chans, err := channel.New(channel.Options{Store: e.store, Sealer: sealtest.NewKeyring(t), ArgsKey: testArgsKey(t), Platforms: []channel.Platform{tg},
		PublicURL: "https://chat.example", Audit: e.audit, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	bots, err := bot.New(bot.Options{Store: e.store, Knowledge: &knowledge.Service{Store: e.store, Now: e.clock.Now}, Models: testModels,
		Audit: e.audit, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := admin.New(admin.Options{Account: e.svc, Bots: bots, Audit: audit.NewHistory(e.store), Channels: chans,
		Limiter: e.limiter, Limits: e.limits})
	if err != nil {
		t.Fatal(err)
	}
	e.h = httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.DiscardHandler), Format: httpx.FormatHTML}, ui.Handler())
	return fake
}

// TestChannelsPage: an editor connects a Telegram bot with its token from
// the bot's channels page (setWebhook is called with a secret), sees its
// status and the token masked, tests it and disconnects it; a viewer sees
// the channel and may test it but has no form and is refused the
// changes; the token never appears in a page, even a refused form.
func TestChannelsPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	fake := mountChannels(t, e)
	ws, emails := roleUsers(t, e)
	b, err := e.store.CreateBot(t.Context(), palisade.ScopeFor(ws), palisade.Bot{Name: "Helper", Model: testModels[0], CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	page := "/w/" + string(ws) + "/bots/" + string(b.ID) + "/channels"
	editor := e.browser()
	editor.login(emails["editor"])
	var bodies []string

	w := editor.get(page)
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Connect Telegram") || !strings.Contains(w.Body.String(), `name="bot_token"`) {
		t.Fatalf("empty channels page: %d\n%s", w.Code, w.Body.String())
	}
	// A refused token comes back with the error, not with the token.
	w = editor.post(page, page, url.Values{"bot_token": {"7999999999:AAHnotKnownToTheFakeTelegram_12345"}})
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Telegram does not accept this bot token") ||
		strings.Contains(w.Body.String(), "notKnownToTheFake") {
		t.Fatalf("refused token: %d\n%s", w.Code, w.Body.String())
	}
	w = editor.post(page, page, url.Values{"bot_token": {uiToken}})
	if w.Code != http.StatusSeeOther || location(w) != page {
		t.Fatalf("connect: %d %s", w.Code, w.Body.String())
	}
	if wh := fake.Bot(uiToken).Webhook; wh.URL != "https://chat.example/hooks/telegram/"+string(b.ID) || wh.SecretToken == "" {
		t.Fatalf("webhook = %+v", wh)
	}
	w = editor.get(page)
	body := w.Body.String()
	bodies = append(bodies, body)
	if !strings.Contains(body, "@ui_helper_bot") || !strings.Contains(body, "active") || !strings.Contains(body, "••••TYUI") ||
		strings.Contains(body, "Connect Telegram") {
		t.Fatalf("connected channels page:\n%s", body)
	}
	chID := between(body, "/channels/", "/test")
	if !palisade.ValidID(palisade.PrefixChannel, chID) {
		t.Fatalf("no channel id on the page: %q", chID)
	}

	viewer := e.browser()
	viewer.login(emails["viewer"])
	w = viewer.get(page)
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "@ui_helper_bot") || strings.Contains(w.Body.String(), "Disconnect") {
		t.Fatalf("viewer's page: %d\n%s", w.Code, w.Body.String())
	}
	w = viewer.post(page, page+"/"+chID+"/test", nil)
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Test: Connected as @ui_helper_bot") {
		t.Fatalf("viewer's test: %d\n%s", w.Code, w.Body.String())
	}
	for _, path := range []string{page, page + "/" + chID + "/delete", page + "/" + chID + "/rotate"} {
		if w := viewer.post(page, path, url.Values{"bot_token": {uiToken}}); w.Code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d", path, w.Code)
		}
	}

	if w := editor.post(page, page+"/"+chID+"/rotate", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("rotate: %d", w.Code)
	}
	if w := editor.post(page, page+"/"+chID+"/delete", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("disconnect: %d", w.Code)
	}
	if fake.Bot(uiToken).Webhook.URL != "" {
		t.Fatal("the webhook is still set after disconnecting")
	}
	w = editor.get(page)
	bodies = append(bodies, w.Body.String())
	if !strings.Contains(w.Body.String(), "No channel is connected yet.") {
		t.Fatalf("after disconnect:\n%s", w.Body.String())
	}
	secretPart := uiToken[strings.Index(uiToken, ":")+1:]
	for _, b := range bodies {
		if strings.Contains(b, uiToken) || strings.Contains(b, secretPart[:12]) {
			t.Fatal("a page shows the bot token")
		}
	}
	if !e.audit.has(audit.ActionChannelConnected, audit.OutcomeSuccess) || !e.audit.has(audit.ActionChannelRemoved, audit.OutcomeSuccess) {
		t.Fatal("the changes were not audited")
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
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
