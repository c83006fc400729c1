package account_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// A member enters their workspace with their current role; anyone else,
// and any workspace that does not exist, reads as not found. The lists
// behind the workspace pages need the role's read permission, and key
// listings never carry a key's hash.
func TestEnterWorkspaceAndLists(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	owner, ws, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "owner@example.com", Name: "Olga", WorkspaceName: "Acme", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	stranger, other, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "stranger@example.com", Name: "S", WorkspaceName: "Other", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := s.CreateUser(ctx, store.CreateUserParams{Email: "viewer@example.com", Name: "Vic", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(ctx, palisade.ScopeFor(ws.ID), viewer.ID, palisade.RoleViewer, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, palisade.ScopeFor(ws.ID), store.CreateAPIKeyParams{Name: "k", Prefix: "prefix000001", Hash: []byte("secret-hash"),
		Scopes: []string{"bots:read"}, CreatedBy: owner.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	cur := func(u palisade.User) account.Current { return account.Current{User: u} }

	a, got, err := svc.EnterWorkspace(ctx, cur(owner), ws.ID)
	if err != nil || a.Role != palisade.RoleOwner || a.Scope.Workspace() != ws.ID || got.Name != "Acme" || a.User.ID != owner.ID {
		t.Fatalf("EnterWorkspace(owner) = %+v, %+v, %v", a, got, err)
	}
	for name, id := range map[string]palisade.WorkspaceID{"another's": other.ID, "unknown": palisade.NewWorkspaceID(), "malformed": "ws_nope"} {
		if _, _, err := svc.EnterWorkspace(ctx, cur(owner), id); palisade.ErrorCode(err) != palisade.CodeNotFound {
			t.Errorf("%s workspace: %v, want not found", name, err)
		}
	}
	if _, _, err := svc.EnterWorkspace(ctx, cur(stranger), ws.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Errorf("non-member: %v, want not found", err)
	}
	pending := cur(owner)
	pending.Session.MFAPending = true
	if _, _, err := svc.EnterWorkspace(ctx, pending, ws.ID); err == nil {
		t.Error("a session pending its second factor entered the workspace")
	}

	members, err := svc.Members(ctx, a)
	if err != nil || len(members) != 2 || members[0].Email != "owner@example.com" || members[1].Name != "Vic" {
		t.Fatalf("Members = %+v, %v", members, err)
	}
	keys, err := svc.APIKeys(ctx, a)
	if err != nil || len(keys) != 1 || keys[0].CreatorEmail != "owner@example.com" || keys[0].Hash != nil {
		t.Fatalf("APIKeys = %+v, %v", keys, err)
	}
	mine, err := svc.Workspaces(ctx, cur(owner))
	if err != nil || len(mine) != 1 || mine[0].ID != ws.ID || mine[0].Name != "Acme" || mine[0].Role != palisade.RoleOwner {
		t.Fatalf("Workspaces = %+v, %v", mine, err)
	}

	v, _, err := svc.EnterWorkspace(ctx, cur(viewer), ws.ID)
	if err != nil || v.Role != palisade.RoleViewer {
		t.Fatalf("EnterWorkspace(viewer) = %+v, %v", v, err)
	}
	if _, err := svc.Members(ctx, v); err != nil {
		t.Errorf("a viewer may read the members: %v", err)
	}
	if _, err := svc.APIKeys(ctx, v); palisade.ErrorCode(err) != palisade.CodeForbidden {
		t.Errorf("a viewer listed the keys: %v", err)
	}
}
