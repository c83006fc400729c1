package admin_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestDeleteAccount: a user deletes their own account with their password;
// the last owner of a workspace with other members is refused and told
// what to do; a workspace whose only member deletes their account goes
// with it.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	ctx := t.Context()

	owner := e.browser()
	owner.login(emails["owner"])
	w := owner.post("/account/delete", "/account/delete", url.Values{"password": {goodPassword}})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "last owner") || !strings.Contains(w.Body.String(), "make one of them an owner") {
		t.Fatalf("the last owner deleted their account: %d: %s", w.Code, w.Body.String())
	}
	if _, err := e.store.GetUserByEmail(ctx, emails["owner"]); err != nil {
		t.Fatalf("refused deletion removed the owner: %v", err)
	}

	admin := e.browser()
	admin.login(emails["admin"])
	if w := admin.get("/account/delete"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Fatalf("delete account page: %d", w.Code)
	}
	if w := admin.post("/account/delete", "/account/delete", url.Values{"password": {"not the password"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("a wrong password: %d, want 400", w.Code)
	}
	u, err := e.store.GetUserByEmail(ctx, emails["admin"])
	if err != nil {
		t.Fatalf("a wrong password deleted the account: %v", err)
	}
	if w := admin.post("/account/delete", "/account/delete", url.Values{"password": {goodPassword}}); w.Code != http.StatusSeeOther {
		t.Fatalf("delete account: %d: %s", w.Code, w.Body.String())
	}
	if _, err := e.store.GetUserByEmail(ctx, emails["admin"]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted account still found: %v", err)
	}
	if _, err := e.store.GetMembership(ctx, palisade.ScopeFor(ws), u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted account's membership: %v", err)
	}
	if w := admin.get("/account"); w.Code == http.StatusOK {
		t.Fatal("the deleted account's session still works")
	}
	if !e.audit.has(audit.ActionAccountDeleted, audit.OutcomeSuccess) {
		t.Fatal("no account.deleted audit entry")
	}

	// The stranger is the only member of their own workspace.
	stranger, err := e.store.GetUserByEmail(ctx, emails["non-member"])
	if err != nil {
		t.Fatal(err)
	}
	mine, err := e.store.ListUserWorkspaces(ctx, stranger.ID)
	if err != nil || len(mine) != 1 {
		t.Fatalf("stranger's workspaces = %v, %v", mine, err)
	}
	sb := e.browser()
	sb.login(emails["non-member"])
	if w := sb.get("/account/delete"); !strings.Contains(w.Body.String(), mine[0].Workspace.Name) {
		t.Fatalf("the page does not name the workspace deleted with the account: %s", w.Body.String())
	}
	if w := sb.post("/account/delete", "/account/delete", url.Values{"password": {goodPassword}}); w.Code != http.StatusSeeOther {
		t.Fatalf("delete sole member's account: %d: %s", w.Code, w.Body.String())
	}
	if _, err := e.store.GetWorkspace(ctx, palisade.ScopeFor(mine[0].Workspace.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the sole member's workspace survived: %v", err)
	}
	if _, err := e.store.GetWorkspace(ctx, palisade.ScopeFor(ws)); err != nil {
		t.Fatalf("the shared workspace: %v", err)
	}
}

// TestDeleteWorkspace: only an owner deletes the workspace, and only by
// typing its exact name.
func TestDeleteWorkspace(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	ctx := t.Context()
	scope := palisade.ScopeFor(ws)
	w0, err := e.store.GetWorkspace(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	page := "/w/" + string(ws) + "/delete"

	admin := e.browser()
	admin.login(emails["admin"])
	if w := admin.get(page); w.Code != http.StatusForbidden {
		t.Fatalf("an admin opened the delete page: %d", w.Code)
	}
	if w := admin.post("/w/"+string(ws)+"/settings", page, url.Values{"confirm": {w0.Name}}); w.Code != http.StatusForbidden {
		t.Fatalf("an admin deleted the workspace: %d", w.Code)
	}

	owner := e.browser()
	owner.login(emails["owner"])
	if w := owner.get("/w/" + string(ws) + "/settings"); !strings.Contains(w.Body.String(), `href="`+page+`"`) {
		t.Fatal("the settings page does not link the owner to deletion")
	}
	for _, wrong := range []string{"", strings.ToUpper(w0.Name), w0.Name + " "} {
		if w := owner.post(page, page, url.Values{"confirm": {wrong}}); w.Code != http.StatusBadRequest {
			t.Fatalf("confirm %q: %d, want 400", wrong, w.Code)
		}
	}
	if _, err := e.store.GetWorkspace(ctx, scope); err != nil {
		t.Fatalf("a wrong confirmation deleted the workspace: %v", err)
	}
	if w := owner.post(page, page, url.Values{"confirm": {w0.Name}}); w.Code != http.StatusSeeOther {
		t.Fatalf("delete workspace: %d: %s", w.Code, w.Body.String())
	}
	if _, err := e.store.GetWorkspace(ctx, scope); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted workspace still found: %v", err)
	}
	if m, err := e.store.ListMembers(ctx, scope); err != nil || len(m) != 0 {
		t.Fatalf("members left: %v, %v", m, err)
	}
	if !e.audit.has(audit.ActionWorkspaceDeleted, audit.OutcomeSuccess) {
		t.Fatal("no workspace.deleted audit entry")
	}
}
