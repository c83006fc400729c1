package sqlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/storetest"
)

func openKeys(t *testing.T) (*sqlite.KeyStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlite.KeyFileName)
	ks, err := sqlite.OpenKeyStore(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks, path
}

func TestKeyStoreConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.RunKeyStore(t, func(t *testing.T) seal.KeyStore { ks, _ := openKeys(t); return ks })
}

func TestKeyFileMode(t *testing.T) {
	t.Parallel()
	_, path := openKeys(t)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys.db: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	loose := filepath.Join(t.TempDir(), sqlite.KeyFileName)
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.OpenKeyStore(t.Context(), loose); err == nil {
		t.Fatal("a key database readable by others was accepted")
	}
}

// TestKeyDatabaseSettings: every commit reaches the disk, deleted keys are
// overwritten, and the key database is nothing but keys.
func TestKeyDatabaseSettings(t *testing.T) {
	t.Parallel()
	ks, _ := openKeys(t)
	for pragma, want := range map[string]string{"synchronous": "2" /* FULL */, "secure_delete": "1", "journal_mode": "wal"} {
		var got string
		if err := ks.DB().QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q (%v), want %q", pragma, got, err, want)
		}
	}
	var tables []string
	rows, err := ks.DB().Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	want := []string{"data_keys", "destroyed_workspaces", "goose_db_version", "keks", "sqlite_sequence"}
	if len(tables) != len(want) {
		t.Fatalf("keys.db tables = %v, want %v", tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("keys.db tables = %v, want %v", tables, want)
		}
	}
}

func TestMigrateKeysTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	ks, _ := openKeys(t)
	count := func() int {
		var n int
		if err := ks.DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	if err := sqlite.MigrateKeys(t.Context(), ks.DB()); err != nil {
		t.Fatal(err)
	}
	if after := count(); before != after {
		t.Fatalf("second migrate changed the version table: %d -> %d rows", before, after)
	}
}

// oldKeySchema is keys.db's schema as the key store created it before it
// had migrations: run on every open, with no version table.
const oldKeySchema = `
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

// TestOpensKeyDatabaseOfOldSchema: a keys.db of an installation from
// before the key migrations opens, keeps its keys and tombstones, and is
// migrated from then on.
func TestOpensKeyDatabaseOfOldSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), sqlite.KeyFileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1_700_000_000, 0).UTC()
	ws, gone := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{oldKeySchema, nil},
		{`INSERT INTO keks (version, wrapped, is_current, created_at) VALUES (1, X'6b656b31', TRUE, $1)`, []any{created.UnixNano()}},
		{`INSERT INTO data_keys (workspace_id, version, kek_version, wrapped, created_at) VALUES ($1, 1, 1, X'646b31', $2)`, []any{string(ws), created.UnixNano()}},
		{`INSERT INTO destroyed_workspaces (workspace_id, destroyed_at) VALUES ($1, $2)`, []any{string(gone), created.UnixNano()}},
	} {
		if _, err := old.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("making the old keys.db: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the first open adopts the tables, the second finds them migrated
		ks, err := sqlite.OpenKeyStore(ctx, path)
		if err != nil {
			t.Fatalf("opening a keys.db of the old schema: %v", err)
		}
		keks, err := ks.ListKEKs(ctx)
		if err != nil || len(keks) != 1 || keks[0].Version != 1 || !keks[0].Current || string(keks[0].Wrapped) != "kek1" || !keks[0].CreatedAt.Equal(created) {
			t.Fatalf("KEKs of the old keys.db = %+v, %v", keks, err)
		}
		dks, err := ks.DataKeys(ctx, ws)
		if err != nil || len(dks) != 1 || string(dks[0].Wrapped) != "dk1" || dks[0].KEKVersion != 1 || !dks[0].CreatedAt.Equal(created) {
			t.Fatalf("data keys of the old keys.db = %+v, %v", dks, err)
		}
		if _, err := ks.DataKeys(ctx, gone); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Fatalf("a tombstone of the old keys.db was lost: %v", err)
		}
		var applied int
		if err := ks.DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied); err != nil || applied != 1 {
			t.Fatalf("key migrations recorded: %d, %v; want 1", applied, err)
		}
		if err := ks.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeyDestroyLeavesNoBytes: after DestroyDataKeys, the wrapped key's
// bytes appear nowhere in keys.db or its write-ahead log (secure_delete and
// the checkpoint), so a copy of the key file taken afterwards cannot bring
// the key back.
func TestKeyDestroyLeavesNoBytes(t *testing.T) {
	t.Parallel()
	ks, path := openKeys(t)
	ctx := t.Context()
	ws, other := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	marker := bytes.Repeat([]byte("WRAPPED-KEY-MARKER"), 4)
	kept := bytes.Repeat([]byte("KEPT-KEY-MARKER"), 4)
	// Data keys are stored only under the current KEK.
	if err := ks.InsertKEK(ctx, seal.WrappedKEK{Version: 1, Wrapped: []byte("kek"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := ks.SetCurrentKEK(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, k := range []seal.WrappedDataKey{
		{Workspace: ws, Version: 1, KEKVersion: 1, Wrapped: marker, CreatedAt: time.Now()},
		{Workspace: other, Version: 1, KEKVersion: 1, Wrapped: kept, CreatedAt: time.Now()},
	} {
		if err := ks.InsertDataKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	dump := func() []byte {
		var all []byte
		for _, suffix := range []string{"", "-wal", "-journal"} {
			b, err := os.ReadFile(path + suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	if !bytes.Contains(dump(), marker) {
		t.Fatal("test is blind: the wrapped key is not in the files before destruction")
	}
	if err := ks.DestroyDataKeys(ctx, ws); err != nil {
		t.Fatal(err)
	}
	d := dump()
	if bytes.Contains(d, marker) {
		t.Fatal("the destroyed wrapped key is still in keys.db or its log")
	}
	if !bytes.Contains(d, kept) {
		t.Fatal("another workspace's key is gone")
	}
}

// TestKeyDestroyReportsIncompleteShred: while another connection holds a
// read snapshot of keys.db, the checkpoint cannot truncate the write-ahead
// log, and the destroyed key's old frames stay in keys.db-wal. Destroying
// then reports that the shred is incomplete rather than success; once the
// reader is gone, destroying again completes it.
func TestKeyDestroyReportsIncompleteShred(t *testing.T) {
	t.Parallel()
	ks, path := openKeys(t)
	ctx := t.Context()
	ws := palisade.NewWorkspaceID()
	marker := bytes.Repeat([]byte("HELD-KEY-MARKER"), 4)
	if err := ks.InsertKEK(ctx, seal.WrappedKEK{Version: 1, Wrapped: []byte("kek"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := ks.SetCurrentKEK(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := ks.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: 1, KEKVersion: 1, Wrapped: marker, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM data_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader sees %d keys, %v", n, err)
	}
	err = ks.DestroyDataKeys(ctx, ws)
	if !errors.Is(err, sqlite.ErrShredIncomplete) {
		t.Fatalf("destroying under a reader = %v, want an incomplete shred reported", err)
	}
	_ = tx.Rollback()
	if err := ks.DestroyDataKeys(ctx, ws); err != nil {
		t.Fatalf("destroying again once the reader is gone: %v", err)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, marker) {
			t.Fatalf("the destroyed key is still in keys.db%s", suffix)
		}
	}
}
