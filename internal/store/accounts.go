package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Accounts is what the account service needs beyond
// Users, Tokens, Members and Invitations: credentials, sessions, member
// management and the first owner's creation (SPEC R2).
type Accounts interface {
	// CreateOwner creates a user, a workspace and the user's owner
	// membership in one transaction. When SetupTokenHash is set, the
	// set-up token of that hash is consumed in the same transaction, so a
	// failure leaves the token usable and a token works at most once.
	CreateOwner(ctx context.Context, p CreateOwnerParams) (palisade.User, palisade.Workspace, error)
	// GetCredentials reads the secrets of a user's second factor.
	GetCredentials(ctx context.Context, user palisade.UserID) (Credentials, error)
	SetPassword(ctx context.Context, user palisade.UserID, hash string, now time.Time) error
	MarkEmailVerified(ctx context.Context, user palisade.UserID, now time.Time) error
	// SetTOTP stores a TOTP secret (Enabled false while enrolment is not
	// confirmed) and the recovery code hashes; a nil Secret clears both and
	// disables the second factor.
	SetTOTP(ctx context.Context, user palisade.UserID, p SetTOTPParams) error
	// UseTOTPStep records step as the last one used, only when it is later
	// than the one recorded; otherwise (a replayed code, or a concurrent
	// use of the same code) it returns ErrConflict.
	UseTOTPStep(ctx context.Context, user palisade.UserID, step int64, now time.Time) error
	// ReplaceRecoveryCodes swaps the stored recovery code hashes from old
	// to new only when they still equal old; otherwise ErrConflict. That
	// compare-and-swap is what makes a recovery code single-use under
	// concurrent log-ins.
	ReplaceRecoveryCodes(ctx context.Context, user palisade.UserID, old, new [][]byte, now time.Time) error

	// DeleteUser deletes the user's row and, with it, their sessions,
	// known devices, tokens and any membership still left; ErrNotFound
	// when there is none.
	DeleteUser(ctx context.Context, user palisade.UserID) error

	CreateSession(ctx context.Context, p CreateSessionParams) (palisade.Session, error)
	// GetSessionByHash finds a session by the hash of its token, revoked
	// or not; the caller judges expiry.
	GetSessionByHash(ctx context.Context, hash []byte) (palisade.Session, error)
	// TouchSession records the user's session as seen at now.
	TouchSession(ctx context.Context, user palisade.UserID, id palisade.SessionID, now time.Time) error
	// ListSessions lists a user's sessions that are not revoked and not
	// past their absolute expiry at now.
	ListSessions(ctx context.Context, user palisade.UserID, now time.Time) ([]palisade.Session, error)
	// RevokeSession revokes one of the user's own sessions; another
	// user's session reads as not found.
	RevokeSession(ctx context.Context, user palisade.UserID, id palisade.SessionID, now time.Time) error
	// RevokeUserSessions revokes every session of the user but except
	// (which may be empty) and reports how many went.
	RevokeUserSessions(ctx context.Context, user palisade.UserID, except palisade.SessionID, now time.Time) (int64, error)

	// CreateDevice remembers a browser the user signed in from, by the
	// keyed hash of its device token.
	CreateDevice(ctx context.Context, p CreateDeviceParams) error
	// GetDevice finds the device of hash, or ErrNotFound when there is
	// none or it has expired at now.
	GetDevice(ctx context.Context, hash []byte, now time.Time) (Device, error)
	// DeleteDevice forgets the device of hash when it is the user's;
	// otherwise ErrNotFound.
	DeleteDevice(ctx context.Context, user palisade.UserID, hash []byte) error

	GetMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID) (palisade.Membership, error)
	// UpdateMemberRole changes a member's role from `from`, the role the
	// caller read and decided on, to `to`. The check and the change are
	// one transaction that concurrent member changes of the workspace
	// wait for: it returns ErrRoleChanged when the member's role is no
	// longer from, and ErrLastOwner when it would take the owner role
	// from the workspace's only owner.
	UpdateMemberRole(ctx context.Context, scope palisade.Scope, id palisade.MembershipID, from, to palisade.Role) (palisade.Membership, error)
	// RemoveMember removes a member whose role is still role and, in the
	// same transaction, revokes at now the API keys they made in the
	// workspace, so a key never outlives its creator's membership, even
	// one renewed later. It reports how many keys it revoked. Like
	// UpdateMemberRole it returns ErrRoleChanged or ErrLastOwner and
	// changes nothing.
	RemoveMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID, role palisade.Role, now time.Time) (int64, error)
	// ListInvitations lists the workspace's invitations not yet accepted.
	ListInvitations(ctx context.Context, scope palisade.Scope) ([]palisade.Invitation, error)
	DeleteInvitation(ctx context.Context, scope palisade.Scope, id palisade.InvitationID) error
	SetRequireMFA(ctx context.Context, scope palisade.Scope, require bool) error
}

type CreateOwnerParams struct {
	Email          string
	Name           string
	PasswordHash   string
	EmailVerified  bool
	WorkspaceName  string
	SetupTokenHash []byte // optional: consumed with purpose palisade.TokenSetupOwner
	Now            time.Time
}

// Credentials are a user's second-factor secrets.
type Credentials struct {
	TOTPSecret    []byte // nil when no TOTP secret is stored
	TOTPEnabled   bool
	TOTPLastStep  int64
	RecoveryCodes [][]byte
}

type SetTOTPParams struct {
	Secret        []byte
	Enabled       bool
	RecoveryCodes [][]byte
	Now           time.Time
}

type CreateSessionParams struct {
	UserID     palisade.UserID
	TokenHash  []byte
	MFAPending bool
	IP         string
	UserAgent  string
	Now        time.Time
	ExpiresAt  time.Time
}

// Device is a browser a user has signed in from (a known device).
type Device struct {
	UserID    palisade.UserID
	CreatedAt time.Time
	ExpiresAt time.Time
}

type CreateDeviceParams struct {
	UserID    palisade.UserID
	Hash      []byte // a keyed hash of the device token, never the token
	Now       time.Time
	ExpiresAt time.Time
}
