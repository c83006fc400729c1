package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// KeyStore is the scale-out key store (seal.KeyStore): the key tables of
// sqlstore in the palisade_keys schema, made by `palisade migrate`
// (migration 00006), which a data backup of the public schema leaves out.
// The data keys and tombstones have Row Level Security keyed on the
// workspace's authenticated scope, like every tenant table; the KEKs are
// read-only to the runtime role, so only the admin role makes, rotates and
// retires them.
//
// PostgreSQL keeps a destroyed key's dead row until VACUUM reclaims it (see
// README "Secrets and keys").
type KeyStore struct {
	*sqlstore.KeyStore
	pool *pgxpool.Pool
}

var _ seal.KeyStore = (*KeyStore)(nil)

// Pool exposes the key store's connection pool to tests and tools of this
// module.
func (k *KeyStore) Pool() *pgxpool.Pool { return k.pool }

// keyStoreConns bounds the key store's own pool: it is asked only when a
// key is not cached, and must not take connections from the data store.
const keyStoreConns = 4

// OpenKeyStore connects to the database at url with a small pool of its
// own, tagging its scopes with scopeKey (DeriveScopeKey of the master key).
// As the runtime role it reads the KEKs and manages data keys; making,
// rotating and retiring KEKs needs the admin role (ManagesKEKs). It does
// not migrate: `palisade migrate` does.
func OpenKeyStore(ctx context.Context, url string, scopeKey []byte) (*KeyStore, error) {
	mac, err := newScopeMAC(scopeKey)
	if err != nil {
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("opening key store: invalid PostgreSQL URL")
	}
	cfg.MaxConns = keyStoreConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	return &KeyStore{KeyStore: sqlstore.NewKeyStore(&driver{pool: pool, scope: mac}), pool: pool}, nil
}

// ErrKEKsReadOnly is returned when a role that may only read the KEKs (the
// runtime role) is asked to change them.
var ErrKEKsReadOnly = errors.New("this database role may only read the key-encryption keys: " +
	"`palisade migrate` makes the first one and `palisade keys rotate` the others, both as the admin role")

// ManagesKEKs reports whether the connected role may add, change and
// delete KEKs: the admin role may, the runtime role may not.
func (k *KeyStore) ManagesKEKs(ctx context.Context) (bool, error) {
	var ok bool
	err := k.pool.QueryRow(ctx, `SELECT has_table_privilege('palisade_keys.keks', 'INSERT')
		AND has_table_privilege('palisade_keys.keks', 'UPDATE') AND has_table_privilege('palisade_keys.keks', 'DELETE')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking the role's rights on the KEKs: %w", err)
	}
	return ok, nil
}

// readOnlyKEKs names the refusal of a KEK change to the runtime role.
func readOnlyKEKs(err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == "42501" { // insufficient_privilege
		return fmt.Errorf("%w (%w)", ErrKEKsReadOnly, err)
	}
	return err
}

func (k *KeyStore) InsertKEK(ctx context.Context, w seal.WrappedKEK) error {
	return readOnlyKEKs(k.KeyStore.InsertKEK(ctx, w))
}

func (k *KeyStore) SetCurrentKEK(ctx context.Context, version uint32) error {
	return readOnlyKEKs(k.KeyStore.SetCurrentKEK(ctx, version))
}

func (k *KeyStore) DeleteKEK(ctx context.Context, version uint32) error {
	return readOnlyKEKs(k.KeyStore.DeleteKEK(ctx, version))
}
