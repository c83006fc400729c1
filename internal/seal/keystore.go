package seal

import (
	"context"
	"errors"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Errors. Callers test them with errors.Is; none of them carries key
// material or plaintext.
var (
	// ErrOpen: an envelope does not open. It is malformed, was sealed for
	// another workspace, table, column, row or user, was tampered with, or
	// its key is not the one that sealed it.
	ErrOpen = errors.New("seal: sealed value does not open")
	// ErrKeyDestroyed: the workspace's data keys were destroyed
	// (crypto-shredding); nothing sealed for it can be opened again.
	ErrKeyDestroyed = errors.New("seal: the workspace's keys were destroyed")
	// ErrKeyNotFound: no such KEK or data key version (a data key version
	// retired before every field was resealed, or a damaged envelope).
	ErrKeyNotFound = errors.New("seal: no such key version")
	// ErrKeyExists: a key of that version is already stored. KeyStore
	// implementations return it on a duplicate insert.
	ErrKeyExists = errors.New("seal: key version already exists")
	// ErrKeyInUse: a KEK cannot be retired while it is current or still
	// wraps a data key.
	ErrKeyInUse = errors.New("seal: key is still in use")
	// ErrWrongMasterKey: the master key does not open the stored KEKs.
	ErrWrongMasterKey = errors.New("seal: the master key does not open the stored key-encryption keys")
	// ErrKEKNotCurrent: a data key was offered wrapped by a KEK that is not
	// (or no longer) the current one. KeyStore implementations return it
	// from InsertDataKey; the keyring wraps again under the current KEK.
	ErrKEKNotCurrent = errors.New("seal: the key-encryption key is not the current one")
	// ErrKEKsMissing: the key store holds data keys but no KEK. Someone
	// deleted the KEKs, or the key store is damaged; making a new KEK then
	// would leave every data key, and everything sealed, unreadable for
	// good, so the keyring refuses to start instead.
	ErrKEKsMissing = errors.New("seal: the key store holds data keys but no key-encryption key; " +
		"the KEKs were deleted or the key store is damaged: restore them from a key backup (a new KEK would not open any data key)")
)

// WrappedKEK is a key-encryption key as stored: wrapped by the master key.
type WrappedKEK struct {
	Version uint32
	// Wrapped is nonce || AES-256-GCM(master, kek) with AAD naming the
	// version.
	Wrapped   []byte
	Current   bool
	CreatedAt time.Time
}

// WrappedDataKey is one version of a workspace's data key as stored:
// wrapped by the KEK of version KEKVersion.
type WrappedDataKey struct {
	Workspace  palisade.WorkspaceID
	Version    uint32
	KEKVersion uint32
	// Wrapped is nonce || AES-256-GCM(kek, key) with AAD naming the
	// workspace, this version and the KEK version.
	Wrapped   []byte
	CreatedAt time.Time
}

// KeyStore persists wrapped keys. It holds nothing that opens without the
// master key, and it must live apart from the data the keys protect (its own
// table or file, left out of data backups). Implementations are safe for
// concurrent use, and several processes may share one store: inserts are
// the points where they agree. The conformance suite in seal/sealtest pins
// down every method's behaviour.
type KeyStore interface {
	// ListKEKs returns every KEK, in ascending version order.
	ListKEKs(ctx context.Context) ([]WrappedKEK, error)
	// InsertKEK adds a KEK that is not current (k.Current is ignored);
	// ErrKeyExists if its version is taken.
	InsertKEK(ctx context.Context, k WrappedKEK) error
	// SetCurrentKEK makes the version the only current KEK, atomically;
	// ErrKeyNotFound if there is no such version.
	SetCurrentKEK(ctx context.Context, version uint32) error
	// DeleteKEK removes a KEK that is not current; ErrKeyNotFound if there
	// is no such version, ErrKeyInUse if it is the current one.
	DeleteKEK(ctx context.Context, version uint32) error

	// DataKeys returns every version of the workspace's data key in
	// ascending version order, none if it has none yet, and ErrKeyDestroyed
	// if DestroyDataKeys was called for it.
	DataKeys(ctx context.Context, ws palisade.WorkspaceID) ([]WrappedDataKey, error)
	// InsertDataKey adds a data key version; ErrKeyExists if the workspace
	// already has that version, ErrKeyDestroyed if the workspace's keys were
	// destroyed, ErrKEKNotCurrent unless k.KEKVersion is the current KEK in
	// the same transaction. That last check is what keeps a concurrent KEK
	// rotation from orphaning a new data key: a key wrapped by the KEK that
	// was current a moment ago would otherwise land after the rotation
	// rewrapped every data key, under a KEK about to be retired.
	InsertDataKey(ctx context.Context, k WrappedDataKey) error
	// RewrapDataKey replaces the wrapping (Wrapped and KEKVersion) of the
	// data key (k.Workspace, k.Version) if it is still wrapped by fromKEK,
	// and reports whether it did: a concurrent rewrap is not an error.
	RewrapDataKey(ctx context.Context, k WrappedDataKey, fromKEK uint32) (bool, error)
	// DeleteDataKey removes one version of a workspace's data key;
	// ErrKeyNotFound if there is no such version.
	DeleteDataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) error
	// DestroyDataKeys deletes every version of the workspace's data key and
	// records that the workspace is destroyed, so that no key is made for it
	// again. Destroying twice is not an error.
	DestroyDataKeys(ctx context.Context, ws palisade.WorkspaceID) error
	// ListDataKeys returns every data key of every workspace, ordered by
	// workspace and version.
	ListDataKeys(ctx context.Context) ([]WrappedDataKey, error)
}
