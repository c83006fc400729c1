package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ownerCount counts scope's owners.
func ownerCount(t *testing.T, s store.Store, scope palisade.Scope) int {
	t.Helper()
	ms, err := s.ListMembers(ctx(t), scope)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Role == palisade.RoleOwner {
			n++
		}
	}
	return n
}

// testLastOwner: a member's role changes, and a member is removed, only
// while their role is still the one the caller read, and never when it
// would leave the workspace without an owner. Owners may be demoted or
// removed while another remains.
func testLastOwner(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")
	am, err := s.AddMember(ctx(t), a, ann.ID, palisade.RoleOwner, t0)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := s.AddMember(ctx(t), a, bob.ID, palisade.RoleEditor, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateMemberRole(ctx(t), a, am.ID, palisade.RoleOwner, palisade.RoleAdmin)
	wantErr(t, err, store.ErrLastOwner, "demoting the only owner")
	_, err = s.RemoveMember(ctx(t), a, am.ID, palisade.RoleOwner, t0)
	wantErr(t, err, store.ErrLastOwner, "removing the only owner")
	_, err = s.UpdateMemberRole(ctx(t), a, bm.ID, palisade.RoleViewer, palisade.RoleAdmin)
	wantErr(t, err, store.ErrRoleChanged, "changing a member read with a stale role")
	_, err = s.RemoveMember(ctx(t), a, bm.ID, palisade.RoleAdmin, t0)
	wantErr(t, err, store.ErrRoleChanged, "removing a member read with a stale role")
	if got, err := s.UpdateMemberRole(ctx(t), a, am.ID, palisade.RoleOwner, palisade.RoleOwner); err != nil || got.Role != palisade.RoleOwner {
		t.Fatalf("keeping the only owner an owner = %+v, %v", got, err)
	}
	if _, err := s.UpdateMemberRole(ctx(t), a, bm.ID, palisade.RoleEditor, palisade.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UpdateMemberRole(ctx(t), a, am.ID, palisade.RoleOwner, palisade.RoleViewer); err != nil || got.Role != palisade.RoleViewer {
		t.Fatalf("demoting one of two owners = %+v, %v", got, err)
	}
	_, err = s.RemoveMember(ctx(t), a, bm.ID, palisade.RoleOwner, t0)
	wantErr(t, err, store.ErrLastOwner, "removing the owner left")
	if _, err := s.RemoveMember(ctx(t), a, am.ID, palisade.RoleViewer, t0); err != nil {
		t.Fatal(err)
	}
	if n := ownerCount(t, s, a); n != 1 {
		t.Fatalf("%d owners left, want 1", n)
	}
	_, err = s.UpdateMemberRole(ctx(t), a, palisade.NewMembershipID(), palisade.RoleViewer, palisade.RoleEditor)
	wantErr(t, err, store.ErrNotFound, "changing an unknown member")
	_, err = s.RemoveMember(ctx(t), mustWS(t, s, "B"), bm.ID, palisade.RoleOwner, t0)
	wantErr(t, err, store.ErrNotFound, "removing a member from another workspace")
}

// ownerRounds is how many times each race of testLastOwnerRace runs.
const ownerRounds = 15

// testLastOwnerRace: two owners demoting or removing each other at the
// same moment never leave the workspace without an owner: exactly one of
// the two changes is made and the other is refused with ErrLastOwner.
func testLastOwnerRace(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	type change func(scope palisade.Scope, m palisade.Membership) error
	demote := func(scope palisade.Scope, m palisade.Membership) error {
		_, err := s.UpdateMemberRole(ctx(t), scope, m.ID, palisade.RoleOwner, palisade.RoleEditor)
		return err
	}
	remove := func(scope palisade.Scope, m palisade.Membership) error {
		_, err := s.RemoveMember(ctx(t), scope, m.ID, palisade.RoleOwner, t0)
		return err
	}
	races := []struct {
		name   string
		first  change
		second change
	}{{"demote/demote", demote, demote}, {"remove/remove", remove, remove}, {"demote/remove", demote, remove}}
	for ri, race := range races {
		for round := range ownerRounds {
			name := fmt.Sprintf("%s round %d", race.name, round)
			scope := mustWS(t, s, name)
			var ms [2]palisade.Membership
			for i := range ms {
				u := mustUser(t, s, fmt.Sprintf("owner%d-%d-%d@example.com", i, round, ri))
				m, err := s.AddMember(ctx(t), scope, u.ID, palisade.RoleOwner, t0.Add(time.Duration(i)*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				ms[i] = m
			}
			var errs [2]error
			var start, wg sync.WaitGroup
			start.Add(1)
			for i, fn := range []change{race.first, race.second} {
				wg.Go(func() {
					start.Wait()
					errs[i] = fn(scope, ms[i])
				})
			}
			start.Done()
			wg.Wait()
			if n := ownerCount(t, s, scope); n != 1 {
				t.Fatalf("%s: %d owners left (errors %v, %v), want 1", name, n, errs[0], errs[1])
			}
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, store.ErrLastOwner):
					refused++
				case err != nil:
					t.Fatalf("%s: %v", name, err)
				}
			}
			if refused != 1 {
				t.Fatalf("%s: %d changes refused, want 1", name, refused)
			}
		}
	}
}
