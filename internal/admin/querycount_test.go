package admin_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestPageQueriesDoNotGrow: the members, keys, audit and account pages
// run as many queries for a workspace of 12 members (with 12 keys,
// invitations and audit entries, and an owner in 12 workspaces) as for one
// of 2: every list is one query, never one more per row.
func TestPageQueriesDoNotGrow(t *testing.T) {
	t.Parallel()
	small, large := pageQueries(t, 2), pageQueries(t, 12)
	for page, n := range small {
		if large[page] != n {
			t.Errorf("%s: %d queries with 2 members, %d with 12", page, n, large[page])
		}
	}
	if len(small) != 4 {
		t.Fatalf("measured %d pages", len(small))
	}
}

// pageQueries builds a workspace of n members, each with an API key, an
// invitation and an audit entry, its owner a member of n workspaces, and
// counts the queries of each page as the owner sees it.
func pageQueries(t *testing.T, n int) map[string]int64 {
	t.Helper()
	var queries atomic.Int64
	e := setup(t, setupOpts{queryHook: func(string) { queries.Add(1) }})
	ctx := t.Context()
	owner, ws := e.owner("owner@example.com")
	scope := palisade.ScopeFor(ws.ID)
	users := []palisade.User{owner}
	for i := 1; i < n; i++ {
		users = append(users, e.member(ws.ID, fmt.Sprintf("member-%d@example.com", i), palisade.RoleEditor))
		other, err := e.store.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: fmt.Sprintf("Other %d", i), Now: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.AddMember(ctx, palisade.ScopeFor(other.ID), owner.ID, palisade.RoleViewer, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	rec := audit.New(e.store, audit.Options{Now: e.clock.Now})
	for i, u := range users {
		by := u.ID
		if i == 0 {
			by = "" // one key made by the operator
		}
		if _, err := e.store.CreateAPIKey(ctx, scope, store.CreateAPIKeyParams{Name: fmt.Sprintf("key %d", i), Prefix: fmt.Sprintf("prefix%06d", i),
			Hash: []byte{byte(i)}, Scopes: []string{"bots:read"}, CreatedBy: by, Now: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreateInvitation(ctx, scope, store.CreateInvitationParams{Email: fmt.Sprintf("invited-%d@example.com", i),
			Role: palisade.RoleViewer, TokenHashHex: fmt.Sprintf("%064x", i+1), InvitedBy: owner.ID, Now: e.clock.Now(),
			ExpiresAt: e.clock.Now().AddDate(0, 0, 7)}); err != nil {
			t.Fatal(err)
		}
		if err := rec.Record(ctx, scope, audit.Entry{Actor: string(u.ID), Action: audit.ActionBotChanged, Target: "t", Outcome: audit.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login("owner@example.com")
	last := users[len(users)-1].Email
	base := "/w/" + string(ws.ID)
	pages := map[string]string{
		"members": base + "/members",
		"keys":    base + "/keys",
		"audit":   base + "/audit",
		"account": "/account",
	}
	// What each page must show, so the count is of a page that listed
	// everything.
	shows := map[string]string{"members": last, "keys": last, "audit": last, "account": fmt.Sprintf("Other %d", n-1)}
	out := map[string]int64{}
	for name, path := range pages {
		before := queries.Load()
		w := b.get(path)
		out[name] = queries.Load() - before
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, w.Code)
		}
		if body := w.Body.String(); !strings.Contains(body, shows[name]) {
			t.Fatalf("%s with %d members lacks %q", path, n, shows[name])
		}
	}
	return out
}
