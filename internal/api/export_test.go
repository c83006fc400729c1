package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// The export route streams the whole workspace to a key of an owner only,
// with its secrets redacted, nothing of another workspace, each export
// recorded, and no more than the export class's rate.
func TestExportRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := wire(t, b.store, botConfig{Audit: audit.New(b.store, audit.Options{})})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	t.Cleanup(srv.Close)
	ctx := t.Context()
	bot, err := b.store.CreateBot(ctx, b.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	const token = "7012345678:AAH-api-export-canary-token"
	if _, err := b.store.CreateChannel(ctx, b.scope, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Credentials: secret.New(token), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other, err := b.store.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "Other", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.CreateBot(ctx, palisade.ScopeFor(other.ID), palisade.Bot{Name: "bravo-other-bot", Model: "m", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	owner, _ := b.member(t, "owner@example.com", palisade.RoleOwner)
	admin, _ := b.member(t, "admin@example.com", palisade.RoleAdmin)
	ownerKey, adminKey := b.keyBy(t, owner.ID), b.keyBy(t, admin.ID)
	url := srv.URL + "/api/v1/export"

	get := func(key string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(raw)
	}

	if code, _, _ := get(adminKey); code != http.StatusForbidden {
		t.Errorf("an admin's key exported: %d, want 403", code)
	}
	if code, _, _ := get(b.key(t, "bots:read", "audit:read")); code != http.StatusForbidden {
		t.Errorf("a key without workspace:export exported: %d, want 403", code)
	}
	code, h, body := get(ownerKey)
	if code != http.StatusOK {
		t.Fatalf("owner's export: %d %s", code, body)
	}
	if !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") || h.Get("Content-Type") != "application/json" {
		t.Errorf("export headers: %v", h)
	}
	if !strings.Contains(body, string(bot.ID)) || !strings.HasSuffix(body, `"complete":true}`+"\n") {
		t.Errorf("export lacks the bot or its end: %.200s", body)
	}
	for _, leak := range []string{token, "bravo-other-bot", string(other.ID)} {
		if strings.Contains(body, leak) {
			t.Errorf("export contains %q", leak)
		}
	}
	entries, err := b.store.ListAudit(ctx, b.scope, store.ListAuditParams{Action: "export.created"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("export audit entries: %v, %v", entries, err)
	}
	// Two a minute: the second passes, the third is refused.
	if code, _, _ := get(ownerKey); code != http.StatusOK {
		t.Fatalf("second export: %d", code)
	}
	if code, _, body := get(ownerKey); code != http.StatusTooManyRequests {
		t.Fatalf("third export in a minute: %d %s", code, body)
	}
}
