package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/storetest"
)

// openKeys opens the key store of a freshly migrated database as the
// runtime role, and returns the admin URL and the runtime role too.
func openKeys(t *testing.T) (ks *postgres.KeyStore, adminURL, role string) {
	t.Helper()
	adminURL, appURL, role := setup(t)
	ks, err := postgres.OpenKeyStore(t.Context(), appURL, testScopeKey)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks, adminURL, role
}

// openAdminKeys opens the key store of a freshly migrated database as the
// admin role, which manages KEKs, emptied of the KEK migrate made: the
// conformance suite starts from an empty store.
func openAdminKeys(t *testing.T) *postgres.KeyStore {
	t.Helper()
	adminURL, _, _ := setup(t)
	ks, err := postgres.OpenKeyStore(t.Context(), adminURL, testScopeKey)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	if _, err := ks.Pool().Exec(t.Context(), `DELETE FROM palisade_keys.keks`); err != nil {
		t.Fatal(err)
	}
	return ks
}

// The suite makes and retires KEKs, which only the admin role may; the
// runtime role's side is TestKeysApartAndRLS.
func TestKeyStoreConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.RunKeyStore(t, func(t *testing.T) seal.KeyStore { return openAdminKeys(t) })
}

func TestOpenKeyStoreRefusesBadURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.OpenKeyStore(t.Context(), "postgres://u:hunter2@[::1/db", testScopeKey)
	if err == nil {
		t.Fatal("a malformed URL was accepted")
	}
	if msg := err.Error(); msg != "opening key store: invalid PostgreSQL URL" {
		t.Fatalf("error = %q; it must not quote the URL", msg)
	}
}

// TestKeysApartAndRLS: the keys live in the palisade_keys schema (none in
// public), and the runtime role sees and writes only the scoped
// workspace's data keys; the operator-wide scan is read-only.
func TestKeysApartAndRLS(t *testing.T) {
	t.Parallel()
	ks, adminURL, role := openKeys(t)
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
	if err := admin.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('keks', 'data_keys', 'destroyed_workspaces')`).Scan(&inPublic); err != nil || inPublic != 0 {
		t.Fatalf("key tables left in the data schema: %d (%v)", inPublic, err)
	}
	for _, tb := range []string{"palisade_keys.data_keys", "palisade_keys.destroyed_workspaces"} {
		var enabled, forced bool
		if err := admin.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)`, tb).Scan(&enabled, &forced); err != nil || !enabled || !forced {
			t.Errorf("%s: RLS enabled=%v forced=%v (%v)", tb, enabled, forced, err)
		}
	}

	// As the runtime role, raw SQL.
	var granted bool
	if err := admin.QueryRow(ctx, `SELECT has_table_privilege($1, 'palisade_keys.data_keys', 'SELECT')`, role).Scan(&granted); err != nil || !granted {
		t.Fatalf("runtime role has no grant on the key tables: %v", err)
	}
	app, err := pgx.Connect(ctx, servicetest.WithUser(t, adminURL, role))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	inTx := func(ws palisade.WorkspaceID, scan string, fn func(tx pgx.Tx)) {
		t.Helper()
		tx := begin(t, app, authentic(app, scopeSettings{workspace: string(ws), keyScan: scan}))
		defer tx.Rollback(ctx)
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
	// Through the key store, the scan sees what is left: B's key.
	if all, err := ks.ListDataKeys(ctx); err != nil || len(all) != 1 || all[0].Workspace != b {
		t.Errorf("ListDataKeys after destroying A = %+v, %v", all, err)
	}
	// The runtime role reads the KEKs and changes none of them.
	if ok, err := ks.ManagesKEKs(ctx); err != nil || ok {
		t.Errorf("the runtime role manages KEKs: %v, %v", ok, err)
	}
	if err := ks.InsertKEK(ctx, seal.WrappedKEK{Version: 2, Wrapped: []byte("w"), CreatedAt: time.Now()}); !errors.Is(err, postgres.ErrKEKsReadOnly) {
		t.Errorf("InsertKEK as the runtime role = %v, want ErrKEKsReadOnly", err)
	}
	if err := ks.DeleteKEK(ctx, 1); !errors.Is(err, postgres.ErrKEKsReadOnly) {
		t.Errorf("DeleteKEK as the runtime role = %v, want ErrKEKsReadOnly", err)
	}
	if keks, err := ks.ListKEKs(ctx); err != nil || len(keks) != 1 || !keks[0].Current {
		t.Errorf("ListKEKs as the runtime role = %+v, %v", keks, err)
	}
}
