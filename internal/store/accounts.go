package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Accounts is what the account service needs beyond the foundation's
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

	GetMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID) (palisade.Membership, error)
	UpdateMemberRole(ctx context.Context, scope palisade.Scope, id palisade.MembershipID, role palisade.Role) (palisade.Membership, error)
	RemoveMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID) error
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
