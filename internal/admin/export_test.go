package admin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Only an owner sees and uses the workspace export; it downloads the
// workspace as JSON and is recorded.
func TestWorkspaceExportPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	_, ws := e.owner("owner@example.com")
	e.member(ws.ID, "admin@example.com", palisade.RoleAdmin)
	settings := "/w/" + string(ws.ID) + "/settings"

	ob := e.browser()
	ob.login("owner@example.com")
	if !strings.Contains(ob.get(settings).Body.String(), "Download the export") {
		t.Fatal("the owner's settings page offers no export")
	}
	w := ob.post(settings, settings+"/export", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") {
		t.Fatalf("owner's export: %d %v %.300s", w.Code, w.Header(), w.Body.String())
	}
	var doc struct {
		Format   string `json:"format"`
		Complete bool   `json:"complete"`
		Members  []struct {
			Email string `json:"email"`
		} `json:"members"`
		Tables map[string][]map[string]any `json:"tables"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if doc.Format != "palisade.workspace-export" || !doc.Complete || len(doc.Members) != 2 || len(doc.Tables["memberships"]) != 2 {
		t.Fatalf("export: %+v", doc)
	}
	if !e.audit.has(audit.ActionExportCreated, audit.OutcomeSuccess) {
		t.Error("the export was not recorded")
	}

	ab := e.browser()
	ab.login("admin@example.com")
	if strings.Contains(ab.get(settings).Body.String(), "Download the export") {
		t.Error("an admin's settings page offers the export")
	}
	if w := ab.post(settings, settings+"/export", nil); w.Code != http.StatusForbidden {
		t.Errorf("an admin's export: %d, want 403", w.Code)
	}
}

// A user downloads their own data, without any secret of their account.
func TestAccountExport(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	u, ws := e.owner("me@example.com")
	b := e.browser()
	b.login("me@example.com")
	if !strings.Contains(b.get("/account").Body.String(), "Download my data") {
		t.Fatal("the account page offers no export")
	}
	w := b.post("/account", "/account/export", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("account export: %d %.300s", w.Code, w.Body.String())
	}
	body := w.Body.String()
	var doc struct {
		Format  string `json:"format"`
		Account struct {
			ID, Email string
		} `json:"account"`
		Memberships []struct {
			WorkspaceID string `json:"workspace_id"`
		} `json:"memberships"`
		Sessions []map[string]any `json:"sessions"`
		Complete bool             `json:"complete"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if doc.Format != "palisade.account-export" || !doc.Complete || doc.Account.ID != string(u.ID) || doc.Account.Email != "me@example.com" ||
		len(doc.Memberships) != 1 || doc.Memberships[0].WorkspaceID != string(ws.ID) || len(doc.Sessions) != 1 {
		t.Fatalf("account export: %s", body)
	}
	for _, leak := range []string{"$argon2id", u.PasswordHash, "token_hash", "recovery"} {
		if leak != "" && strings.Contains(body, leak) {
			t.Errorf("account export contains %q", leak)
		}
	}
	if !e.audit.has(audit.ActionExportCreated, audit.OutcomeSuccess) {
		t.Error("the account export was not recorded")
	}
}

// Exports have their own rate: the third in a minute is refused.
func TestExportRateLimited(t *testing.T) {
	t.Parallel()
	limits := ratelimit.Defaults()
	for _, c := range ratelimit.Classes() {
		if c != ratelimit.ClassExport {
			p := limits[c]
			p.Limit = 10_000
			limits[c] = p
		}
	}
	e := setup(t, setupOpts{limits: limits})
	e.owner("me@example.com")
	b := e.browser()
	b.login("me@example.com")
	for i := range 2 {
		if w := b.post("/account", "/account/export", nil); w.Code != http.StatusOK {
			t.Fatalf("export %d: %d", i+1, w.Code)
		}
	}
	if w := b.post("/account", "/account/export", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("third export in a minute: %d, want 429", w.Code)
	}
}
