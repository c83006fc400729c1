package store

import (
	"context"
	"errors"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Sealer seals and opens single fields of the database (SPEC.md R3). The
// store calls it on every write and read of a sealed column, binding the
// workspace and the field (table, column and row id), so a sealed value
// copied to any other place fails to open. *seal.Keyring implements it.
type Sealer interface {
	Seal(ctx context.Context, ws palisade.WorkspaceID, f palisade.SealedField, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ws palisade.WorkspaceID, f palisade.SealedField, sealed []byte) ([]byte, error)
	// Reseal returns the value sealed under the workspace's newest keys,
	// or the same bytes when it already is (after checking they open).
	Reseal(ctx context.Context, ws palisade.WorkspaceID, f palisade.SealedField, sealed []byte) ([]byte, error)
	// DestroyWorkspace destroys the workspace's keys (crypto-shredding):
	// nothing sealed for it opens again, in the database or in any copy of
	// it.
	DestroyWorkspace(ctx context.Context, ws palisade.WorkspaceID) error
}

// UserSealer seals the secrets that belong to a user rather than a
// workspace (TOTP secrets: users are global, so no workspace data key
// applies), bound to the user id and column. *seal.UserSealer implements
// it.
type UserSealer interface {
	SealUser(ctx context.Context, user palisade.UserID, column string, plaintext []byte) ([]byte, error)
	OpenUser(ctx context.Context, user palisade.UserID, column string, sealed []byte) ([]byte, error)
}

// ErrNoSealer: a sealed column was to be written or read by a store opened
// without a Sealer. The store never writes such a column in plaintext.
var ErrNoSealer = errors.New("store: no sealer configured; sealed columns cannot be written or read")

// SealedColumn names one sealed column. The row id bound into each of its
// values is the row's primary key, the column "id".
type SealedColumn struct {
	Table  string
	Column string
}

// SealedColumns lists every sealed column of the schema. `palisade keys
// reencrypt` walks exactly these; a new sealed column must be added here.
var SealedColumns = []SealedColumn{
	{Table: "channels", Column: "sealed_credentials"},
	{Table: "channels", Column: "sealed_secret"},
	{Table: "idempotency_keys", Column: "sealed_response"},
	{Table: "messages", Column: "sealed_body"},
	{Table: "provider_keys", Column: "sealed_key"},
	{Table: "event_endpoints", Column: "sealed_secret"},
	{Table: "messages", Column: "sealed_sources"},
	{Table: "channels", Column: "sealed_gateway_session"},
}

// GatewaySession is a Discord channel's Gateway session as last saved:
// the session id (sealed: it lets a holder of the token take the session
// over), the URL to resume on, and the sequence number of the last
// dispatch whose effect is durably stored. Zero when there is none.
type GatewaySession struct {
	SessionID secret.Secret
	ResumeURL string
	Seq       int64
}

// ProviderKeyID identifies a workspace's own provider key ("sec_…").
type ProviderKeyID string

// NewProviderKeyID returns a fresh provider key id.
func NewProviderKeyID() ProviderKeyID { return ProviderKeyID(palisade.NewID(palisade.PrefixSecret)) }

// ParseProviderKeyID checks a provider key id's pattern.
func ParseProviderKeyID(s string) (ProviderKeyID, error) {
	if !palisade.ValidID(palisade.PrefixSecret, s) {
		return "", palisade.FieldError("provider_key", "malformed provider key id")
	}
	return ProviderKeyID(s), nil
}

type CreateChannelParams struct {
	BotID       palisade.BotID
	Kind        string
	Name        string
	ExternalID  string
	Config      string
	Credentials secret.Secret // optional; sealed
	Secret      secret.Secret // optional; sealed (the webhook secret)
	// Status is the channel's state; empty means "active".
	Status string
	Now    time.Time
}

// UpdateChannelParams are the fields UpdateChannel may change; nil leaves
// a field as it is.
type UpdateChannelParams struct {
	Name       *string
	ExternalID *string
	Config     *string
	Status     *string
	Now        time.Time
}

// WebhookChannel is a channel as an inbound webhook needs it: the row, and
// the verification secret (Telegram's secret token, Slack's signing
// secret, ...) opened from its sealed column; zero when the channel has
// none.
type WebhookChannel struct {
	Channel palisade.Channel
	Secret  secret.Secret
}

// ProviderKey is an LLM provider key a workspace brings. The key itself is
// sealed; Key is set only by GetProviderKey, and Last4 is what responses may
// show.
type ProviderKey struct {
	ID          ProviderKeyID
	WorkspaceID palisade.WorkspaceID
	Provider    string
	BaseURL     string
	Key         secret.Secret
	CreatedAt   time.Time
}

type CreateProviderKeyParams struct {
	Provider string
	BaseURL  string
	Key      secret.Secret
	Now      time.Time
}

// ResealResult says what one ResealFields batch did.
type ResealResult struct {
	Seen    int  // sealed values visited
	Changed int  // values rewritten under the newest key
	Done    bool // nothing is left after Next
	// Next is where the following batch starts.
	Next ResealCursor
}

// ResealCursor is a position in the walk over a workspace's sealed values:
// the index in SealedColumns and the last row id visited there.
type ResealCursor struct {
	Column int
	After  string
}

// Sealing holds the sealed secrets of channels and provider keys, and the
// walk `palisade keys reencrypt` makes over every sealed value.
type Sealing interface {
	CreateChannel(ctx context.Context, scope palisade.Scope, p CreateChannelParams) (palisade.Channel, error)
	GetChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (palisade.Channel, error)
	ListChannels(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Channel, error)
	// SetChannelCredentials and SetChannelSecret replace a sealed value; a
	// zero secret clears it.
	SetChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, creds secret.Secret, now time.Time) error
	SetChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, s secret.Secret, now time.Time) error
	// ChannelCredentials and ChannelSecret open the sealed values; a zero
	// secret when unset.
	ChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error)
	ChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error)
	// SetChannelGatewaySession replaces the channel's Gateway session; a
	// zero session id clears it. SetChannelGatewaySeq advances only the
	// sequence number, after the dispatch it names has been saved.
	// ChannelGatewaySession reads it back, zero when none is stored.
	SetChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, g GatewaySession) error
	SetChannelGatewaySeq(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, seq int64) error
	ChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (GatewaySession, error)
	// UpdateChannel changes the fields of p that are set, and returns the
	// channel as stored.
	UpdateChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, p UpdateChannelParams) (palisade.Channel, error)
	// DeleteChannel removes the channel with its sealed values.
	DeleteChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) error
	// LookupWebhookChannel finds a bot's channel of one kind, with its
	// verification secret opened, before any scope is known: the bot id
	// and the kind, which together name a webhook URL, are the only thing
	// that lets the row be seen. It runs exactly one query. A bot without
	// such a channel, or no bot at all, is ErrNotFound.
	LookupWebhookChannel(ctx context.Context, bot palisade.BotID, kind string) (WebhookChannel, error)

	CreateProviderKey(ctx context.Context, scope palisade.Scope, p CreateProviderKeyParams) (ProviderKey, error)
	// GetProviderKey returns the key with its sealed value opened.
	GetProviderKey(ctx context.Context, scope palisade.Scope, id ProviderKeyID) (ProviderKey, error)
	// ListProviderKeys lists the workspace's keys without opening them.
	ListProviderKeys(ctx context.Context, scope palisade.Scope) ([]ProviderKey, error)
	UpdateProviderKey(ctx context.Context, scope palisade.Scope, id ProviderKeyID, key secret.Secret) error
	DeleteProviderKey(ctx context.Context, scope palisade.Scope, id ProviderKeyID) error

	// CountSealedFields counts the workspace's sealed values.
	CountSealedFields(ctx context.Context, scope palisade.Scope) (int, error)
	// ResealFields reseals up to limit sealed values of the workspace from
	// the cursor on, through the Sealer, each written back only if it did
	// not change meanwhile. Each read and each write is its own short
	// transaction, so a server keeps running alongside.
	ResealFields(ctx context.Context, scope palisade.Scope, from ResealCursor, limit int) (ResealResult, error)
}
