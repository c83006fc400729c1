// Package keystore is where Palisade keeps its wrapped keys (seal.KeyStore),
// apart from the data they protect: on SQLite in its own database file,
// keys.db in the data directory, so a copy or backup of palisade.db never
// holds a data key; on PostgreSQL in the tables of the palisade_keys
// schema, which a data backup of the public schema leaves out. It also
// holds Sealer, the adapter through which the store seals its columns with
// a seal.Keyring.
//
// Destroying a workspace's data keys deletes them for good: SQLite runs
// with secure_delete and checkpoints its write-ahead log afterwards, so the
// deleted bytes do not linger in keys.db or keys.db-wal; PostgreSQL keeps
// dead rows until VACUUM (see README "Secrets and keys").
//
// It must never hold an unwrapped key, never log a wrapped one, and never
// let a destroyed workspace get a data key again.
package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
)

// FileName is the key database's file name in the data directory.
const FileName = "keys.db"

// DB is a seal.KeyStore over SQL: SQLite (keys.db) or PostgreSQL
// (the palisade_keys schema). Both run the same statements.
type DB struct {
	db *sql.DB
	pg bool
	// Qualified table names: constants, never input.
	keks, dataKeys, destroyed string
	closePool                 func()
}

var _ seal.KeyStore = (*DB)(nil)

// sqliteSchema is keys.db's whole schema. The data keys carry no foreign
// key to workspaces: they live in another file, and the tombstones of
// destroyed workspaces must outlive the workspace rows.
const sqliteSchema = `
CREATE TABLE IF NOT EXISTS keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS data_keys (
    workspace_id  TEXT NOT NULL,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
CREATE TABLE IF NOT EXISTS destroyed_workspaces (
    workspace_id  TEXT PRIMARY KEY,
    destroyed_at  INTEGER NOT NULL
);
`

// OpenSQLite opens (creating with mode 0600) the key database at path,
// normally keys.db in the data directory, beside palisade.db but never in
// it.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
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
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating key database schema: %w", err)
	}
	return &DB{db: db, keks: "keks", dataKeys: "data_keys", destroyed: "destroyed_workspaces"}, nil
}

// OpenPostgres connects to the database at url (the runtime role) with a
// small pool of its own; the tables are made by `palisade migrate`
// (migration 00006). The data key tables have Row Level Security keyed on
// the workspace, like every tenant table.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("opening key store: invalid PostgreSQL URL")
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	return &DB{db: stdlib.OpenDBFromPool(pool), pg: true, closePool: pool.Close,
		keks: "palisade_keys.keks", dataKeys: "palisade_keys.data_keys", destroyed: "palisade_keys.destroyed_workspaces"}, nil
}

// Close closes the connection.
func (s *DB) Close() error {
	err := s.db.Close()
	if s.closePool != nil {
		s.closePool()
	}
	return err
}

// scanAll marks the one operator-wide read (ListDataKeys) for the RLS
// policy on PostgreSQL; every other data key statement is scoped to one
// workspace.
const scanAll = "all"

// inTx runs fn in a transaction; on PostgreSQL it sets the workspace scope
// (and the operator-wide scan marker) the RLS policies read.
func (s *DB) inTx(ctx context.Context, ws palisade.WorkspaceID, scan string, fn func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning key store transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if s.pg {
		if _, err = tx.ExecContext(ctx, `SELECT set_config('app.workspace_id', $1, true), set_config('app.key_scan', $2, true)`, string(ws), scan); err != nil {
			return fmt.Errorf("setting key store scope: %w", err)
		}
	}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("committing key store transaction: %w", err)
	}
	return nil
}

func unixTime(t time.Time) int64 { return t.UnixNano() }
func fromUnix(n int64) time.Time { return time.Unix(0, n).UTC() }

func (s *DB) ListKEKs(ctx context.Context) ([]seal.WrappedKEK, error) {
	var out []seal.WrappedKEK
	err := s.inTx(ctx, "", "", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT version, wrapped, is_current, created_at FROM `+s.keks+` ORDER BY version`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k seal.WrappedKEK
			var v, created int64
			if err := rows.Scan(&v, &k.Wrapped, &k.Current, &created); err != nil {
				return err
			}
			k.Version, k.CreatedAt = uint32(v), fromUnix(created)
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing KEKs: %w", err)
	}
	return out, nil
}

func (s *DB) InsertKEK(ctx context.Context, k seal.WrappedKEK) error {
	return s.inTx(ctx, "", "", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO `+s.keks+` (version, wrapped, is_current, created_at) VALUES ($1, $2, FALSE, $3) ON CONFLICT (version) DO NOTHING`,
			int64(k.Version), k.Wrapped, unixTime(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("storing KEK v%d: %w", k.Version, err)
		}
		return existsIfNone(res)
	})
}

// existsIfNone turns an insert that did nothing (ON CONFLICT) into
// ErrKeyExists.
func existsIfNone(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return seal.ErrKeyExists
	}
	return nil
}

func (s *DB) SetCurrentKEK(ctx context.Context, version uint32) error {
	return s.inTx(ctx, "", "", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+s.keks+` WHERE version = $1`, int64(version)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: KEK v%d", seal.ErrKeyNotFound, version)
		}
		if err != nil {
			return fmt.Errorf("making KEK v%d current: %w", version, err)
		}
		// One statement: no moment with two current KEKs, or none.
		if _, err := tx.ExecContext(ctx, `UPDATE `+s.keks+` SET is_current = (version = $1)`, int64(version)); err != nil {
			return fmt.Errorf("making KEK v%d current: %w", version, err)
		}
		return nil
	})
}

func (s *DB) DeleteKEK(ctx context.Context, version uint32) error {
	return s.inTx(ctx, "", "", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+s.keks+` WHERE version = $1`, int64(version))
		if err != nil {
			return fmt.Errorf("deleting KEK v%d: %w", version, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("%w: KEK v%d", seal.ErrKeyNotFound, version))
		}
		return nil
	})
}

// destroyedTx reports whether the workspace's keys were destroyed.
func (s *DB) destroyedTx(ctx context.Context, tx *sql.Tx, ws palisade.WorkspaceID) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+s.destroyed+` WHERE workspace_id = $1`, string(ws)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockWorkspace serialises inserting and destroying one workspace's keys
// on PostgreSQL, so a key inserted concurrently with a destruction cannot
// survive it. (SQLite transactions here are IMMEDIATE: already serial.)
func (s *DB) lockWorkspace(ctx context.Context, tx *sql.Tx, ws palisade.WorkspaceID) error {
	if !s.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('palisade_keys:' || $1))`, string(ws))
	return err
}

func scanDataKeys(rows *sql.Rows) ([]seal.WrappedDataKey, error) {
	defer rows.Close()
	var out []seal.WrappedDataKey
	for rows.Next() {
		var d seal.WrappedDataKey
		var ws string
		var v, kv, created int64
		if err := rows.Scan(&ws, &v, &kv, &d.Wrapped, &created); err != nil {
			return nil, err
		}
		d.Workspace, d.Version, d.KEKVersion, d.CreatedAt = palisade.WorkspaceID(ws), uint32(v), uint32(kv), fromUnix(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *DB) DataKeys(ctx context.Context, ws palisade.WorkspaceID) ([]seal.WrappedDataKey, error) {
	var out []seal.WrappedDataKey
	err := s.inTx(ctx, ws, "", func(tx *sql.Tx) error {
		gone, err := s.destroyedTx(ctx, tx, ws)
		if err != nil {
			return err
		}
		if gone {
			return seal.ErrKeyDestroyed
		}
		rows, err := tx.QueryContext(ctx, `SELECT workspace_id, version, kek_version, wrapped, created_at FROM `+s.dataKeys+` WHERE workspace_id = $1 ORDER BY version`, string(ws))
		if err != nil {
			return err
		}
		out, err = scanDataKeys(rows)
		return err
	})
	if err != nil && !errors.Is(err, seal.ErrKeyDestroyed) {
		return nil, fmt.Errorf("reading data keys: %w", err)
	}
	return out, err
}

func (s *DB) InsertDataKey(ctx context.Context, k seal.WrappedDataKey) error {
	return s.inTx(ctx, k.Workspace, "", func(tx *sql.Tx) error {
		if err := s.lockWorkspace(ctx, tx, k.Workspace); err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		gone, err := s.destroyedTx(ctx, tx, k.Workspace)
		if err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		if gone {
			return seal.ErrKeyDestroyed
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO `+s.dataKeys+` (workspace_id, version, kek_version, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (workspace_id, version) DO NOTHING`,
			string(k.Workspace), int64(k.Version), int64(k.KEKVersion), k.Wrapped, unixTime(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		return existsIfNone(res)
	})
}

func (s *DB) RewrapDataKey(ctx context.Context, k seal.WrappedDataKey, fromKEK uint32) (bool, error) {
	var ok bool
	err := s.inTx(ctx, k.Workspace, "", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+s.dataKeys+` SET wrapped = $1, kek_version = $2 WHERE workspace_id = $3 AND version = $4 AND kek_version = $5`,
			k.Wrapped, int64(k.KEKVersion), string(k.Workspace), int64(k.Version), int64(fromKEK))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("rewrapping data key: %w", err)
	}
	return ok, nil
}

func (s *DB) DeleteDataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) error {
	return s.inTx(ctx, ws, "", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+s.dataKeys+` WHERE workspace_id = $1 AND version = $2`, string(ws), int64(version))
		if err != nil {
			return fmt.Errorf("deleting data key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("%w: data key v%d", seal.ErrKeyNotFound, version))
		}
		return nil
	})
}

func (s *DB) DestroyDataKeys(ctx context.Context, ws palisade.WorkspaceID) error {
	err := s.inTx(ctx, ws, "", func(tx *sql.Tx) error {
		if err := s.lockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.destroyed+` (workspace_id, destroyed_at) VALUES ($1, $2) ON CONFLICT (workspace_id) DO NOTHING`,
			string(ws), unixTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+s.dataKeys+` WHERE workspace_id = $1`, string(ws))
		return err
	})
	if err != nil {
		return fmt.Errorf("destroying data keys: %w", err)
	}
	if !s.pg {
		// secure_delete zeroed the pages in the new log frames; the
		// checkpoint copies them over the file's pages and truncates the
		// log, so no earlier frame keeps the key either.
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return fmt.Errorf("checkpointing key database after destroying keys: %w", err)
		}
	}
	return nil
}

func (s *DB) ListDataKeys(ctx context.Context) ([]seal.WrappedDataKey, error) {
	var out []seal.WrappedDataKey
	err := s.inTx(ctx, "", scanAll, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT workspace_id, version, kek_version, wrapped, created_at FROM `+s.dataKeys+` ORDER BY workspace_id, version`)
		if err != nil {
			return err
		}
		out, err = scanDataKeys(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing data keys: %w", err)
	}
	return out, nil
}
