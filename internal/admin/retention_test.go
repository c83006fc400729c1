package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
)

// TestRetentionSettings: an admin sets the workspace's retention within 1
// to 3650 days from the settings page; an editor may not; a bot's own
// retention is set on its form, and an empty field follows the
// workspace's.
func TestRetentionSettings(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	settings := "/w/" + string(ws) + "/settings"
	admin := e.browser()
	admin.login(emails["admin"])
	if w := admin.get(settings); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="retention_days"`) ||
		!strings.Contains(w.Body.String(), "<strong>90</strong>") {
		t.Fatalf("settings page: %d, no retention form with the default 90 days", w.Code)
	}
	for _, bad := range []string{"0", "3651", "ninety", ""} {
		if w := admin.post(settings, settings+"/retention", url.Values{"retention_days": {bad}}); w.Code != http.StatusBadRequest {
			t.Fatalf("retention %q: %d, want 400", bad, w.Code)
		}
	}
	if w := admin.post(settings, settings+"/retention", url.Values{"retention_days": {" 30 "}}); w.Code != http.StatusSeeOther {
		t.Fatalf("set retention: %d: %s", w.Code, w.Body.String())
	}
	if got, err := e.store.GetWorkspace(t.Context(), palisade.ScopeFor(ws)); err != nil || got.RetentionDays != 30 {
		t.Fatalf("workspace retention = %d, %v; want 30", got.RetentionDays, err)
	}
	editor := e.browser()
	editor.login(emails["editor"])
	if w := editor.post("/w/"+string(ws)+"/bots/new", settings+"/retention", url.Values{"retention_days": {"5"}}); w.Code != http.StatusForbidden {
		t.Fatalf("editor changed the retention: %d", w.Code)
	}

	bots := "/w/" + string(ws) + "/bots"
	form := botForm("Short memory")
	form.Set("model", "model-large")
	form.Set("retention_days", "3651")
	if w := editor.post(bots+"/new", bots, form); w.Code != http.StatusBadRequest {
		t.Fatalf("bot retention 3651: %d, want 400", w.Code)
	}
	form.Set("retention_days", "7")
	if w := editor.post(bots+"/new", bots, form); w.Code != http.StatusSeeOther {
		t.Fatalf("create a bot with its own retention: %d: %s", w.Code, w.Body.String())
	}
	form = botForm("Follows the workspace")
	if w := editor.post(bots+"/new", bots, form); w.Code != http.StatusSeeOther {
		t.Fatalf("create a bot without its own retention: %d: %s", w.Code, w.Body.String())
	}
	got := map[string]int{}
	for _, b := range listBots(t, e, ws) {
		got[b.Name] = b.RetentionDays
	}
	if got["Short memory"] != 7 || got["Follows the workspace"] != 0 {
		t.Fatalf("bot retention = %v", got)
	}
}
