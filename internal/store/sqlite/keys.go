package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

//go:embed keymigrations/*.sql
var keyMigrationsFS embed.FS

// KeyFileName is the key database's file name in the data directory.
const KeyFileName = "keys.db"

// KeyStore is the embedded key store (seal.KeyStore): the key tables of
// sqlstore in keys.db, a database file of their own beside palisade.db but
// never in it, so a copy or backup of palisade.db holds no key.
//
// Destroying a workspace's data keys deletes them for good: the file runs
// with secure_delete, and its write-ahead log is checkpointed afterwards,
// so the deleted bytes linger neither in keys.db nor in keys.db-wal.
type KeyStore struct {
	*sqlstore.KeyStore
	db *sql.DB
}

var _ seal.KeyStore = (*KeyStore)(nil)

// DB exposes the key database handle to tests and tools of this module.
func (k *KeyStore) DB() *sql.DB { return k.db }

// OpenKeyStore opens the key database at path, normally keys.db in the
// data directory, creating it with mode 0600, and applies its migrations.
// It refuses a file that group or others may access.
func OpenKeyStore(ctx context.Context, path string) (*KeyStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating key database: %w", err)
	}
	f.Close()
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checking key database: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key database %s is accessible to other users (mode %o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	// A lost key is lost data: every commit reaches the disk.
	q.Add("_pragma", "synchronous(FULL)")
	// Deleted keys are overwritten with zeros, not left in free pages.
	q.Add("_pragma", "secure_delete(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening key database: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := MigrateKeys(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &KeyStore{KeyStore: sqlstore.NewKeyStore(&driver{db: db}), db: db}, nil
}

// MigrateKeys applies the key database's embedded migrations; running it
// again changes nothing. A keys.db made before they existed already holds
// the tables of the first one, which adopts them.
func MigrateKeys(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(keyMigrationsFS, "keymigrations")
	if err != nil {
		return fmt.Errorf("reading embedded key migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		return fmt.Errorf("preparing key migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("applying key migrations: %w", err)
	}
	return nil
}

// DestroyDataKeys destroys the workspace's data keys, then checkpoints the
// write-ahead log: secure_delete zeroed the pages in the new log frames,
// and the checkpoint copies them over the file's pages and truncates the
// log, so no earlier frame keeps the key either.
func (k *KeyStore) DestroyDataKeys(ctx context.Context, ws palisade.WorkspaceID) error {
	if err := k.KeyStore.DestroyDataKeys(ctx, ws); err != nil {
		return err
	}
	return k.truncateLog(ctx)
}

// truncateLog checkpoints the write-ahead log and truncates it, and says
// so only when it did: SQLite reports a checkpoint that another
// connection's read snapshot kept from finishing as a row, not an error.
// It retries briefly, each try waiting at most a quarter second for the
// other connection, then reports ErrShredIncomplete.
func (k *KeyStore) truncateLog(ctx context.Context) error {
	conn, err := k.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("checkpointing key database after destroying keys: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 250`); err != nil {
		return fmt.Errorf("checkpointing key database after destroying keys: %w", err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = 10000`) }()
	var busy, frames, copied int
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
			return fmt.Errorf("checkpointing key database after destroying keys: %w", err)
		}
		if busy == 0 && frames == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w (checkpoint busy, %d frames in the log, %d copied)", ErrShredIncomplete, frames, copied)
}

// ErrShredIncomplete reports that a workspace's data keys were deleted but
// the write-ahead log could not be truncated (another connection held it):
// the deleted key may still be read from keys.db-wal until a later
// checkpoint succeeds.
var ErrShredIncomplete = errors.New("the destroyed keys may linger in keys.db-wal: the log could not be truncated")
