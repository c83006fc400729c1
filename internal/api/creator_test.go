package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// member adds a user with role to the bundle's workspace.
func (b bundle) member(t *testing.T, email string, role palisade.Role) (palisade.User, palisade.Membership) {
	t.Helper()
	u, err := b.store.CreateUser(t.Context(), store.CreateUserParams{Email: email, Name: "M", PasswordHash: "$argon2id$x", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.store.AddMember(t.Context(), b.scope, u.ID, role, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u, m
}

// keyBy creates a key made by user (empty: by the operator's CLI) with
// every scope.
func (b bundle) keyBy(t *testing.T, user palisade.UserID) string {
	t.Helper()
	plain, prefix, hash := auth.NewAPIKey()
	var scopes []string
	for _, s := range auth.AllScopes() {
		scopes = append(scopes, string(s))
	}
	if _, err := b.store.CreateAPIKey(t.Context(), b.scope, store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash,
		Scopes: scopes, CreatedBy: user, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return plain.Reveal()
}

// routeURL fills a route's bot parameter with bot's id and every other
// one with a well-formed id of its kind, so each request passes the id
// guard and reaches the key check.
func routeURL(b bundle, rt api.Route, bot palisade.BotID) string {
	path := rt.Pattern
	for _, w := range palisade.PathWildcards(rt.Pattern) {
		v := string(bot)
		if p, ok := palisade.PathParamPrefix(w); ok && p != palisade.PrefixBot {
			v = palisade.NewID(p)
		}
		path = strings.Replace(path, "{"+w+"}", v, 1)
	}
	return b.srv.URL + path
}

// A key made by a member stops working on every route the moment its
// creator leaves the workspace, with the same answer as an unknown key.
func TestKeyOfRemovedMemberRefusedOnEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bot, err := b.store.CreateBot(t.Context(), b.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	u, m := b.member(t, "ed@example.com", palisade.RoleEditor)
	key := b.keyBy(t, u.ID)
	if code, _ := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots", key, `{"name":"before"}`); code != http.StatusCreated {
		t.Fatalf("create while a member: %d", code)
	}
	removeMember(t, b, m)
	if code, _ := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots", key, `{"name":"after"}`); code != http.StatusUnauthorized {
		t.Fatalf("create after the creator left: %d, want 401", code)
	}
	for _, rt := range (&api.API{}).Routes() {
		if rt.Perm == auth.PermPublic {
			continue
		}
		resp := do(t, rt.Method, routeURL(b, rt, bot.ID), key)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s after the creator left: status %d, want 401 with a challenge", rt.Method, rt.Pattern, resp.StatusCode)
		}
	}
}

// A key acts with at most its creator's current role: when an editor is
// made a viewer, their key still reads but no longer writes or sends
// messages, whatever its scopes say.
func TestKeyOfDemotedMemberLosesWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bot, err := b.store.CreateBot(t.Context(), b.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	u, m := b.member(t, "ed@example.com", palisade.RoleEditor)
	key := b.keyBy(t, u.ID)
	botURL := b.srv.URL + "/api/v1/bots/" + string(bot.ID)
	if code, _ := call(t, http.MethodPatch, botURL, key, `{"name":"renamed"}`); code != http.StatusOK {
		t.Fatalf("update as an editor: %d", code)
	}
	changeRole(t, b, m, palisade.RoleViewer)
	for _, w := range []struct {
		method, url, body string
		want              int
	}{
		{http.MethodGet, b.srv.URL + "/api/v1/bots", "", http.StatusOK},
		{http.MethodGet, botURL, "", http.StatusOK},
		{http.MethodGet, botURL + "/documents", "", http.StatusOK},
		{http.MethodPost, b.srv.URL + "/api/v1/bots", `{"name":"x"}`, http.StatusForbidden},
		{http.MethodPatch, botURL, `{"name":"y"}`, http.StatusForbidden},
		{http.MethodPost, botURL + "/gateway-token/rotate", "", http.StatusForbidden},
		{http.MethodPost, botURL + "/documents", `{"title":"t","content":"c"}`, http.StatusForbidden},
		{http.MethodPost, botURL + "/chat", `{"user_id":"u1","message":"hi"}`, http.StatusForbidden},
		{http.MethodDelete, botURL, "", http.StatusForbidden},
	} {
		if code, _ := call(t, w.method, w.url, key, w.body); code != w.want {
			t.Errorf("%s %s as a viewer's key: %d, want %d", w.method, strings.TrimPrefix(w.url, b.srv.URL), code, w.want)
		}
	}
	// Promoted back, the key writes again: the role is read on every
	// request.
	changeRole(t, b, m, palisade.RoleEditor)
	if code, _ := call(t, http.MethodPatch, botURL, key, `{"name":"again"}`); code != http.StatusOK {
		t.Fatalf("update after promotion back to editor: %d", code)
	}
}

// A key the operator made with the CLI belongs to the workspace: members
// coming, changing role and going do not touch it.
func TestOperatorKeyOutlivesMemberChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := b.keyBy(t, "")
	b.member(t, "owner@example.com", palisade.RoleOwner)
	_, ed := b.member(t, "ed@example.com", palisade.RoleEditor)
	changeRole(t, b, ed, palisade.RoleViewer)
	removeMember(t, b, ed)
	if code, _ := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots", key, `{"name":"ops"}`); code != http.StatusCreated {
		t.Fatalf("create with the operator's key: %d, want 201", code)
	}
	if code, _ := call(t, http.MethodGet, b.srv.URL+"/api/v1/bots", key, ""); code != http.StatusOK {
		t.Fatalf("list with the operator's key: %d, want 200", code)
	}
}

func changeRole(t *testing.T, b bundle, m palisade.Membership, role palisade.Role) {
	t.Helper()
	cur, err := b.store.GetMember(t.Context(), b.scope, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.UpdateMemberRole(t.Context(), b.scope, m.ID, cur.Role, role); err != nil {
		t.Fatal(err)
	}
}

func removeMember(t *testing.T, b bundle, m palisade.Membership) {
	t.Helper()
	cur, err := b.store.GetMember(t.Context(), b.scope, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.RemoveMember(t.Context(), b.scope, m.ID, cur.Role, time.Now()); err != nil {
		t.Fatal(err)
	}
}
