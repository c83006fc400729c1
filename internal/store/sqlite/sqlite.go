// Package sqlite is the embedded store: a pure-Go SQLite database (WAL,
// foreign keys on) in the data directory, its embedded migrations, and the
// River job queue in the same file; and the key store (seal.KeyStore) in a
// file of its own, keys.db, with migrations of its own (keys.go).
//
// SQLite has no row-level security: tenant isolation rests on the scoped
// queries of sqlstore, which the conformance suite checks. It must never use
// cgo, never open the database with foreign keys off, and never put a key
// table in palisade.db.
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

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Store is the SQLite store.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

// DB exposes the database handle to tests and tools of this module.
func (s *Store) DB() *sql.DB { return s.db }

// Open opens (creating if needed) the database file at path, applies
// migrations, and prepares the job queue.
func Open(ctx context.Context, path string, opts store.Options) (*Store, error) {
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	// SQLite allows one writer; one connection shared by requests and the
	// job queue avoids SQLITE_BUSY, as River's driver recommends.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	d := &driver{db: db, hook: opts.QueryHook}
	jobs, err := sqlstore.NewRiverInserter(riversqlite.New(db), opts.Logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	d.jobs = jobs
	return &Store{Store: sqlstore.New(d).WithSealer(opts.Sealer).WithUserSealer(opts.UserSealer).WithClock(opts.Now), db: db}, nil
}

// Migrate applies the embedded migrations and River's own; running it again
// changes nothing.
func Migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return fmt.Errorf("reading embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return fmt.Errorf("preparing job queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("applying job queue migrations: %w", err)
	}
	return nil
}

type driver struct {
	db   *sql.DB
	hook func(string)
	// jobs is nil on the key database, which has no queue.
	jobs *sqlstore.RiverInserter[*sql.Tx]
}

func (d *driver) Dialect() store.Dialect         { return store.DialectSQLite }
func (d *driver) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }
func (d *driver) Close() error                   { return d.db.Close() }
func (d *driver) Jobs() store.JobQueue           { return d.jobs }

func (d *driver) IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (d *driver) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		c := e.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// InTx runs fn in a transaction. SQLite has no session settings for RLS;
// the scope is enforced by the queries themselves.
func (d *driver) InTx(ctx context.Context, _ sqlstore.TxScope, fn func(sqlstore.Tx) error) (err error) {
	defer func() { err = classify(err) }()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(&sqlTx{tx: tx, d: d}); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

type sqlTx struct {
	tx *sql.Tx
	d  *driver
}

func (t *sqlTx) note(q string) {
	if t.d.hook != nil {
		t.d.hook(q)
	}
}

func (t *sqlTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	t.note(q)
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *sqlTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	t.note(q)
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *sqlTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	t.note(q)
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (t *sqlTx) Enqueue(ctx context.Context, args store.JobArgs) error {
	if t.d.jobs == nil {
		return errors.New("enqueueing a job: this database has no job queue")
	}
	return t.d.jobs.InsertTx(ctx, t.tx, args)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// ownerOnly creates the database file with mode 0600, or tightens an
// existing one to it, before SQLite opens it: SQLite creates the
// write-ahead log and shared-memory files with the database file's mode, so
// all three are then readable by their owner only. A file left readable by
// others by an older install is tightened rather than refused, so an
// upgrade does not stop the server.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating sqlite database: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking sqlite database: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("making sqlite database private: %w", err)
		}
	}
	// Log and shared-memory files left by an older install keep their own
	// mode; SQLite reuses them.
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(side, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("making sqlite database private: %w", err)
		}
	}
	return nil
}
