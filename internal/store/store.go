// Package store is the database seam: the interfaces and parameter structs
// every other package uses to reach data, implemented for SQLite
// (store/sqlite) and PostgreSQL (store/postgres) and held to one conformance
// suite (store/storetest).
//
// Every method on tenant data takes a Scope, never a bare workspace id from
// the caller, and another workspace's row reads as not found. This package
// must never contain SQL or import a database driver; only its
// implementations do.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Errors every implementation returns for the same situations.
var (
	ErrNotFound = palisade.ErrNotFound
	ErrConflict = palisade.ErrConflict
	ErrNoScope  = errors.New("store: call without a valid workspace scope")
	// ErrLastOwner refuses a member change that would leave a workspace
	// without an owner.
	ErrLastOwner = palisade.Errorf(palisade.CodeConflict, "a workspace needs at least one owner")
	// ErrRoleChanged refuses a member change when the member's role is no
	// longer the one the caller read and decided on.
	ErrRoleChanged = palisade.Errorf(palisade.CodeConflict, "this member's role has just changed; reload the page and try again")
)

// Dialect names an implementation.
type Dialect string

const (
	DialectSQLite   Dialect = "sqlite"
	DialectPostgres Dialect = "postgres"
)

// Store is the whole data-access layer.
type Store interface {
	Dialect() Dialect
	Ping(ctx context.Context) error
	Close() error

	Workspaces
	Users
	Tokens
	Members
	Invitations
	Accounts
	APIKeys
	Bots
	Deliveries
	Replies
	ReplyOrdering
	Knowledge
	Conversations
	ConversationListing
	Idempotency
	Usage
	Activity
	GatewayNonces
	Maintenance
	AuditLog
	Sealing
	Leases
	Billing
	EventHooks
	Exports

	// Jobs is the durable queue living in the same database.
	Jobs() JobQueue
}

// Workspaces are platform-level rows; creating one is an operator or
// sign-up action, reading one needs its scope.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, p CreateWorkspaceParams) (palisade.Workspace, error)
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	// SetWorkspaceModels sets the workspace's own model allowlist, which
	// narrows the operator's; empty allows every model the operator does.
	SetWorkspaceModels(ctx context.Context, scope palisade.Scope, models []string) error
	// SetWorkspaceSuspension suspends the workspace with a reason, or
	// resumes it, and returns it as it now is.
	SetWorkspaceSuspension(ctx context.Context, scope palisade.Scope, p SuspensionParams) (palisade.Workspace, error)
	// SetWorkspaceRetention sets how many days the workspace keeps
	// messages (MinRetentionDays to MaxRetentionDays).
	SetWorkspaceRetention(ctx context.Context, scope palisade.Scope, days int) error
	// ListWorkspaceIDs lists every workspace, for operator-wide work such as
	// key rotation and pruning, which then scope each one in turn.
	ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error)
	// DeleteWorkspace removes the workspace and all its tenant rows, its
	// audit chain with them. So that the chain's end stays on record, the
	// same transaction first appends to the platform audit chain the entry
	// p.Record makes from the chain's final head, and returns that entry
	// as stored. Without p.Record and p.Seal it deletes nothing.
	DeleteWorkspace(ctx context.Context, scope palisade.Scope, p DeleteWorkspaceParams) (AuditEntry, error)
}

// AuditActionWorkspaceDeleted is the platform audit action a workspace's
// deletion is recorded under (package audit's ActionWorkspaceDeleted). On
// PostgreSQL the function that deletes a workspace row looks for an entry
// of it in the same transaction.
const AuditActionWorkspaceDeleted = "workspace.deleted"

// SuspensionParams suspends a workspace (Suspend, with Reason, at Now) or
// resumes it (Suspend false).
type SuspensionParams struct {
	Suspend bool
	Reason  string
	Now     time.Time
}

type CreateWorkspaceParams struct {
	Name string
	Now  time.Time
}

// Users are global accounts.
type Users interface {
	CreateUser(ctx context.Context, p CreateUserParams) (palisade.User, error)
	GetUser(ctx context.Context, id palisade.UserID) (palisade.User, error)
	GetUserByEmail(ctx context.Context, email string) (palisade.User, error)
	CountUsers(ctx context.Context) (int, error)
}

type CreateUserParams struct {
	Email        string // stored lower-cased
	Name         string
	PasswordHash string
	Now          time.Time
}

// Tokens are one-time tokens (set-up, e-mail verification, reset), stored
// hashed and consumed at most once.
type Tokens interface {
	CreateOneTimeToken(ctx context.Context, p CreateTokenParams) error
	// ConsumeOneTimeToken marks the token used and returns it, or ErrNotFound
	// when it does not exist, is used, or has expired at now.
	ConsumeOneTimeToken(ctx context.Context, purpose string, hash []byte, now time.Time) (OneTimeToken, error)
}

type CreateTokenParams struct {
	Purpose   string
	Hash      []byte
	Email     string
	UserID    palisade.UserID // optional
	Now       time.Time
	ExpiresAt time.Time
}

type OneTimeToken struct {
	Purpose   string
	Email     string
	UserID    palisade.UserID
	ExpiresAt time.Time
}

// Members links users to workspaces with a role.
type Members interface {
	AddMember(ctx context.Context, scope palisade.Scope, user palisade.UserID, role palisade.Role, now time.Time) (palisade.Membership, error)
	GetMembership(ctx context.Context, scope palisade.Scope, user palisade.UserID) (palisade.Membership, error)
	ListMembers(ctx context.Context, scope palisade.Scope) ([]palisade.Membership, error)
	// ListMembersWithUsers lists the workspace's members with each one's
	// e-mail address and name, oldest membership first, in one query.
	ListMembersWithUsers(ctx context.Context, scope palisade.Scope) ([]MemberWithUser, error)
	// ListUserMemberships lists the memberships of one user across
	// workspaces, the only cross-workspace read, keyed on the user.
	ListUserMemberships(ctx context.Context, user palisade.UserID) ([]palisade.Membership, error)
	// ListUserWorkspaces is ListUserMemberships with each membership's
	// workspace, in one query and in the same order.
	ListUserWorkspaces(ctx context.Context, user palisade.UserID) ([]UserWorkspace, error)
}

// MemberWithUser is a membership with its user's address and name.
type MemberWithUser struct {
	palisade.Membership
	Email string
	Name  string
}

// UserWorkspace is one of a user's memberships with the workspace it is
// in.
type UserWorkspace struct {
	Membership palisade.Membership
	Workspace  palisade.Workspace
}

// Invitations invite an e-mail address into a workspace with a role. The
// set-up link of a new workspace's owner is an owner invitation.
type Invitations interface {
	CreateInvitation(ctx context.Context, scope palisade.Scope, p CreateInvitationParams) (palisade.Invitation, error)
	// LookupInvitation finds a pending invitation by the hex SHA-256 of its
	// token, before any scope is known: the token hash is the only thing that
	// lets the row be seen.
	LookupInvitation(ctx context.Context, tokenHashHex string) (palisade.Invitation, error)
	// AcceptInvitation marks the invitation accepted and adds the member, in
	// one transaction; a second acceptance finds nothing.
	AcceptInvitation(ctx context.Context, scope palisade.Scope, id palisade.InvitationID, user palisade.UserID, now time.Time) (palisade.Membership, error)
}

type CreateInvitationParams struct {
	Email        string
	Role         palisade.Role
	TokenHashHex string
	InvitedBy    palisade.UserID
	Now          time.Time
	ExpiresAt    time.Time
}

// APIKeys stores API keys by hash with a public lookup prefix.
type APIKeys interface {
	CreateAPIKey(ctx context.Context, scope palisade.Scope, p CreateAPIKeyParams) (palisade.APIKey, error)
	// ListAPIKeys lists the workspace's keys, oldest first, each with its
	// creator's e-mail address when a user made it, in one query.
	ListAPIKeys(ctx context.Context, scope palisade.Scope) ([]ListedAPIKey, error)
	RevokeAPIKey(ctx context.Context, scope palisade.Scope, id palisade.APIKeyID, now time.Time) error
	// LookupAPIKey finds a key by its public prefix, before any scope is known
	// (the prefix itself is the only thing that lets the row be seen), with
	// its creator's current role in the key's workspace, in one query.
	LookupAPIKey(ctx context.Context, prefix string) (FoundAPIKey, error)
	TouchAPIKey(ctx context.Context, scope palisade.Scope, id palisade.APIKeyID, now time.Time) error
}

// ListedAPIKey is a key as the workspace's listing returns it.
type ListedAPIKey struct {
	palisade.APIKey
	// CreatorEmail is the address of the user who made the key; empty
	// when the operator made it with the CLI (CreatedBy empty) or the
	// user no longer exists.
	CreatorEmail string
}

// FoundAPIKey is a key as the lookup by prefix returns it, with what
// authorising a request needs to know of the key's creator.
type FoundAPIKey struct {
	palisade.APIKey
	// CreatorRole is the current role, in the key's workspace, of the user
	// who made the key; empty when the operator made it with the CLI
	// (CreatedBy empty) or when its creator is no longer a member.
	CreatorRole palisade.Role
}

type CreateAPIKeyParams struct {
	Name      string
	Prefix    string
	Hash      []byte
	Scopes    []string
	CreatedBy palisade.UserID
	Now       time.Time
	ExpiresAt *time.Time
}

// Bots stores bot configuration.
type Bots interface {
	CreateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	ListBots(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
	// ListBotsPage returns up to p.Limit bots (1..MaxPage+1, bounded)
	// after p.After, oldest first by creation time then id: one keyset
	// page, read through the index on (workspace_id, created_at, id), so
	// a page costs the same whatever the workspace holds.
	ListBotsPage(ctx context.Context, scope palisade.Scope, p ListBotsParams) ([]palisade.Bot, error)
	// UpdateBot writes the bot's configuration, never its gateway token.
	UpdateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error)
	// RotateBotToken replaces the bot's gateway token salt and hash.
	RotateBotToken(ctx context.Context, scope palisade.Scope, id palisade.BotID, salt, hash []byte, now time.Time) (palisade.Bot, error)
	DeleteBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) error
	// LookupBotWorkspace finds which workspace a bot id belongs to, for
	// routes that carry only the bot id (webhooks, widget); the id itself is
	// the only thing that lets the row be seen.
	LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error)
}

// Deliveries records inbound deliveries (webhooks) for deduplication and
// enqueues their job in the same transaction, so an accepted delivery is
// never lost and a replay never produces a second job.
type Deliveries interface {
	// RecordDelivery inserts the dedupe record and, when it is new, the job.
	// It reports whether the delivery was new.
	RecordDelivery(ctx context.Context, scope palisade.Scope, p DeliveryParams, job JobArgs) (bool, error)
}

type DeliveryParams struct {
	BotID  palisade.BotID
	Source string // e.g. "telegram"
	Key    string // the platform's delivery id
	Now    time.Time
}

// Maintenance covers operator-wide housekeeping.
type Maintenance interface {
	// PruneExpired deletes expired one-time tokens, known devices,
	// invitations, gateway nonces, usage reservations and idempotency
	// records, and dedupe records and reply records older than dedupeTTL,
	// and reports how many rows went.
	PruneExpired(ctx context.Context, now time.Time, dedupeTTL time.Duration) (int64, error)
	// PruneAll deletes everything PruneExpired does, expired and revoked
	// sessions, and the messages and conversations older than their
	// retention (the bot's own, or else its workspace's), and reports how
	// many rows went of each kind.
	PruneAll(ctx context.Context, now time.Time, dedupeTTL time.Duration) (PruneReport, error)
}

// Retention limits: a workspace keeps messages between MinRetentionDays
// and MaxRetentionDays (DefaultRetentionDays unless changed); a bot's own
// retention, when not zero, overrides it within the same bounds.
const (
	MinRetentionDays     = 1
	MaxRetentionDays     = 3650
	DefaultRetentionDays = 90
)

// PruneCount is how many rows of one kind a prune deleted.
type PruneCount struct {
	Kind string
	Rows int64
}

// PruneReport lists what a prune deleted, kind by kind, in the order the
// kinds were pruned.
type PruneReport []PruneCount

// Add counts n more rows of kind.
func (r *PruneReport) Add(kind string, n int64) {
	for i := range *r {
		if (*r)[i].Kind == kind {
			(*r)[i].Rows += n
			return
		}
	}
	*r = append(*r, PruneCount{Kind: kind, Rows: n})
}

// Total is the number of rows deleted of every kind.
func (r PruneReport) Total() int64 {
	var n int64
	for _, c := range r {
		n += c.Rows
	}
	return n
}

// Rows is how many rows of kind were deleted.
func (r PruneReport) Rows(kind string) int64 {
	for _, c := range r {
		if c.Kind == kind {
			return c.Rows
		}
	}
	return 0
}

// JobArgs is a durable job's arguments (River's JobArgs).
type JobArgs interface{ Kind() string }

// JobQueue is the insert side of the durable queue living in the store's
// database; the store's own transactions (RecordDelivery) insert through
// it too. Jobs are worked elsewhere (package job), by a client built on
// the same database where the workers are wired.
type JobQueue interface {
	Enqueue(ctx context.Context, args JobArgs) error
	// Count reports how many jobs of kind exist in any state, for the
	// queue's metrics and for tests that prove a job was inserted once.
	Count(ctx context.Context, kind string) (int, error)
}
