package account

import (
	"context"
	"fmt"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/palisade"
)

// What the workspace pages read, each in one query: the signed-in user's
// workspaces, a workspace's members with their users, its pending
// invitations and its API keys with who made each.

// UserWorkspace is one workspace of the signed-in user, with their role
// there.
type UserWorkspace struct {
	palisade.Workspace
	Role palisade.Role
}

// Member is a workspace member with the user's address and name.
type Member struct {
	palisade.Membership
	Email string
	Name  string
}

// APIKey is a workspace's key as its listing shows it. The hash stays in
// the service: no page needs it.
type APIKey struct {
	palisade.APIKey
	// CreatorEmail is the address of the user who made the key; empty
	// when the operator made it with the CLI (CreatedBy is empty then) or
	// the user no longer exists.
	CreatorEmail string
}

// EnterWorkspace checks that the signed-in user is a member of ws and
// returns them acting there with their current role, and the workspace.
// A non-member gets not found, as for a workspace that does not exist.
// Roles are read here on every request, so a change applies at once.
func (s *Service) EnterWorkspace(ctx context.Context, cur Current, ws palisade.WorkspaceID) (Actor, palisade.Workspace, error) {
	if cur.Session.MFAPending {
		return Actor{}, palisade.Workspace{}, ErrNoSession
	}
	if !palisade.ValidID(palisade.PrefixWorkspace, string(ws)) {
		return Actor{}, palisade.Workspace{}, palisade.ErrNotFound
	}
	scope := palisade.ScopeFor(ws)
	m, err := s.o.Store.GetMembership(ctx, scope, cur.User.ID)
	if err != nil {
		return Actor{}, palisade.Workspace{}, err
	}
	w, err := s.o.Store.GetWorkspace(ctx, scope)
	if err != nil {
		return Actor{}, palisade.Workspace{}, err
	}
	return Actor{Current: cur, Scope: scope, Role: m.Role}, w, nil
}

// WorkspaceActive returns palisade.ErrWorkspaceSuspended when the
// operator has suspended the scope's workspace.
// The workspace is cached like keys are: a suspension (made by the CLI)
// and a deletion are announced, and drop it at once.
func (s *Service) WorkspaceActive(ctx context.Context, scope palisade.Scope) error {
	var ticket invalidate.Ticket
	id := string(scope.Workspace())
	if s.workspaces != nil {
		if w, ok := s.workspaces.Get(id); ok {
			return w.CheckActive()
		}
		ticket = s.workspaces.Begin()
	}
	w, err := s.o.Store.GetWorkspace(ctx, scope)
	if err != nil {
		return fmt.Errorf("reading workspace: %w", err)
	}
	if s.workspaces != nil {
		s.workspaces.Put(ticket, id, id, w)
	}
	return w.CheckActive()
}

// Workspaces lists the signed-in user's workspaces with their role in
// each, oldest membership first.
func (s *Service) Workspaces(ctx context.Context, cur Current) ([]UserWorkspace, error) {
	list, err := s.o.Store.ListUserWorkspaces(ctx, cur.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]UserWorkspace, len(list))
	for i, x := range list {
		out[i] = UserWorkspace{Workspace: x.Workspace, Role: x.Membership.Role}
	}
	return out, nil
}

var errNotAllowed = palisade.Errorf(palisade.CodeForbidden, "your role does not allow this")

// Members lists the actor's workspace's members with their users, oldest
// first.
func (s *Service) Members(ctx context.Context, a Actor) ([]Member, error) {
	if !auth.Allows(a.Role, auth.PermMembersRead) {
		return nil, errNotAllowed
	}
	list, err := s.o.Store.ListMembersWithUsers(ctx, a.Scope)
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(list))
	for i, x := range list {
		out[i] = Member{Membership: x.Membership, Email: x.Email, Name: x.Name}
	}
	return out, nil
}

// Invitations lists the actor's workspace's invitations not yet accepted.
func (s *Service) Invitations(ctx context.Context, a Actor) ([]palisade.Invitation, error) {
	if !auth.Allows(a.Role, auth.PermMembersRead) {
		return nil, errNotAllowed
	}
	return s.o.Store.ListInvitations(ctx, a.Scope)
}

// APIKeys lists the actor's workspace's API keys, oldest first, each with
// who made it.
func (s *Service) APIKeys(ctx context.Context, a Actor) ([]APIKey, error) {
	if !auth.Allows(a.Role, auth.PermKeysRead) {
		return nil, errNotAllowed
	}
	list, err := s.o.Store.ListAPIKeys(ctx, a.Scope)
	if err != nil {
		return nil, err
	}
	out := make([]APIKey, len(list))
	for i, x := range list {
		x.Hash = nil
		out[i] = APIKey{APIKey: x.APIKey, CreatorEmail: x.CreatorEmail}
	}
	return out, nil
}
