package storetest

import (
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// testSuspension: a workspace is suspended with its reason and time, its
// members' listing shows it, another workspace is untouched, resuming
// clears both, and a scope of no workspace finds nothing.
func testSuspension(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "a"), mustWS(t, s, "b")
	u, err := s.CreateUser(ctx(t), store.CreateUserParams{Email: "owner@example.com", Name: "O", PasswordHash: "x", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(ctx(t), a, u.ID, palisade.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	if w, err := s.GetWorkspace(ctx(t), a); err != nil || w.Suspended() || w.SuspendedReason != "" {
		t.Fatalf("new workspace: %+v, %v", w, err)
	}
	w, err := s.SetWorkspaceSuspension(ctx(t), a, store.SuspensionParams{Suspend: true, Reason: "spam reports", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Suspended() || !w.SuspendedAt.Equal(t0.Truncate(1000)) || w.SuspendedReason != "spam reports" {
		t.Fatalf("suspended: %+v", w)
	}
	if w, err := s.GetWorkspace(ctx(t), a); err != nil || !w.Suspended() || w.SuspendedReason != "spam reports" || w.CheckActive() == nil {
		t.Fatalf("read back: %+v, %v", w, err)
	}
	uws, err := s.ListUserWorkspaces(ctx(t), u.ID)
	if err != nil || len(uws) != 1 || !uws[0].Workspace.Suspended() || uws[0].Workspace.SuspendedReason != "spam reports" {
		t.Fatalf("the member's listing: %+v, %v", uws, err)
	}
	if w, err := s.GetWorkspace(ctx(t), b); err != nil || w.Suspended() {
		t.Fatalf("the other workspace: %+v, %v", w, err)
	}
	w, err = s.SetWorkspaceSuspension(ctx(t), a, store.SuspensionParams{Now: t0})
	if err != nil || w.Suspended() || w.SuspendedReason != "" || w.CheckActive() != nil {
		t.Fatalf("resumed: %+v, %v", w, err)
	}
	if _, err := s.SetWorkspaceSuspension(ctx(t), palisade.ScopeFor(palisade.NewWorkspaceID()), store.SuspensionParams{Suspend: true, Reason: "x", Now: t0}); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("a workspace that does not exist: %v", err)
	}
}
