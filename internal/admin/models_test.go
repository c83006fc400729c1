package admin_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
)

// TestWorkspaceModels: an admin narrows the operator's model allowlist for
// the workspace; bots then take only those models; an editor cannot change
// the list, and a model the operator does not allow is refused.
func TestWorkspaceModels(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	settings := "/w/" + string(ws) + "/settings"
	admin := e.browser()
	admin.login(emails["admin"])
	if w := admin.post(settings, settings+"/models", url.Values{"models": {"model-unknown"}}); w.Code < 400 {
		t.Fatalf("a model the operator does not allow was accepted: %d", w.Code)
	}
	if w := admin.post(settings, settings+"/models", url.Values{"models": {"model-small\r\n\r\nmodel-small\n"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("set models: %d: %s", w.Code, w.Body.String())
	}
	got, err := e.store.GetWorkspace(t.Context(), palisade.ScopeFor(ws))
	if err != nil || !slices.Equal(got.AllowedModels, []string{"model-small"}) {
		t.Fatalf("workspace models = %v, %v", got.AllowedModels, err)
	}

	editor := e.browser()
	editor.login(emails["editor"])
	if w := editor.post("/w/"+string(ws)+"/bots/new", settings+"/models", url.Values{"models": {""}}); w.Code != http.StatusForbidden {
		t.Fatalf("editor changed the models: %d", w.Code)
	}
	bots := "/w/" + string(ws) + "/bots"
	form := botForm("Large")
	if w := editor.post(bots+"/new", bots, form); w.Code != http.StatusBadRequest {
		t.Fatalf("a model the workspace does not allow: %d, want 400", w.Code)
	}
	if n := len(listBots(t, e, ws)); n != 0 {
		t.Fatalf("%d bots after a refused create", n)
	}
	form.Set("model", "model-small")
	if w := editor.post(bots+"/new", bots, form); w.Code != http.StatusSeeOther {
		t.Fatalf("create with an allowed model: %d: %s", w.Code, w.Body.String())
	}
}

// With no language model provider the only model is the retrieval-only
// mode: the bot form preselects it and says what it means, as do the
// settings; with providers, neither page mentions it.
func TestRetrievalOnlyExplained(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	e.mount(t, []string{llm.RetrievalOnly}, nil)
	b := e.browser()
	b.login(emails["owner"])
	form := b.get("/w/" + string(ws) + "/bots/new").Body.String()
	if !strings.Contains(form, `<option value="retrieval-only" selected>`) || !strings.Contains(form, "Retrieval-only mode.") {
		t.Fatalf("bot form without a provider:\n%s", form)
	}
	if strings.Contains(form, "model-small") {
		t.Fatal("the bot form offers a model no provider serves")
	}
	if body := b.get("/w/" + string(ws) + "/settings").Body.String(); !strings.Contains(body, "retrieval-only mode") {
		t.Fatalf("settings without a provider do not mention retrieval-only:\n%s", body)
	}
	if body := b.get("/w/" + string(ws) + "/settings/models").Body.String(); !strings.Contains(body, "Retrieval-only mode.") {
		t.Fatalf("the models page without a provider does not explain retrieval-only:\n%s", body)
	}
	e.mount(t, testModels, nil)
	if body := b.get("/w/" + string(ws) + "/bots/new").Body.String(); strings.Contains(body, "Retrieval-only mode.") || !strings.Contains(body, "model-small") {
		t.Fatal("the bot form with providers mentions retrieval-only or lacks their models")
	}
}
