package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Deleting a workspace or an account is immediate and complete: nothing is
// kept to undo it. What remains is one entry in the platform audit chain
// naming the workspace or user by id only.

var (
	errNoDeletion      = palisade.Errorf(palisade.CodeForbidden, "deleting workspaces is not enabled on this server")
	errConfirmMismatch = palisade.FieldError("confirm", "type the workspace's name exactly to confirm")
)

// DeleteWorkspace deletes the actor's workspace once confirm repeats its
// name exactly; only owners may.
func (s *Service) DeleteWorkspace(ctx context.Context, a Actor, confirm string, c Client) error {
	if !auth.Allows(a.Role, auth.PermWorkspaceDelete) {
		return palisade.Errorf(palisade.CodeForbidden, "only an owner can delete the workspace")
	}
	if s.o.DeleteWorkspace == nil {
		return errNoDeletion
	}
	w, err := s.o.Store.GetWorkspace(ctx, a.Scope)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(confirm), []byte(w.Name)) != 1 {
		return errConfirmMismatch
	}
	err = s.o.DeleteWorkspace(ctx, a.Scope, c.stamp(audit.Entry{Actor: string(a.User.ID)}))
	s.invalidate(ctx, string(a.Scope.Workspace()))
	return err
}

// lastOwner refuses an account's deletion while it is the last owner of
// workspaces others still belong to, naming them and saying what to do.
func lastOwner(names []string) error {
	return palisade.Errorf(palisade.CodeConflict, "you are the last owner of %s, which other members still belong to: make one of them an owner "+
		"(Members page) or delete the workspace, then delete your account", quoteList(names))
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// DeleteAccount deletes the signed-in user's account after re-checking
// their password. It refuses while the user is the last owner of a
// workspace with other members; a workspace of which the user is the
// only member is deleted with the account (the page says so). The user's
// memberships elsewhere are removed as a member's removal is, revoking the
// API keys they made there.
func (s *Service) DeleteAccount(ctx context.Context, cur Current, password string, c Client) error {
	held, err := s.reserve(ctx, reauthBudget(cur.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionAccountDeleted})
		return err
	}
	if ok, _, _ := s.o.Hasher.Verify(password, cur.User.PasswordHash); !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionAccountDeleted, Target: string(cur.User.ID),
			Outcome: audit.OutcomeFailure})
		return palisade.FieldError("password", "the password is not correct")
	}
	s.refund(ctx, held)
	plan, err := s.accountDeletionPlan(ctx, cur.User.ID)
	if err != nil {
		return err
	}
	if len(plan.blocked) > 0 {
		return lastOwner(plan.blocked)
	}
	if len(plan.solo) > 0 && s.o.DeleteWorkspace == nil {
		return errNoDeletion
	}
	now := s.o.Now()
	// The account's keys may end in any workspace it was in, even when a
	// later step fails.
	defer s.invalidate(ctx, invalidate.All)
	for _, m := range plan.shared {
		// The store refuses, atomically, to remove the last owner: an
		// owner who left meanwhile makes this fail rather than orphan
		// the workspace.
		revoked, err := s.o.Store.RemoveMember(ctx, m.scope, m.id, m.role, now)
		if errors.Is(err, store.ErrLastOwner) {
			return lastOwner([]string{m.name})
		}
		if err != nil {
			return err
		}
		s.record(ctx, c, m.scope, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMemberRemoved, Target: string(m.id),
			Outcome: audit.OutcomeSuccess, Detail: map[string]string{"reason": "account deleted", "api_keys_revoked": fmt.Sprint(revoked)}})
	}
	for _, scope := range plan.solo {
		if err := s.o.DeleteWorkspace(ctx, scope, c.stamp(audit.Entry{Actor: string(cur.User.ID),
			Detail: map[string]string{"reason": "its only member deleted their account"}})); err != nil {
			return err
		}
	}
	err = s.o.Store.DeleteUser(ctx, cur.User.ID)
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionAccountDeleted, Target: string(cur.User.ID),
		Outcome: outcome(err)})
	return err
}

type deletionPlan struct {
	blocked []string         // workspaces (names) the user is the last owner of, with others in them
	solo    []palisade.Scope // workspaces the user is the only member of
	shared  []sharedMembership
}

type sharedMembership struct {
	scope palisade.Scope
	id    palisade.MembershipID
	role  palisade.Role
	name  string
}

func (s *Service) accountDeletionPlan(ctx context.Context, user palisade.UserID) (deletionPlan, error) {
	var p deletionPlan
	ws, err := s.o.Store.ListUserWorkspaces(ctx, user)
	if err != nil {
		return p, err
	}
	for _, w := range ws {
		scope := palisade.ScopeFor(w.Workspace.ID)
		members, err := s.o.Store.ListMembers(ctx, scope)
		if err != nil {
			return p, err
		}
		others, otherOwners := 0, 0
		for _, m := range members {
			if m.UserID == user {
				continue
			}
			others++
			if m.Role == palisade.RoleOwner {
				otherOwners++
			}
		}
		switch {
		case others == 0:
			p.solo = append(p.solo, scope)
		case w.Membership.Role == palisade.RoleOwner && otherOwners == 0:
			p.blocked = append(p.blocked, w.Workspace.Name)
		default:
			p.shared = append(p.shared, sharedMembership{scope: scope, id: w.Membership.ID, role: w.Membership.Role, name: w.Workspace.Name})
		}
	}
	return p, nil
}

// SoleWorkspaces lists the workspaces that would be deleted with the
// user's account (those they are the only member of), for the page that
// asks to confirm.
func (s *Service) SoleWorkspaces(ctx context.Context, cur Current) ([]string, error) {
	p, err := s.accountDeletionPlan(ctx, cur.User.ID)
	if err != nil {
		return nil, err
	}
	var names []string
	ws, err := s.o.Store.ListUserWorkspaces(ctx, cur.User.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		for _, sc := range p.solo {
			if sc.Workspace() == w.Workspace.ID {
				names = append(names, w.Workspace.Name)
			}
		}
	}
	return names, nil
}
