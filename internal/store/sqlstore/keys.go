package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
)

// KeyStore is seal.KeyStore over SQL, the wrapped keys kept apart from the
// data they protect: on SQLite in a database file of their own (keys.db,
// opened by store/sqlite), on PostgreSQL in the palisade_keys schema
// (opened by store/postgres with a pool of its own). Both run these same
// statements; only the schema the table names carry differs.
//
// It never holds an unwrapped key, and never lets a destroyed workspace
// get a data key again.
type KeyStore struct {
	d KeyDriver
	// Table names: constants chosen by dialect, never input.
	keks, dataKeys, destroyed string
}

var _ seal.KeyStore = (*KeyStore)(nil)

// KeyDriver is the part of a Driver the key store uses. On PostgreSQL its
// transactions set TxScope.Workspace and TxScope.KeyScan as the settings
// the palisade_keys policies read.
type KeyDriver interface {
	Dialect() store.Dialect
	InTx(ctx context.Context, scope TxScope, fn func(Tx) error) error
	IsNoRows(err error) bool
	Close() error
}

// NewKeyStore returns the key store over a dialect's key database, whose
// key migrations have run.
func NewKeyStore(d KeyDriver) *KeyStore {
	k := &KeyStore{d: d, keks: "keks", dataKeys: "data_keys", destroyed: "destroyed_workspaces"}
	if d.Dialect() == store.DialectPostgres {
		// Their own schema, which a data backup of the public schema
		// leaves out (migration 00006).
		k.keks, k.dataKeys, k.destroyed = "palisade_keys.keks", "palisade_keys.data_keys", "palisade_keys.destroyed_workspaces"
	}
	return k
}

// Close closes the key database.
func (k *KeyStore) Close() error { return k.d.Close() }

// The key tables keep times as Unix nanoseconds: the same integer on both
// dialects, with no time zone or precision to disagree about.
func keyTime(t time.Time) int64     { return t.UnixNano() }
func fromKeyTime(n int64) time.Time { return time.Unix(0, n).UTC() }

// platformKeys runs fn where only the KEKs are visible; data keys need a
// workspace, or the scan.
func (k *KeyStore) platformKeys(ctx context.Context, fn func(Tx) error) error {
	return k.d.InTx(ctx, TxScope{}, fn)
}

// workspaceKeys runs fn where the workspace's data keys and tombstone are
// visible, and writable.
func (k *KeyStore) workspaceKeys(ctx context.Context, ws palisade.WorkspaceID, fn func(Tx) error) error {
	return k.d.InTx(ctx, TxScope{Workspace: ws}, fn)
}

func (k *KeyStore) ListKEKs(ctx context.Context) ([]seal.WrappedKEK, error) {
	var out []seal.WrappedKEK
	err := k.platformKeys(ctx, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT version, wrapped, is_current, created_at FROM `+k.keks+` ORDER BY version`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w seal.WrappedKEK
			var v, created int64
			if err := rows.Scan(&v, &w.Wrapped, &w.Current, &created); err != nil {
				return err
			}
			w.Version, w.CreatedAt = uint32(v), fromKeyTime(created)
			out = append(out, w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing KEKs: %w", err)
	}
	return out, nil
}

func (k *KeyStore) InsertKEK(ctx context.Context, w seal.WrappedKEK) error {
	return k.platformKeys(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO `+k.keks+` (version, wrapped, is_current, created_at) VALUES ($1, $2, FALSE, $3) ON CONFLICT (version) DO NOTHING`,
			int64(w.Version), w.Wrapped, keyTime(w.CreatedAt))
		if err != nil {
			return fmt.Errorf("storing KEK v%d: %w", w.Version, err)
		}
		if n == 0 {
			return seal.ErrKeyExists
		}
		return nil
	})
}

func (k *KeyStore) SetCurrentKEK(ctx context.Context, version uint32) error {
	return k.platformKeys(ctx, func(tx Tx) error {
		if err := k.lockKEKs(ctx, tx, true); err != nil {
			return fmt.Errorf("making KEK v%d current: %w", version, err)
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM `+k.keks+` WHERE version = $1`, int64(version)).Scan(&one)
		if k.d.IsNoRows(err) {
			return fmt.Errorf("%w: KEK v%d", seal.ErrKeyNotFound, version)
		}
		if err != nil {
			return fmt.Errorf("making KEK v%d current: %w", version, err)
		}
		// One statement: no moment with two current KEKs, or none.
		if _, err := tx.Exec(ctx, `UPDATE `+k.keks+` SET is_current = (version = $1)`, int64(version)); err != nil {
			return fmt.Errorf("making KEK v%d current: %w", version, err)
		}
		return nil
	})
}

func (k *KeyStore) DeleteKEK(ctx context.Context, version uint32) error {
	return k.platformKeys(ctx, func(tx Tx) error {
		if err := k.lockKEKs(ctx, tx, true); err != nil {
			return fmt.Errorf("deleting KEK v%d: %w", version, err)
		}
		// Never the current KEK, whatever the caller checked before.
		n, err := tx.Exec(ctx, `DELETE FROM `+k.keks+` WHERE version = $1 AND NOT is_current`, int64(version))
		if err != nil {
			return fmt.Errorf("deleting KEK v%d: %w", version, err)
		}
		if n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM `+k.keks+` WHERE version = $1`, int64(version)).Scan(&one)
		switch {
		case k.d.IsNoRows(err):
			return fmt.Errorf("%w: KEK v%d", seal.ErrKeyNotFound, version)
		case err != nil:
			return fmt.Errorf("deleting KEK v%d: %w", version, err)
		}
		return fmt.Errorf("%w: KEK v%d is current", seal.ErrKeyInUse, version)
	})
}

// kekLock is the advisory lock (a fixed key in PostgreSQL's one-key space;
// the audit chains use the two-key space) that orders data key
// inserts against KEK changes: an insert holds it shared while it checks
// that its KEK is current and stores the key; making a KEK current or
// deleting one holds it exclusively. A key wrapped by a KEK that stopped
// being current is therefore either committed before the change (and seen
// by the rotation's rewrap pass, which lists data keys after it) or refused.
const kekLock = 0x50414c4b454b // "PALKEK"

// lockKEKs takes kekLock for the transaction on PostgreSQL. SQLite's
// transactions here are IMMEDIATE: already serial.
func (k *KeyStore) lockKEKs(ctx context.Context, tx Tx, exclusive bool) error {
	if k.d.Dialect() != store.DialectPostgres {
		return nil
	}
	q := `SELECT pg_advisory_xact_lock_shared($1)`
	if exclusive {
		q = `SELECT pg_advisory_xact_lock($1)`
	}
	_, err := tx.Exec(ctx, q, int64(kekLock))
	return err
}

// isDestroyed reports whether the workspace's keys were destroyed.
func (k *KeyStore) isDestroyed(ctx context.Context, tx Tx, ws palisade.WorkspaceID) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM `+k.destroyed+` WHERE workspace_id = $1`, string(ws)).Scan(&one)
	if k.d.IsNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// lockWorkspace serialises inserting and destroying one workspace's keys
// on PostgreSQL, so a key inserted concurrently with a destruction cannot
// survive it. SQLite's transactions here are IMMEDIATE: already serial.
func (k *KeyStore) lockWorkspace(ctx context.Context, tx Tx, ws palisade.WorkspaceID) error {
	if k.d.Dialect() != store.DialectPostgres {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('palisade_keys:' || $1))`, string(ws))
	return err
}

const dataKeyCols = `workspace_id, version, kek_version, wrapped, created_at`

func scanDataKeys(rows Rows) ([]seal.WrappedDataKey, error) {
	defer rows.Close()
	var out []seal.WrappedDataKey
	for rows.Next() {
		var d seal.WrappedDataKey
		var ws string
		var v, kv, created int64
		if err := rows.Scan(&ws, &v, &kv, &d.Wrapped, &created); err != nil {
			return nil, err
		}
		d.Workspace, d.Version, d.KEKVersion, d.CreatedAt = palisade.WorkspaceID(ws), uint32(v), uint32(kv), fromKeyTime(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (k *KeyStore) DataKeys(ctx context.Context, ws palisade.WorkspaceID) ([]seal.WrappedDataKey, error) {
	var out []seal.WrappedDataKey
	err := k.workspaceKeys(ctx, ws, func(tx Tx) error {
		gone, err := k.isDestroyed(ctx, tx, ws)
		if err != nil {
			return err
		}
		if gone {
			return seal.ErrKeyDestroyed
		}
		rows, err := tx.Query(ctx, `SELECT `+dataKeyCols+` FROM `+k.dataKeys+` WHERE workspace_id = $1 ORDER BY version`, string(ws))
		if err != nil {
			return err
		}
		out, err = scanDataKeys(rows)
		return err
	})
	switch {
	case errors.Is(err, seal.ErrKeyDestroyed):
		return nil, seal.ErrKeyDestroyed
	case err != nil:
		return nil, fmt.Errorf("reading data keys: %w", err)
	}
	return out, nil
}

func (k *KeyStore) InsertDataKey(ctx context.Context, d seal.WrappedDataKey) error {
	return k.workspaceKeys(ctx, d.Workspace, func(tx Tx) error {
		if err := k.lockWorkspace(ctx, tx, d.Workspace); err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		gone, err := k.isDestroyed(ctx, tx, d.Workspace)
		if err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		if gone {
			return seal.ErrKeyDestroyed
		}
		// Only under the KEK current now, in this transaction: see kekLock.
		if err := k.lockKEKs(ctx, tx, false); err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		var current int64
		switch err := tx.QueryRow(ctx, `SELECT version FROM `+k.keks+` WHERE is_current`).Scan(&current); {
		case k.d.IsNoRows(err):
			return fmt.Errorf("%w: there is no current KEK", seal.ErrKEKNotCurrent)
		case err != nil:
			return fmt.Errorf("storing data key: %w", err)
		case current != int64(d.KEKVersion):
			return fmt.Errorf("%w: KEK v%d, the current one is v%d", seal.ErrKEKNotCurrent, d.KEKVersion, current)
		}
		n, err := tx.Exec(ctx, `INSERT INTO `+k.dataKeys+` (`+dataKeyCols+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, version) DO NOTHING`,
			string(d.Workspace), int64(d.Version), int64(d.KEKVersion), d.Wrapped, keyTime(d.CreatedAt))
		if err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
		if n == 0 {
			return seal.ErrKeyExists
		}
		return nil
	})
}

func (k *KeyStore) RewrapDataKey(ctx context.Context, d seal.WrappedDataKey, fromKEK uint32) (bool, error) {
	var ok bool
	err := k.workspaceKeys(ctx, d.Workspace, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE `+k.dataKeys+` SET wrapped = $1, kek_version = $2 WHERE workspace_id = $3 AND version = $4 AND kek_version = $5`,
			d.Wrapped, int64(d.KEKVersion), string(d.Workspace), int64(d.Version), int64(fromKEK))
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("rewrapping data key: %w", err)
	}
	return ok, nil
}

func (k *KeyStore) DeleteDataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) error {
	return k.workspaceKeys(ctx, ws, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM `+k.dataKeys+` WHERE workspace_id = $1 AND version = $2`, string(ws), int64(version))
		if err != nil {
			return fmt.Errorf("deleting data key: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: data key v%d", seal.ErrKeyNotFound, version)
		}
		return nil
	})
}

// DestroyDataKeys deletes the workspace's data keys and leaves its
// tombstone, in one transaction. On SQLite, store/sqlite's KeyStore
// checkpoints the log afterwards, so the deleted bytes leave the disk too.
func (k *KeyStore) DestroyDataKeys(ctx context.Context, ws palisade.WorkspaceID) error {
	err := k.workspaceKeys(ctx, ws, func(tx Tx) error {
		if err := k.lockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+k.destroyed+` (workspace_id, destroyed_at) VALUES ($1, $2) ON CONFLICT (workspace_id) DO NOTHING`,
			string(ws), keyTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM `+k.dataKeys+` WHERE workspace_id = $1`, string(ws))
		return err
	})
	if err != nil {
		return fmt.Errorf("destroying data keys: %w", err)
	}
	return nil
}

// ListDataKeys is the one operator-wide read of data keys (rotation,
// status); on PostgreSQL it declares itself with TxScope.KeyScan, which the
// policies let read every workspace's keys and write none.
func (k *KeyStore) ListDataKeys(ctx context.Context) ([]seal.WrappedDataKey, error) {
	var out []seal.WrappedDataKey
	err := k.d.InTx(ctx, TxScope{KeyScan: true}, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+dataKeyCols+` FROM `+k.dataKeys+` ORDER BY workspace_id, version`)
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
