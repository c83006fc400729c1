package account

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// Actor is a signed-in member acting in one workspace, as EnterWorkspace
// returns it after checking the membership.
type Actor struct {
	Current
	Scope palisade.Scope
	Role  palisade.Role
}

// inWorkspace records what the actor did in its workspace's chain.
func (s *Service) inWorkspace(ctx context.Context, c Client, a Actor, action audit.Action, target string, err error, detail map[string]string) {
	s.record(ctx, c, a.Scope, audit.Entry{Actor: string(a.User.ID), Action: action, Target: target, Outcome: outcome(err), Detail: detail})
}

// mayGrant reports whether actor may give or take away role: the owner
// role needs PermOwnership; anything else PermMembersWrite.
func mayGrant(actor palisade.Role, role palisade.Role) bool {
	if role == palisade.RoleOwner {
		return auth.Allows(actor, auth.PermOwnership)
	}
	return auth.Allows(actor, auth.PermMembersWrite)
}

var errOwnerOnly = palisade.Errorf(palisade.CodeForbidden, "only an owner can grant, change or remove the owner role")

func (s *Service) invitationHash(token secret.Secret) (string, error) {
	h, err := s.o.Tokens.HashOneTimeToken(auth.PurposeInvitation, token)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h), nil
}

// Invite creates an invitation and mails its link.
func (s *Service) Invite(ctx context.Context, a Actor, email string, role palisade.Role, c Client) (palisade.Invitation, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if err := validate.Email("email", email); err != nil {
		return palisade.Invitation{}, err
	}
	if !role.Valid() {
		return palisade.Invitation{}, palisade.FieldError("role", "unknown role")
	}
	if !mayGrant(a.Role, role) {
		return palisade.Invitation{}, errOwnerOnly
	}
	tok, _, err := s.o.Tokens.NewOneTimeToken(auth.PurposeInvitation)
	if err != nil {
		return palisade.Invitation{}, err
	}
	hh, err := s.invitationHash(tok)
	if err != nil {
		return palisade.Invitation{}, err
	}
	now := s.o.Now()
	inv, err := s.o.Store.CreateInvitation(ctx, a.Scope, store.CreateInvitationParams{Email: email, Role: role, TokenHashHex: hh,
		InvitedBy: a.User.ID, Now: now, ExpiresAt: now.Add(InvitationTTL)})
	s.inWorkspace(ctx, c, a, audit.ActionInvitationCreated, email+" as "+string(role), err, nil)
	if err != nil {
		return palisade.Invitation{}, err
	}
	w, err := s.o.Store.GetWorkspace(ctx, a.Scope)
	if err != nil {
		return palisade.Invitation{}, err
	}
	s.send(ctx, mail.Message{To: email, Subject: "You are invited to " + oneLine(w.Name) + " on Palisade",
		Body: a.User.Email + " invited you to the workspace \"" + oneLine(w.Name) + "\" as " + string(role) + ".\n\nAccept at:\n\n" +
			s.link("/invite/"+tok.Reveal()) + "\n\nThe link works once and expires in 7 days."})
	return inv, nil
}

// oneLine keeps a workspace name from breaking a mail header or line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Invitation finds a pending, unexpired invitation by its token.
func (s *Service) Invitation(ctx context.Context, token secret.Secret) (palisade.Invitation, palisade.Workspace, error) {
	hh, err := s.invitationHash(token)
	if err != nil {
		return palisade.Invitation{}, palisade.Workspace{}, err
	}
	inv, err := s.o.Store.LookupInvitation(ctx, hh)
	if errors.Is(err, store.ErrNotFound) || err == nil && !s.o.Now().Before(inv.ExpiresAt) {
		return palisade.Invitation{}, palisade.Workspace{}, errBadLink
	}
	if err != nil {
		return palisade.Invitation{}, palisade.Workspace{}, err
	}
	w, err := s.o.Store.GetWorkspace(ctx, palisade.ScopeFor(inv.WorkspaceID))
	return inv, w, err
}

// AcceptInvitation adds cur (signed in) to the invitation's workspace. The
// signed-in address must be the invited one.
func (s *Service) AcceptInvitation(ctx context.Context, token secret.Secret, cur Current, c Client) (palisade.Membership, error) {
	inv, _, err := s.Invitation(ctx, token)
	if err != nil {
		return palisade.Membership{}, err
	}
	if !secret.Equal(inv.Email, cur.User.Email) {
		return palisade.Membership{}, palisade.Errorf(palisade.CodeForbidden, "this invitation is for another email address; sign in as that address")
	}
	return s.accept(ctx, inv, cur.User.ID, c)
}

func (s *Service) accept(ctx context.Context, inv palisade.Invitation, user palisade.UserID, c Client) (palisade.Membership, error) {
	m, err := s.o.Store.AcceptInvitation(ctx, palisade.ScopeFor(inv.WorkspaceID), inv.ID, user, s.o.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = errBadLink
	case errors.Is(err, store.ErrConflict):
		err = palisade.Errorf(palisade.CodeConflict, "you are already a member of this workspace")
	}
	s.record(ctx, c, palisade.ScopeFor(inv.WorkspaceID), audit.Entry{Actor: string(user), Action: audit.ActionInvitationAccepted, Target: string(inv.ID), Outcome: outcome(err)})
	return m, err
}

// AcceptInvitationNewAccount creates the invited person's account (the
// address is proven by the link) and accepts the invitation, then signs
// them in. An existing account must sign in and accept instead.
func (s *Service) AcceptInvitationNewAccount(ctx context.Context, token secret.Secret, name, password string, c Client) (Issued, error) {
	inv, _, err := s.Invitation(ctx, token)
	if err != nil {
		return Issued{}, err
	}
	n := NewAccount{Email: inv.Email, Name: name, Password: password}
	if err := n.check(false); err != nil {
		return Issued{}, err
	}
	hash, err := s.o.Hasher.Hash(password)
	if err != nil {
		return Issued{}, err
	}
	u, err := s.o.Store.CreateUser(ctx, store.CreateUserParams{Email: n.Email, Name: n.Name, PasswordHash: hash, Now: s.o.Now()})
	if errors.Is(err, store.ErrConflict) {
		return Issued{}, palisade.Errorf(palisade.CodeConflict, "an account with this email exists: sign in, then open the link again")
	}
	if err != nil {
		return Issued{}, err
	}
	_ = s.o.Store.MarkEmailVerified(ctx, u.ID, s.o.Now())
	if _, err := s.accept(ctx, inv, u.ID, c); err != nil {
		return Issued{}, err
	}
	return s.issue(ctx, u.ID, false, c)
}

// RevokeInvitation deletes a pending invitation.
func (s *Service) RevokeInvitation(ctx context.Context, a Actor, id palisade.InvitationID, c Client) error {
	invs, err := s.o.Store.ListInvitations(ctx, a.Scope)
	if err != nil {
		return err
	}
	for _, inv := range invs {
		if inv.ID == id && !mayGrant(a.Role, inv.Role) {
			return errOwnerOnly
		}
	}
	err = s.o.Store.DeleteInvitation(ctx, a.Scope, id)
	s.inWorkspace(ctx, c, a, audit.ActionInvitationRevoked, string(id), err, nil)
	return err
}

// ChangeRole changes a member's role. Granting or taking the owner role
// needs an owner; the last owner cannot be demoted. The store makes the
// change only if the member's role is still the one read here and an
// owner remains, in one transaction that concurrent changes of the
// workspace's members wait for, so two owners demoting each other at the
// same moment cannot both succeed. The member's sessions are left alone:
// roles are read on every request, so the change applies at once.
func (s *Service) ChangeRole(ctx context.Context, a Actor, id palisade.MembershipID, role palisade.Role, c Client) (palisade.Membership, error) {
	if !role.Valid() {
		return palisade.Membership{}, palisade.FieldError("role", "unknown role")
	}
	m, err := s.o.Store.GetMember(ctx, a.Scope, id)
	if err != nil {
		return palisade.Membership{}, err
	}
	if !mayGrant(a.Role, m.Role) || !mayGrant(a.Role, role) {
		return palisade.Membership{}, errOwnerOnly
	}
	m, err = s.o.Store.UpdateMemberRole(ctx, a.Scope, id, m.Role, role)
	s.invalidate(ctx, string(a.Scope.Workspace()))
	s.inWorkspace(ctx, c, a, audit.ActionMemberRoleChanged, string(id)+" to "+string(role), err, nil)
	return m, err
}

// RemoveMember removes a member (not the last owner, checked with the
// removal as in ChangeRole; owners only by an owner). The removed user's
// access ends at once: membership is read on every request. The API keys
// they made in the workspace are revoked with the removal, so none comes
// back should they be invited again.
func (s *Service) RemoveMember(ctx context.Context, a Actor, id palisade.MembershipID, c Client) error {
	m, err := s.o.Store.GetMember(ctx, a.Scope, id)
	if err != nil {
		return err
	}
	if !mayGrant(a.Role, m.Role) {
		return errOwnerOnly
	}
	revoked, err := s.o.Store.RemoveMember(ctx, a.Scope, id, m.Role, s.o.Now())
	s.invalidate(ctx, string(a.Scope.Workspace()))
	s.inWorkspace(ctx, c, a, audit.ActionMemberRemoved, string(id), err, map[string]string{"api_keys_revoked": strconv.FormatInt(revoked, 10)})
	return err
}

// SetRequireMFA sets whether members need TOTP; only owners may (the admin
// UI guards the route with PermOwnership). Turning it on requires the
// owner's own TOTP to be on, so they do not lock themselves out.
func (s *Service) SetRequireMFA(ctx context.Context, a Actor, require bool, c Client) error {
	if !auth.Allows(a.Role, auth.PermOwnership) {
		return errOwnerOnly
	}
	if require && !a.User.TOTPEnabled {
		return palisade.Errorf(palisade.CodeConflict, "turn on your own two-factor authentication first")
	}
	err := s.o.Store.SetRequireMFA(ctx, a.Scope, require)
	s.inWorkspace(ctx, c, a, audit.ActionMFARequired, string(a.Scope.Workspace()), err, map[string]string{"required": strconv.FormatBool(require)})
	return err
}

// NewKey is a freshly created API key; Plaintext is shown once.
type NewKey struct {
	Key       palisade.APIKey
	Plaintext secret.Secret
}

// CreateAPIKey creates a key with scopes and an optional lifetime in days
// (0: no expiry).
func (s *Service) CreateAPIKey(ctx context.Context, a Actor, name string, scopes []string, days int, c Client) (NewKey, error) {
	name = strings.TrimSpace(name)
	if err := validate.Name("name", name, 100); err != nil {
		return NewKey{}, err
	}
	parsed, err := auth.ParseScopeList(scopes)
	if err != nil {
		return NewKey{}, err
	}
	if len(parsed) == 0 {
		return NewKey{}, palisade.FieldError("scopes", "choose at least one scope")
	}
	if days < 0 || days > 3650 {
		return NewKey{}, palisade.FieldError("days", "expiry must be between 0 and 3650 days")
	}
	plain, prefix, hash := auth.NewAPIKey()
	now := s.o.Now()
	p := store.CreateAPIKeyParams{Name: name, Prefix: prefix, Hash: hash, CreatedBy: a.User.ID, Now: now}
	for _, sc := range parsed {
		p.Scopes = append(p.Scopes, string(sc))
	}
	if days > 0 {
		exp := now.Add(time.Duration(days) * 24 * time.Hour)
		p.ExpiresAt = &exp
	}
	k, err := s.o.Store.CreateAPIKey(ctx, a.Scope, p)
	s.inWorkspace(ctx, c, a, audit.ActionAPIKeyCreated, string(k.ID), err, nil)
	if err != nil {
		return NewKey{}, err
	}
	return NewKey{Key: k, Plaintext: plain}, nil
}

// RevokeAPIKey revokes a key at once.
func (s *Service) RevokeAPIKey(ctx context.Context, a Actor, id palisade.APIKeyID, c Client) error {
	err := s.o.Store.RevokeAPIKey(ctx, a.Scope, id, s.o.Now())
	s.invalidate(ctx, string(a.Scope.Workspace()))
	s.inWorkspace(ctx, c, a, audit.ActionAPIKeyRevoked, string(id), err, nil)
	return err
}

// Now is the service's clock, for pages that show ages and expiry.
func (s *Service) Now() time.Time { return s.o.Now() }
