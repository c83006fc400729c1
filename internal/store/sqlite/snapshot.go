package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
)

// Snapshot writes a consistent copy of the database to path (VACUUM INTO:
// one read transaction, so the copy is the database at one instant, while
// the server goes on). path must not exist; it is created mode 0600.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	return snapshot(ctx, s.db, path)
}

// Snapshot writes a consistent copy of the key database to path.
func (k *KeyStore) Snapshot(ctx context.Context, path string) error {
	return snapshot(ctx, k.db, path)
}

func snapshot(ctx context.Context, db *sql.DB, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the snapshot: %w", err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	return nil
}

// CheckFile opens the database file at path read-only and runs SQLite's
// full integrity check, and checks that it is a migrated Palisade
// database (data or keys): what a restore does before it puts the file in
// place.
func CheckFile(ctx context.Context, path string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("checking %s: %w", path, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s fails SQLite's integrity check: %v", path, problems)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version`).Scan(&n); err != nil || n == 0 {
		return fmt.Errorf("%s is not a Palisade database", path)
	}
	return nil
}
