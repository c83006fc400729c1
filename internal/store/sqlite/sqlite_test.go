package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

// The database and the files SQLite keeps beside it (its write-ahead log
// and shared memory) hold every tenant's rows: they are created readable by
// their owner only, and a database file left readable by others from an
// older install is tightened when opened.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "palisade.db")
	s, err := sqlite.Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "W", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(name), m)
		}
	}
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("reopened database: %v, %v; want mode 600", fi.Mode().Perm(), err)
	}
}
