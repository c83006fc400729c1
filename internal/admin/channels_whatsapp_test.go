package admin_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

const (
	uiWAToken     = "EAAGadminChannelsPageWhatsAppToken_QWERTY"
	uiWAAppSecret = "adminPageAppSecret0123456789abcd"
	uiWAVerify    = "adminPageVerifyToken-5678"
	uiWAPhoneID   = "106540352242922"
)

// mountWhatsApp serves the UI with a channel service connecting to a
// fake WhatsApp Cloud API.
func mountWhatsApp(t *testing.T, e *env) *channeltest.WhatsApp {
	t.Helper()
	fake := channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: uiWAAppSecret})
	fake.AddNumber(uiWAPhoneID, "+1 555-078-3881", "Parcel Shop", uiWAToken)
	rule, _ := egress.RuleForURL(fake.URL)
	policy, _ := egress.NewPolicy(rule)
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	wa, err := whatsapp.New(whatsapp.Options{BaseURL: fake.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	chans, err := channel.New(channel.Options{Store: e.store, Sealer: sealtest.NewKeyring(t), ArgsKey: testArgsKey(t), Platforms: []channel.Platform{wa},
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

// TestWhatsAppChannelsPage: an editor connects WhatsApp from the bot's
// channels page with the four values (the phone number is read with the
// token), sees its status with the secrets masked and no rotation button
// (Meta owns the app secret), tests and disconnects it; no secret ever
// appears in a page, even a refused form.
func TestWhatsAppChannelsPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	fake := mountWhatsApp(t, e)
	ws, emails := roleUsers(t, e)
	b, err := e.store.CreateBot(t.Context(), palisade.ScopeFor(ws), palisade.Bot{Name: "Helper", Model: testModels[0], CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	page := "/w/" + string(ws) + "/bots/" + string(b.ID) + "/channels"
	editor := e.browser()
	editor.login(emails["editor"])
	var bodies []string
	form := func(token string) url.Values {
		return url.Values{"type": {"whatsapp"}, "access_token": {token}, "app_secret": {uiWAAppSecret}, "verify_token": {uiWAVerify}, "phone_number_id": {uiWAPhoneID}}
	}

	w := editor.get(page)
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Connect WhatsApp") || !strings.Contains(w.Body.String(), `name="app_secret"`) ||
		strings.Contains(w.Body.String(), "Connect Telegram") {
		t.Fatalf("empty channels page: %d\n%s", w.Code, w.Body.String())
	}
	w = editor.post(page, page, form("EAAGnotKnownToTheFakeGraphAPI_0000"))
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Meta does not accept this access token") ||
		strings.Contains(w.Body.String(), "notKnownToTheFake") {
		t.Fatalf("refused token: %d\n%s", w.Code, w.Body.String())
	}
	w = editor.post(page, page, form(uiWAToken))
	if w.Code != http.StatusSeeOther || location(w) != page {
		t.Fatalf("connect: %d %s", w.Code, w.Body.String())
	}
	if calls := fake.Calls(); len(calls) != 2 || !calls[1].Authorized {
		t.Fatalf("Graph API calls = %+v", calls)
	}
	w = editor.get(page)
	body := w.Body.String()
	bodies = append(bodies, body)
	if !strings.Contains(body, "555-078-3881") || !strings.Contains(body, "active") || !strings.Contains(body, "access_token ••••ERTY") ||
		!strings.Contains(body, "https://chat.example/hooks/whatsapp/"+string(b.ID)) || strings.Contains(body, "Connect WhatsApp") ||
		strings.Contains(body, "New webhook secret") {
		t.Fatalf("connected channels page:\n%s", body)
	}
	chID := between(body, "/channels/", "/test")
	if !palisade.ValidID(palisade.PrefixChannel, chID) {
		t.Fatalf("no channel id on the page: %q", chID)
	}
	w = editor.post(page, page+"/"+chID+"/test", nil)
	bodies = append(bodies, w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "555-078-3881 (Parcel Shop)") {
		t.Fatalf("test: %d\n%s", w.Code, w.Body.String())
	}
	if w := editor.post(page, page+"/"+chID+"/delete", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("disconnect: %d", w.Code)
	}
	w = editor.get(page)
	bodies = append(bodies, w.Body.String())
	if !strings.Contains(w.Body.String(), "Connect WhatsApp") {
		t.Fatal("the form is not back after disconnecting")
	}
	for _, b := range bodies {
		for _, s := range []string{uiWAToken, uiWAAppSecret, uiWAVerify} {
			if strings.Contains(b, s) {
				t.Fatalf("a page shows a secret:\n%s", b)
			}
		}
	}
}
