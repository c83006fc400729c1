package admin_test

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestSuspendedWorkspaceShowsWhy: every page of a workspace the operator
// suspended tells its members so, with the operator's reason, escaped;
// another workspace of the same member shows nothing, and resuming takes
// the banner away.
func TestSuspendedWorkspaceShowsWhy(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	u, ws := e.owner("owner@example.com")
	_, other := e.owner("other@example.com")
	if _, err := e.store.AddMember(t.Context(), palisade.ScopeFor(other.ID), u.ID, palisade.RoleAdmin, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	const reason = `Phishing pages reported <script>alert(1)</script>`
	if _, err := e.store.SetWorkspaceSuspension(t.Context(), palisade.ScopeFor(ws.ID), store.SuspensionParams{Suspend: true, Reason: reason, Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("owner@example.com")
	base := "/w/" + string(ws.ID)
	for _, path := range []string{base, base + "/bots", base + "/members", base + "/keys", base + "/audit", base + "/settings"} {
		w := b.get(path)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `class="suspended"`) || !strings.Contains(body, html.EscapeString(reason)) ||
			!strings.Contains(body, "suspended by the operator") {
			t.Errorf("GET %s: %d, no banner with the reason:\n%s", path, w.Code, body)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Errorf("GET %s: the reason is not escaped", path)
		}
	}
	if body := b.get("/account").Body.String(); strings.Count(body, "suspended by the operator") != 1 {
		t.Errorf("the account page does not mark the one suspended workspace:\n%s", body)
	}
	if w := b.get("/w/" + string(other.ID)); w.Code != http.StatusOK || strings.Contains(w.Body.String(), `class="suspended"`) {
		t.Errorf("another workspace: %d, banner shown", w.Code)
	}
	if _, err := e.store.SetWorkspaceSuspension(t.Context(), palisade.ScopeFor(ws.ID), store.SuspensionParams{Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if w := b.get(base); w.Code != http.StatusOK || strings.Contains(w.Body.String(), `class="suspended"`) {
		t.Errorf("resumed: %d, banner still shown", w.Code)
	}
}
