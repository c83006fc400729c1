package storetest

import (
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// testMemberListings: the joined listings behind the members and account
// pages carry each row's user or workspace, in membership order, and
// never a row of another workspace or another user.
func testMemberListings(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "Acme"), mustWS(t, s, "Beta")
	ann := mustUser(t, s, "ann@example.com")
	bob, err := s.CreateUser(ctx(t), store.CreateUserParams{Email: "Bob@Example.com", Name: "Bob Builder", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	eve := mustUser(t, s, "eve@example.com")
	add := func(scope palisade.Scope, u palisade.User, role palisade.Role, at time.Duration) palisade.Membership {
		t.Helper()
		m, err := s.AddMember(ctx(t), scope, u.ID, role, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	annA := add(a, ann, palisade.RoleOwner, 0)
	bobA := add(a, bob, palisade.RoleViewer, time.Second)
	add(b, eve, palisade.RoleOwner, 0)
	annB := add(b, ann, palisade.RoleEditor, 2*time.Second)
	if err := s.SetRequireMFA(ctx(t), b, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWorkspaceModels(ctx(t), b, []string{"m1", "m2"}); err != nil {
		t.Fatal(err)
	}

	members, err := s.ListMembersWithUsers(ctx(t), a)
	if err != nil || len(members) != 2 {
		t.Fatalf("ListMembersWithUsers = %+v, %v", members, err)
	}
	if m := members[0]; m.ID != annA.ID || m.UserID != ann.ID || m.WorkspaceID != a.Workspace() || m.Role != palisade.RoleOwner ||
		m.Email != "ann@example.com" || m.Name != "N" || !m.CreatedAt.Equal(t0) {
		t.Fatalf("first member = %+v", m)
	}
	if m := members[1]; m.ID != bobA.ID || m.UserID != bob.ID || m.Role != palisade.RoleViewer || m.Email != "bob@example.com" ||
		m.Name != "Bob Builder" || !m.CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("second member = %+v", m)
	}
	inB, err := s.ListMembersWithUsers(ctx(t), b)
	if err != nil || len(inB) != 2 || inB[0].Email != "eve@example.com" || inB[1].Email != "ann@example.com" || inB[1].ID != annB.ID {
		t.Fatalf("ListMembersWithUsers(B) = %+v, %v", inB, err)
	}
	if list, err := s.ListMembersWithUsers(ctx(t), palisade.ScopeFor(palisade.NewWorkspaceID())); err != nil || len(list) != 0 {
		t.Fatalf("a workspace that does not exist lists %+v, %v", list, err)
	}
	_, err = s.ListMembersWithUsers(ctx(t), palisade.Scope{})
	wantErr(t, err, store.ErrNoScope, "ListMembersWithUsers without a scope")

	mine, err := s.ListUserWorkspaces(ctx(t), ann.ID)
	if err != nil || len(mine) != 2 {
		t.Fatalf("ListUserWorkspaces = %+v, %v", mine, err)
	}
	if w := mine[0]; w.Membership.ID != annA.ID || w.Membership.Role != palisade.RoleOwner || w.Workspace.ID != a.Workspace() ||
		w.Workspace.Name != "Acme" || w.Workspace.RequireMFA || len(w.Workspace.AllowedModels) != 0 || w.Workspace.RetentionDays != 90 ||
		!w.Workspace.CreatedAt.Equal(t0) {
		t.Fatalf("first workspace = %+v", w)
	}
	if w := mine[1]; w.Membership.ID != annB.ID || w.Membership.Role != palisade.RoleEditor || w.Workspace.ID != b.Workspace() ||
		w.Workspace.Name != "Beta" || !w.Workspace.RequireMFA || len(w.Workspace.AllowedModels) != 2 || w.Workspace.AllowedModels[1] != "m2" {
		t.Fatalf("second workspace = %+v", w)
	}
	// Bob shares workspace A with Ann, and still sees only his own
	// membership; Eve sees only B.
	if bobs, err := s.ListUserWorkspaces(ctx(t), bob.ID); err != nil || len(bobs) != 1 || bobs[0].Membership.ID != bobA.ID ||
		bobs[0].Workspace.ID != a.Workspace() {
		t.Fatalf("ListUserWorkspaces(bob) = %+v, %v", bobs, err)
	}
	if eves, err := s.ListUserWorkspaces(ctx(t), eve.ID); err != nil || len(eves) != 1 || eves[0].Workspace.ID != b.Workspace() {
		t.Fatalf("ListUserWorkspaces(eve) = %+v, %v", eves, err)
	}
	if none, err := s.ListUserWorkspaces(ctx(t), mustUser(t, s, "nobody@example.com").ID); err != nil || len(none) != 0 {
		t.Fatalf("a user without memberships sees %+v, %v", none, err)
	}
}

// testAPIKeyListing: the key listing names the user who made each key, no
// one for the operator's keys, and never lists another workspace's key.
func testAPIKeyListing(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	ann := mustUser(t, s, "ann@example.com")
	eve := mustUser(t, s, "eve@example.com")
	// A key's creator is a member of its workspace (the keys of one who
	// left no longer work); another workspace's users are out of sight.
	for _, m := range []struct {
		scope palisade.Scope
		user  palisade.UserID
	}{{a, ann.ID}, {b, eve.ID}} {
		if _, err := s.AddMember(ctx(t), m.scope, m.user, palisade.RoleEditor, t0); err != nil {
			t.Fatal(err)
		}
	}
	create := func(scope palisade.Scope, name, prefix string, by palisade.UserID, at time.Duration) palisade.APIKey {
		t.Helper()
		k, err := s.CreateAPIKey(ctx(t), scope, store.CreateAPIKeyParams{Name: name, Prefix: prefix, Hash: []byte("h-" + prefix),
			Scopes: []string{"bots:read"}, CreatedBy: by, Now: t0.Add(at)})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	byAnn := create(a, "ann's", "aaaaaaaaaaaa", ann.ID, 0)
	byCLI := create(a, "operator's", "bbbbbbbbbbbb", "", time.Second)
	byGone := create(a, "former", "cccccccccccc", palisade.NewUserID(), 2*time.Second)
	create(b, "eve's", "dddddddddddd", eve.ID, 0)

	list, err := s.ListAPIKeys(ctx(t), a)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListAPIKeys = %+v, %v", list, err)
	}
	want := []struct {
		id    palisade.APIKeyID
		by    palisade.UserID
		email string
	}{{byAnn.ID, ann.ID, "ann@example.com"}, {byCLI.ID, "", ""}, {byGone.ID, byGone.CreatedBy, ""}}
	for i, w := range want {
		k := list[i]
		if k.ID != w.id || k.CreatedBy != w.by || k.CreatorEmail != w.email || k.WorkspaceID != a.Workspace() || len(k.Scopes) != 1 {
			t.Errorf("key %d = %+v, want id %s by %q (%q)", i, k, w.id, w.by, w.email)
		}
	}
	if list[0].Name != "ann's" || string(list[0].Hash) != "h-aaaaaaaaaaaa" || !list[0].CreatedAt.Equal(t0) {
		t.Errorf("first key = %+v", list[0])
	}
	inB, err := s.ListAPIKeys(ctx(t), b)
	if err != nil || len(inB) != 1 || inB[0].CreatorEmail != "eve@example.com" {
		t.Fatalf("ListAPIKeys(B) = %+v, %v", inB, err)
	}
	_, err = s.ListAPIKeys(ctx(t), palisade.Scope{})
	wantErr(t, err, store.ErrNoScope, "ListAPIKeys without a scope")
}

// testAPIKeyCreator: the lookup by prefix reads, in the same query, the
// current role of the key's creator in the key's own workspace (not in
// another of theirs), none for the operator's keys or a creator who is not
// a member; removing a member revokes the keys they made there, and only
// those.
func testAPIKeyCreator(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	ann := mustUser(t, s, "ann@example.com")
	inA, err := s.AddMember(ctx(t), a, ann.ID, palisade.RoleEditor, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(ctx(t), b, ann.ID, palisade.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	stranger := mustUser(t, s, "stranger@example.com")
	create := func(scope palisade.Scope, prefix string, by palisade.UserID) palisade.APIKey {
		t.Helper()
		k, err := s.CreateAPIKey(ctx(t), scope, store.CreateAPIKeyParams{Name: prefix, Prefix: prefix, Hash: []byte("h-" + prefix),
			Scopes: []string{"bots:write"}, CreatedBy: by, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	annA := create(a, "annaaaaaaaaa", ann.ID)
	annB := create(b, "annbbbbbbbbb", ann.ID)
	cli := create(a, "cliccccccccc", "")
	orphan := create(a, "orphandddddd", stranger.ID)
	lookup := func(k palisade.APIKey) store.FoundAPIKey {
		t.Helper()
		got, err := s.LookupAPIKey(ctx(t), k.Prefix)
		if err != nil || got.ID != k.ID || got.WorkspaceID != k.WorkspaceID || got.CreatedBy != k.CreatedBy || string(got.Hash) != string(k.Hash) {
			t.Fatalf("LookupAPIKey(%s) = %+v, %v", k.Prefix, got, err)
		}
		return got
	}
	for _, w := range []struct {
		key  palisade.APIKey
		role palisade.Role
	}{{annA, palisade.RoleEditor}, {annB, palisade.RoleOwner}, {cli, ""}, {orphan, ""}} {
		if got := lookup(w.key); got.CreatorRole != w.role {
			t.Errorf("key %s: creator role %q, want %q", w.key.Prefix, got.CreatorRole, w.role)
		}
	}
	if _, err := s.UpdateMemberRole(ctx(t), a, inA.ID, palisade.RoleEditor, palisade.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if got := lookup(annA); got.CreatorRole != palisade.RoleViewer {
		t.Errorf("after demotion: creator role %q, want viewer", got.CreatorRole)
	}
	n, err := s.RemoveMember(ctx(t), a, inA.ID, palisade.RoleViewer, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RemoveMember = %d revoked, %v; want 1", n, err)
	}
	if got := lookup(annA); got.CreatorRole != "" || got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("key of the removed member: %+v, want revoked with no creator role", got)
	}
	for _, k := range []palisade.APIKey{annB, cli, orphan} {
		if got := lookup(k); got.RevokedAt != nil {
			t.Errorf("key %s was revoked with another membership", k.Prefix)
		}
	}
	if got := lookup(annB); got.CreatorRole != palisade.RoleOwner {
		t.Errorf("key in B after leaving A: creator role %q, want owner", got.CreatorRole)
	}
}
