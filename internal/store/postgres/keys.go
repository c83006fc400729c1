package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// KeyStore is the scale-out key store (seal.KeyStore): the key tables of
// sqlstore in the palisade_keys schema, made by `palisade migrate`
// (migration 00006), which a data backup of the public schema leaves out.
// The data keys and tombstones have Row Level Security keyed on the
// workspace, like every tenant table.
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

// OpenKeyStore connects to the database at url (the runtime role) with a
// small pool of its own. It does not migrate: `palisade migrate` does.
func OpenKeyStore(ctx context.Context, url string) (*KeyStore, error) {
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
	return &KeyStore{KeyStore: sqlstore.NewKeyStore(&driver{pool: pool}), pool: pool}, nil
}
