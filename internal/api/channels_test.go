package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

const tgToken = "7123456789:AAHapiChannelsCanaryToken_ZYXWVUTS"

// channelsEnv is the API over a store with a bot in workspace A, its
// channels connecting to a fake Telegram.
type channelsEnv struct {
	b     bundle
	srv   *httptest.Server
	fake  *channeltest.Telegram
	bot   palisade.Bot
	audit *audit.Logger
}

func setupChannels(t *testing.T) channelsEnv {
	t.Helper()
	b := setup(t)
	fake := channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	fake.AddBot(tgToken, "api_helper_bot")
	rec := audit.New(b.store, audit.Options{})
	a := wire(t, b.store, botConfig{Telegram: fake, Audit: rec})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	t.Cleanup(srv.Close)
	bot, err := b.store.CreateBot(t.Context(), b.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return channelsEnv{b: b, srv: srv, fake: fake, bot: bot, audit: rec}
}

// call sends a request with key and body and returns the status and raw
// body.
func (e channelsEnv) call(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

const connectBody = `{"type":"telegram","credentials":{"bot_token":"` + tgToken + `"}}`

// TestConnectTelegramThroughTheAPI: connecting calls setWebhook at the
// configured Bot API with a fresh secret token, answers with the channel
// id, its webhook URL and status and the token masked; listing, getting,
// testing, rotating and disconnecting work, and the token appears in no
// response nor in the audit log.
func TestConnectTelegramThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setupChannels(t)
	key := e.b.key(t, "channels:write")
	base := "/api/v1/bots/" + string(e.bot.ID) + "/channels"
	var bodies []string

	status, body := e.call(t, http.MethodPost, base, key, connectBody)
	bodies = append(bodies, body)
	if status != http.StatusCreated {
		t.Fatalf("connect = %d %s", status, body)
	}
	var ch struct {
		ID          string            `json:"id"`
		Type        string            `json:"type"`
		Status      string            `json:"status"`
		WebhookURL  string            `json:"webhook_url"`
		Credentials map[string]string `json:"credentials"`
		HasSecret   bool              `json:"has_secret"`
		Name        string            `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &ch); err != nil {
		t.Fatal(err)
	}
	if !palisade.ValidID(palisade.PrefixChannel, ch.ID) || ch.Type != "telegram" || ch.Status != "active" || !ch.HasSecret || ch.Name != "@api_helper_bot" ||
		ch.WebhookURL != "https://chat.example/hooks/telegram/"+string(e.bot.ID) || ch.Credentials["bot_token"] != "••••VUTS" {
		t.Fatalf("channel = %+v", ch)
	}
	calls := e.fake.CallsOf("setWebhook")
	if len(calls) != 1 || calls[0].Params["url"] != ch.WebhookURL {
		t.Fatalf("setWebhook calls = %+v", calls)
	}
	if s, _ := calls[0].Params["secret_token"].(string); len(s) < 32 || strings.Contains(body, s) {
		t.Fatalf("setWebhook secret_token %q, or it was shown", s)
	}

	status, body = e.call(t, http.MethodGet, base, key, "")
	bodies = append(bodies, body)
	if status != http.StatusOK || !strings.Contains(body, ch.ID) {
		t.Fatalf("list = %d %s", status, body)
	}
	status, body = e.call(t, http.MethodGet, base+"/"+ch.ID, key, "")
	bodies = append(bodies, body)
	if status != http.StatusOK || !strings.Contains(body, `"status":"active"`) {
		t.Fatalf("get = %d %s", status, body)
	}
	status, body = e.call(t, http.MethodPost, base+"/"+ch.ID+"/test", key, "")
	bodies = append(bodies, body)
	if status != http.StatusOK || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("test = %d %s", status, body)
	}
	status, body = e.call(t, http.MethodPost, base+"/"+ch.ID+"/secret/rotate", key, "")
	bodies = append(bodies, body)
	if status != http.StatusOK || len(e.fake.CallsOf("setWebhook")) != 2 {
		t.Fatalf("rotate = %d %s", status, body)
	}
	// A second channel of the same type is a conflict.
	status, body = e.call(t, http.MethodPost, base, key, connectBody)
	bodies = append(bodies, body)
	if status != http.StatusConflict {
		t.Fatalf("second connect = %d %s", status, body)
	}
	status, body = e.call(t, http.MethodDelete, base+"/"+ch.ID, key, "")
	bodies = append(bodies, body)
	if status != http.StatusNoContent || len(e.fake.CallsOf("deleteWebhook")) != 1 || e.fake.Bot(tgToken).Webhook.URL != "" {
		t.Fatalf("disconnect = %d %s", status, body)
	}
	if status, _ := e.call(t, http.MethodGet, base+"/"+ch.ID, key, ""); status != http.StatusNotFound {
		t.Fatalf("get after disconnect = %d", status)
	}

	// Refusals, each in the API's shape: bad credentials name their field.
	for _, c := range []struct{ body, field string }{
		{`{"type":"telegram","credentials":{"bot_token":"nope"}}`, "credentials.bot_token"},
		{`{"type":"telegram","credentials":{"bot_token":"7999999999:AAHunknownBotTokenUnknownBotTokenX"}}`, "credentials.bot_token"},
		{`{"type":"telegram","credentials":{}}`, "credentials.bot_token"},
		{`{"type":"fax","credentials":{}}`, "type"},
		{`{"credentials":{"bot_token":"` + tgToken + `"}}`, "type"},
	} {
		status, body := e.call(t, http.MethodPost, base, key, c.body)
		bodies = append(bodies, body)
		if status != http.StatusBadRequest || !strings.Contains(body, `"field":"`+c.field+`"`) {
			t.Errorf("connect %s = %d %s", c.body, status, body)
		}
	}

	entries, err := e.b.store.ListAudit(t.Context(), e.b.scope, store.ListAuditParams{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, en := range entries {
		actions[en.Action]++
		bodies = append(bodies, en.Detail, en.Target)
	}
	if actions[string(audit.ActionChannelConnected)] != 1 || actions[string(audit.ActionChannelRemoved)] != 1 || actions[string(audit.ActionSecretChanged)] != 1 {
		t.Fatalf("audit actions = %v", actions)
	}
	secretPart := tgToken[strings.Index(tgToken, ":")+1:]
	for _, b := range bodies {
		if strings.Contains(b, tgToken) || strings.Contains(b, secretPart) || strings.Contains(b, secretPart[:12]) {
			t.Fatalf("the bot token leaked: %s", b)
		}
	}
}

// TestChannelScopesAndWorkspaces: a channels:read key can see channels
// but not connect, disconnect or rotate one; a key of another workspace
// sees none of them, as if they did not exist, and touches nothing.
func TestChannelScopesAndWorkspaces(t *testing.T) {
	t.Parallel()
	e := setupChannels(t)
	writer, reader := e.b.key(t, "channels:write"), e.b.key(t, "channels:read")
	botsOnly := e.b.key(t, "bots:write")
	base := "/api/v1/bots/" + string(e.bot.ID) + "/channels"
	for _, key := range []string{reader, botsOnly} {
		if status, _ := e.call(t, http.MethodPost, base, key, connectBody); status != http.StatusForbidden {
			t.Fatalf("connect with a key without channels:write = %d", status)
		}
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("a refused connect reached Telegram %d times", n)
	}
	status, body := e.call(t, http.MethodPost, base, writer, connectBody)
	if status != http.StatusCreated {
		t.Fatalf("connect = %d %s", status, body)
	}
	var ch struct{ ID string }
	json.Unmarshal([]byte(body), &ch)
	if status, _ := e.call(t, http.MethodGet, base+"/"+ch.ID, reader, ""); status != http.StatusOK {
		t.Fatalf("get with channels:read = %d", status)
	}
	if status, _ := e.call(t, http.MethodPost, base+"/"+ch.ID+"/test", reader, ""); status != http.StatusOK {
		t.Fatalf("test with channels:read = %d", status)
	}
	for _, m := range []struct{ method, path string }{{http.MethodDelete, base + "/" + ch.ID}, {http.MethodPost, base + "/" + ch.ID + "/secret/rotate"}} {
		if status, _ := e.call(t, m.method, m.path, reader, ""); status != http.StatusForbidden {
			t.Fatalf("%s %s with channels:read = %d", m.method, m.path, status)
		}
	}
	// Workspace B's key.
	other, err := e.b.store.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "B", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ob := e.b
	ob.scope = palisade.ScopeFor(other.ID)
	bKey := ob.key(t, "channels:write")
	for _, m := range []struct{ method, path, body string }{
		{http.MethodGet, base, ""},
		{http.MethodGet, base + "/" + ch.ID, ""},
		{http.MethodPost, base + "/" + ch.ID + "/test", ""},
		{http.MethodPost, base + "/" + ch.ID + "/secret/rotate", ""},
		{http.MethodDelete, base + "/" + ch.ID, ""},
		{http.MethodPost, base, connectBody},
	} {
		if status, body := e.call(t, m.method, m.path, bKey, m.body); status != http.StatusNotFound {
			t.Errorf("workspace B: %s %s = %d %s", m.method, m.path, status, body)
		}
	}
	// B's own bot cannot reach A's channel through its id either.
	bBot, err := e.b.store.CreateBot(t.Context(), ob.scope, palisade.Bot{Name: "B", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := e.call(t, http.MethodGet, "/api/v1/bots/"+string(bBot.ID)+"/channels/"+ch.ID, bKey, ""); status != http.StatusNotFound {
		t.Fatalf("A's channel under B's bot = %d", status)
	}
	if status, _ := e.call(t, http.MethodGet, base+"/"+ch.ID, writer, ""); status != http.StatusOK {
		t.Fatalf("the channel is gone after B's attempts: %d", status)
	}
	if e.fake.Bot(tgToken).Webhook.URL == "" || len(e.fake.CallsOf("deleteWebhook")) != 0 {
		t.Fatal("B's attempts reached Telegram")
	}
}
