package palisade

import "time"

// Workspace is a tenant. Every tenant-owned row carries its id.
type Workspace struct {
	ID            WorkspaceID
	Name          string
	RequireMFA    bool
	RetentionDays int
	// AllowedModels narrows the operator's model allowlist for this
	// workspace; empty allows every model the operator does.
	AllowedModels []string
	CreatedAt     time.Time
	// SuspendedAt is when the operator suspended the workspace; nil while
	// it is in use. SuspendedReason is what its members are told.
	SuspendedAt     *time.Time
	SuspendedReason string
}

// Suspended reports whether the operator has suspended the workspace.
func (w Workspace) Suspended() bool { return w.SuspendedAt != nil }

// ErrWorkspaceSuspended refuses what a suspended workspace may not do:
// answer a message, or change anything through the API. The reason is
// not in it: whoever talks to a bot is not told why the operator acted,
// only the workspace's members are, in the admin UI.
var ErrWorkspaceSuspended = Errorf(CodeSuspended, "this workspace is suspended by the operator; its members can see why in the admin UI")

// CheckActive returns ErrWorkspaceSuspended for a suspended workspace.
func (w Workspace) CheckActive() error {
	if w.Suspended() {
		return ErrWorkspaceSuspended
	}
	return nil
}

// AllowsModel reports whether the workspace's own allowlist admits model.
func (w Workspace) AllowsModel(model string) bool {
	if len(w.AllowedModels) == 0 {
		return true
	}
	for _, m := range w.AllowedModels {
		if m == model {
			return true
		}
	}
	return false
}

// User is a person who can sign in. Users are global: one user may be a member
// of several workspaces.
type User struct {
	ID              UserID
	Email           string
	Name            string
	PasswordHash    string // argon2id PHC string; empty until set
	EmailVerifiedAt *time.Time
	TOTPEnabled     bool
	CreatedAt       time.Time
}

// Membership gives a user a role in a workspace.
type Membership struct {
	ID          MembershipID
	WorkspaceID WorkspaceID
	UserID      UserID
	Role        Role
	CreatedAt   time.Time
}

// APIKey is the stored half of an API key: never its plaintext.
type APIKey struct {
	ID          APIKeyID
	WorkspaceID WorkspaceID
	Name        string
	Prefix      string // public lookup prefix
	Hash        []byte // SHA-256 of the whole key
	Scopes      []string
	CreatedBy   UserID // empty when created by the operator CLI
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// Usable reports whether the key may authenticate at now.
func (k APIKey) Usable(now time.Time) bool {
	if k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// PIIMode says where personal data is removed for a bot (R7).
type PIIMode string

const (
	PIIOff           PIIMode = "off"
	PIIBeforeLLM     PIIMode = "before_llm"
	PIIBeforeStorage PIIMode = "before_storage"
)

// Valid reports whether m is a known mode.
func (m PIIMode) Valid() bool {
	return m == PIIOff || m == PIIBeforeLLM || m == PIIBeforeStorage
}

// Bot is a configured chatbot of a workspace.
type Bot struct {
	ID               BotID
	WorkspaceID      WorkspaceID
	Name             string
	SystemPrompt     string
	Model            string
	Temperature      float64
	MaxOutputTokens  int
	PIIMode          PIIMode
	AllowedDomains   []string
	RetentionDays    int
	GatewayTokenHash []byte // SHA-256 of the bot's gateway token
	GatewayTokenSalt []byte // what the token is derived from; rotating changes it
	DailyTokenBudget int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// OneTimeToken purposes.
const (
	TokenSetupOwner    = "setup_owner"
	TokenVerifyEmail   = "verify_email"
	TokenResetPassword = "reset_password"
)
