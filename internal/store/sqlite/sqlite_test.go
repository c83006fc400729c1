package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/storetest"
)

func open(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), opts)
	if err != nil {
		t.Fatalf("opening sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	s := open(t, store.Options{}).(*sqlite.Store)
	var before int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(t.Context(), s.DB()); err != nil {
		t.Fatal(err)
	}
	var after int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("second migrate changed the version table: %d -> %d rows", before, after)
	}
	var fk int
	if err := s.DB().QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign keys off: %d, %v", fk, err)
	}
	var mode string
	if err := s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
}
