package admin_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
)

// TestEveryPageRendersForEveryRole signs in as each role and opens every
// GET route of the route table, over a workspace with something in every
// list (a bot with a document, keys of a member and of the operator, an
// invitation, audit entries) and users in every two-factor state. A page
// the role may see renders whole; a template error (a 500) fails the test
// whichever page and role it is. No page offers a role a link or form it
// may not use, and every field of every page has a label.
func TestEveryPageRendersForEveryRole(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{signup: true, sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.mount(t, testModels, tokens)
	ctx := t.Context()
	scope := palisade.ScopeFor(ws)
	base := "/w/" + string(ws)

	owner := e.browser()
	owner.login(emails["owner"])
	w := owner.post(base+"/bots/new", base+"/bots", botForm("Returns <helper>"))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create bot: %d", w.Code)
	}
	botURL := location(w)
	botID := palisade.BotID(botURL[strings.LastIndex(botURL, "/")+1:])
	docs := botURL + "/documents"
	if w := owner.post(docs, docs, url.Values{"title": {"Policy"}, "content_type": {"text/plain"}, "content": {"Returns within 30 days."}}); w.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d", w.Code)
	}
	if w := owner.post(botURL+"/try", botURL+"/try", url.Values{"message": {"Returns?"}}); w.Code != http.StatusOK {
		t.Fatalf("try: %d", w.Code)
	}
	convs, err := e.store.ListConversations(ctx, scope, store.ListConversationsParams{Limit: 1})
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations: %v %v", convs, err)
	}
	if w := owner.post(base+"/keys", base+"/keys", url.Values{"name": {"ci"}, "scope": {"bots:read"}, "days": {"1"}}); w.Code != http.StatusOK {
		t.Fatalf("create key: %d", w.Code)
	}
	if _, err := e.store.CreateAPIKey(ctx, scope, store.CreateAPIKeyParams{Name: "operator's", Prefix: "operatorkey1", Hash: []byte{1},
		Scopes: []string{"bots:read"}, Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if w := owner.post(base+"/members", base+"/members/invite", url.Values{"email": {"new@example.com"}, "role": {"viewer"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("invite: %d", w.Code)
	}
	invite := e.mail.lastLink(t, "new@example.com")
	recordAudit(t, e, ws,
		audit.Entry{Actor: string(mustUserID(t, e, emails["owner"])), Action: audit.ActionBotChanged, Target: string(botID), Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"model": "model-large"}},
		audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionAPIKeyCreated, Target: "key", Outcome: audit.OutcomeSuccess})

	roles := []palisade.Role{palisade.RoleOwner, palisade.RoleAdmin, palisade.RoleEditor, palisade.RoleViewer}
	browsers := map[palisade.Role]*browser{palisade.RoleOwner: owner}
	for _, role := range roles[1:] {
		browsers[role] = e.browser()
		browsers[role].login(emails[string(role)])
	}
	// After signing in (so no second factor is asked): the editor has
	// two-factor on, the viewer an enrolment in progress, the admin a
	// verified address.
	if err := e.store.SetTOTP(ctx, mustUserID(t, e, emails["editor"]), store.SetTOTPParams{Secret: []byte("JBSWY3DPEHPK3PXP"), Enabled: true, Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetTOTP(ctx, mustUserID(t, e, emails["viewer"]), store.SetTOTPParams{Secret: []byte("JBSWY3DPEHPK3PXP"), Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkEmailVerified(ctx, mustUserID(t, e, emails["admin"]), e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	const anyToken = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	routes := newUI(t, e.svc, e.store, e.audit, e.clock.Now, testModels, nil, e.limiter, e.limits).Routes()
	rp := newRoutePerms(routes)
	pages := 0
	for _, role := range roles {
		b := browsers[role]
		for _, rt := range routes {
			if rt.Method != http.MethodGet {
				continue
			}
			path := strings.TrimSuffix(rt.Pattern, "{$}")
			path = strings.NewReplacer("{workspaceId}", string(ws), "{botId}", string(botID), "{token}", anyToken, "{conversationId}", string(convs[0].ID)).Replace(path)
			if rt.Pattern == "/invite/{token}" {
				path = invite
			}
			name := string(role) + " GET " + rt.Pattern
			w := b.get(path)
			allowed := rt.Perm == auth.PermPublic || rt.Perm == auth.PermAccount || auth.Allows(role, rt.Perm)
			switch {
			case w.Code >= 500:
				t.Errorf("%s: %d", name, w.Code)
			case rt.Pattern == "/{$}" || rt.Pattern == "/login/mfa":
				// Signed in, with no log-in pending: both redirect.
				if w.Code != http.StatusSeeOther {
					t.Errorf("%s: %d, want a redirect", name, w.Code)
				}
			case rt.Pattern == "/setup/{token}":
				// Accounts exist: every set-up link is spent, and the
				// page says so.
				if w.Code != http.StatusGone || !strings.HasSuffix(strings.TrimSpace(w.Body.String()), "</html>") {
					t.Errorf("%s: %d, want the whole spent-link page", name, w.Code)
				}
				pages++
			case !allowed:
				if w.Code != http.StatusForbidden {
					t.Errorf("%s: %d, want 403", name, w.Code)
				}
			case w.Code != http.StatusOK || !strings.HasSuffix(strings.TrimSpace(w.Body.String()), "</html>"):
				t.Errorf("%s: %d, want the whole page", name, w.Code)
			default:
				pages++
				// Every link and form leads to a route the role may use,
				// and every field is labelled.
				checkControls(t, rp, role, rt.Pattern, w.Body.String())
			}
		}
		if role == palisade.RoleOwner || role == palisade.RoleAdmin {
			if w := b.get(base + "/audit?before=2"); w.Code != http.StatusOK {
				t.Errorf("%s: older audit page: %d", role, w.Code)
			}
		}
	}
	if pages < 60 {
		t.Fatalf("only %d pages rendered", pages)
	}
}

// The keys page says who made each key: the member's address, or the
// operator for keys made with the CLI; the address is escaped like every
// other field.
func TestKeysPageShowsCreator(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	base := "/w/" + string(ws)
	b := e.browser()
	b.login(emails["admin"])
	if w := b.post(base+"/keys", base+"/keys", url.Values{"name": {"admin's key"}, "scope": {"bots:read"}}); w.Code != http.StatusOK {
		t.Fatalf("create key: %d", w.Code)
	}
	if _, err := e.store.CreateAPIKey(t.Context(), palisade.ScopeFor(ws), store.CreateAPIKeyParams{Name: "operator's key", Prefix: "operatorkey1",
		Hash: []byte{1}, Scopes: []string{"bots:read"}, Now: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	body := b.get(base + "/keys").Body.String()
	for _, want := range []string{"<th>Created by</th>", "<td>" + emails["admin"] + "</td>", "<td>operator (CLI)</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	if strings.Count(body, "<td>operator (CLI)</td>") != 1 {
		t.Errorf("the member's key is shown as the operator's: %s", body)
	}
}
