package keystore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/keystore"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
)

func openSQLite(t *testing.T) (*keystore.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), keystore.FileName)
	ks, err := keystore.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks, path
}

// setupPostgres migrates a fresh database and returns the admin and runtime
// URLs.
func setupPostgres(t *testing.T) (adminURL, appURL string) {
	t.Helper()
	role := servicetest.PostgresRole(t)
	adminURL = servicetest.Postgres(t)
	if _, err := postgres.Migrate(t.Context(), adminURL, postgres.MigrateOptions{AppRole: role}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return adminURL, servicetest.WithUser(t, adminURL, role)
}

func openPostgres(t *testing.T) (*keystore.DB, string) {
	t.Helper()
	adminURL, appURL := setupPostgres(t)
	ks, err := keystore.OpenPostgres(t.Context(), appURL)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks, adminURL
}

func TestKeyStoreSQLite(t *testing.T) {
	t.Parallel()
	sealtest.TestKeyStore(t, func(t *testing.T) seal.KeyStore { ks, _ := openSQLite(t); return ks })
}

func TestKeyStorePostgres(t *testing.T) {
	t.Parallel()
	sealtest.TestKeyStore(t, func(t *testing.T) seal.KeyStore { ks, _ := openPostgres(t); return ks })
}

func TestSQLiteFileMode(t *testing.T) {
	t.Parallel()
	_, path := openSQLite(t)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys.db: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	loose := filepath.Join(t.TempDir(), keystore.FileName)
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.OpenSQLite(t.Context(), loose); err == nil {
		t.Fatal("a key database readable by others was accepted")
	}
}

// TestSQLiteDestroyLeavesNoBytes: after DestroyDataKeys, the wrapped key's
// bytes appear nowhere in keys.db or its write-ahead log (secure_delete and
// the checkpoint), so a copy of the key file taken afterwards cannot bring
// the key back.
func TestSQLiteDestroyLeavesNoBytes(t *testing.T) {
	t.Parallel()
	ks, path := openSQLite(t)
	ctx := t.Context()
	ws, other := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	marker := bytes.Repeat([]byte("WRAPPED-KEY-MARKER"), 4)
	kept := bytes.Repeat([]byte("KEPT-KEY-MARKER"), 4)
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

// TestPostgresKeysApartAndRLS: the keys live in the palisade_keys schema
// (none in public), and the runtime role sees and writes only the scoped
// workspace's data keys; the operator-wide scan is read-only.
func TestPostgresKeysApartAndRLS(t *testing.T) {
	t.Parallel()
	ks, adminURL := openPostgres(t)
	ctx := t.Context()
	a, b := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	for _, ws := range []palisade.WorkspaceID{a, b} {
		if err := ks.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: 1, KEKVersion: 1, Wrapped: []byte("w"), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var inPublic int
	if err := admin.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('keks', 'data_keys')`).Scan(&inPublic); err != nil || inPublic != 0 {
		t.Fatalf("key tables left in the data schema: %d (%v)", inPublic, err)
	}
	for _, tb := range []string{"palisade_keys.data_keys", "palisade_keys.destroyed_workspaces"} {
		var enabled, forced bool
		if err := admin.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)`, tb).Scan(&enabled, &forced); err != nil || !enabled || !forced {
			t.Errorf("%s: RLS enabled=%v forced=%v (%v)", tb, enabled, forced, err)
		}
	}

	// As the runtime role, raw SQL.
	var role string
	if err := admin.QueryRow(ctx, `SELECT grantee FROM information_schema.role_table_grants WHERE table_schema = 'palisade_keys' AND table_name = 'data_keys' AND privilege_type = 'SELECT' AND grantee <> current_user LIMIT 1`).Scan(&role); err != nil {
		t.Fatalf("runtime role has no grant on the key tables: %v", err)
	}
	app, err := pgx.Connect(ctx, servicetest.WithUser(t, adminURL, role))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	inTx := func(ws palisade.WorkspaceID, scan string, fn func(tx pgx.Tx)) {
		t.Helper()
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true), set_config('app.key_scan', $2, true)`, string(ws), scan); err != nil {
			t.Fatal(err)
		}
		fn(tx)
	}
	count := func(tx pgx.Tx) int {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM palisade_keys.data_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	inTx("", "", func(tx pgx.Tx) {
		if n := count(tx); n != 0 {
			t.Errorf("no scope sees %d data keys", n)
		}
	})
	inTx(a, "", func(tx pgx.Tx) {
		if n := count(tx); n != 1 {
			t.Errorf("scope A sees %d data keys, want 1", n)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM palisade_keys.data_keys WHERE workspace_id = $1`, string(b))
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("scope A deleted %d of B's keys (%v)", tag.RowsAffected(), err)
		}
	})
	inTx(a, "", func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, `INSERT INTO palisade_keys.data_keys (workspace_id, version, kek_version, wrapped, created_at) VALUES ($1, 9, 1, '\x00', 0)`, string(b)); err == nil {
			t.Error("scope A inserted a key of B")
		}
	})
	inTx("", "all", func(tx pgx.Tx) {
		if n := count(tx); n != 2 {
			t.Errorf("the operator-wide scan sees %d data keys, want 2", n)
		}
		tag, err := tx.Exec(ctx, `UPDATE palisade_keys.data_keys SET wrapped = '\x00'`)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("the scan could write: %d rows (%v)", tag.RowsAffected(), err)
		}
	})
	// Tombstones are permanent for the runtime role.
	if err := ks.DestroyDataKeys(ctx, a); err != nil {
		t.Fatal(err)
	}
	inTx(a, "", func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, `DELETE FROM palisade_keys.destroyed_workspaces`); err == nil {
			t.Error("the runtime role may delete a destruction record")
		}
	})
	if _, err := ks.DataKeys(ctx, a); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("DataKeys after destroy: %v", err)
	}
}

// TestSealerAdapter: the adapter binds table, column and row id.
func TestSealerAdapter(t *testing.T) {
	t.Parallel()
	ks, _ := openSQLite(t)
	mk, _ := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	k, err := seal.NewKeyring(t.Context(), mk, ks, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s store.Sealer = keystore.Sealer{Keyring: k}
	ctx := t.Context()
	ws := palisade.NewWorkspaceID()
	env, err := s.Seal(ctx, ws, "channels", "sealed_secret", "ch_1", []byte("hush"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(ctx, ws, "channels", "sealed_secret", "ch_1", env); err != nil || string(pt) != "hush" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	for _, f := range [][3]string{{"channels", "sealed_secret", "ch_2"}, {"channels", "sealed_credentials", "ch_1"}, {"provider_keys", "sealed_secret", "ch_1"}} {
		if _, err := s.Open(ctx, ws, f[0], f[1], f[2], env); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("opened at %v: %v", f, err)
		}
	}
	if got, err := s.Reseal(ctx, ws, "channels", "sealed_secret", "ch_1", env); err != nil || !bytes.Equal(got, env) {
		t.Errorf("Reseal of a current envelope changed it: %v", err)
	}
	if err := s.Destroy(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, ws, "channels", "sealed_secret", "ch_1", env); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Open after Destroy: %v", err)
	}
}
