// Package sqlstore is the one implementation of store.Store's queries, and
// of the key store's (seal.KeyStore, keys.go), written once in SQL both
// SQLite and PostgreSQL accept (positional $N parameters, ON CONFLICT,
// portable types), over a small Driver that each dialect package supplies:
// transactions with the tenant scope set, error classification and the job
// queue.
//
// Every tenant query filters on the scope's workspace itself; on PostgreSQL,
// Row Level Security enforces the same underneath. It must never build SQL
// from input (parameters only) and never run a tenant statement outside a
// transaction scoped by the Driver.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is one database transaction, already scoped.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Enqueue inserts a durable job in this transaction.
	Enqueue(ctx context.Context, args store.JobArgs) error
}

// TxScope is what a transaction may see. On PostgreSQL each field becomes a
// transaction-local setting the RLS policies read, authenticated by a tag
// the database verifies (store/postgres): the workspace, the user (the
// user's own row, sessions and memberships), or a lookup key (an
// unguessable public identifier such as an API key prefix or a token hash,
// which lets exactly that row be seen before its workspace or user is
// known; the lookup* constants name them).
type TxScope struct {
	Workspace palisade.WorkspaceID
	User      palisade.UserID
	Lookup    string
	// KeyScan lets the key store's one operator-wide read see every
	// workspace's data keys, and write none of them. Only KeyStore sets it.
	KeyScan bool
}

// Driver is what a dialect supplies.
type Driver interface {
	Dialect() store.Dialect
	InTx(ctx context.Context, scope TxScope, fn func(Tx) error) error
	// IsUniqueViolation reports whether err is a unique or primary key
	// violation.
	IsUniqueViolation(err error) bool
	// IsNoRows reports whether err means a single-row query found nothing.
	IsNoRows(err error) bool
	Ping(ctx context.Context) error
	Close() error
	Jobs() store.JobQueue
}

// Store implements store.Store over a Driver.
type Store struct {
	d Driver
	// sealer seals and opens sealed columns; nil refuses them (sealing.go).
	sealer store.Sealer
	// userSealer seals users' TOTP secrets; nil refuses them.
	userSealer store.UserSealer
	// now is the clock of the times the store sets itself (audit.go).
	now func() time.Time
	// exportPage is how many rows one transaction of an export reads.
	exportPage int
}

var _ store.Store = (*Store)(nil)

// New wraps a dialect driver.
func New(d Driver) *Store { return &Store{d: d, now: time.Now, exportPage: defaultExportPage} }

func (s *Store) Dialect() store.Dialect         { return s.d.Dialect() }
func (s *Store) Ping(ctx context.Context) error { return s.d.Ping(ctx) }
func (s *Store) Close() error                   { return s.d.Close() }
func (s *Store) Jobs() store.JobQueue           { return s.d.Jobs() }

// Driver exposes the dialect driver to the dialect package's own extras.
func (s *Store) Driver() Driver { return s.d }

// tenant runs fn in a transaction scoped to the workspace.
func (s *Store) tenant(ctx context.Context, scope palisade.Scope, fn func(Tx) error) error {
	if !scope.Valid() {
		return store.ErrNoScope
	}
	return s.d.InTx(ctx, TxScope{Workspace: scope.Workspace()}, fn)
}

// platform runs fn in an unscoped transaction: only the tables without a
// policy (the platform audit log, the job queue) are visible there.
func (s *Store) platform(ctx context.Context, fn func(Tx) error) error {
	return s.d.InTx(ctx, TxScope{}, fn)
}

// account runs fn in a transaction scoped to one user: their row, their
// sessions and their memberships.
func (s *Store) account(ctx context.Context, user palisade.UserID, fn func(Tx) error) error {
	if user == "" {
		return store.ErrNotFound
	}
	return s.d.InTx(ctx, TxScope{User: user}, fn)
}

// lookup runs fn in a transaction that may see the rows of one lookup key.
func (s *Store) lookup(ctx context.Context, key string, fn func(Tx) error) error {
	return s.d.InTx(ctx, TxScope{Lookup: key}, fn)
}

// Lookup keys: a prefix naming the kind and the value the policies
// (store/postgres migrations 00001 and 00008) compare with a row.
const (
	lookupAPIKey     = "key:"   // + the key's public prefix
	lookupBot        = "bot:"   // + the bot id
	lookupInvitation = "inv:"   // + the hex hash of the invitation token
	lookupEmail      = "email:" // + the lower-cased e-mail address
	lookupSession    = "sess:"  // + the hex hash of the session token
	lookupToken      = "ott:"   // + the hex hash of the one-time token
	lookupDevice     = "dev:"   // + the hex hash of the known-device token
	// lookupAllWorkspaces lets every workspace row be read, for the one
	// operator-wide listing (ListWorkspaceIDs).
	lookupAllWorkspaces = "workspaces:all"
	// lookupPrune lets expired one-time tokens be deleted (PruneExpired).
	lookupPrune = "prune"
)

// mapErr turns driver errors into the store's sentinel errors.
func (s *Store) mapErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case s.d.IsNoRows(err), errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case s.d.IsUniqueViolation(err):
		return store.ErrConflict
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrLastOwner), errors.Is(err, store.ErrRoleChanged):
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// timeScan scans a timestamp from either dialect: PostgreSQL hands over a
// time.Time, SQLite a time.Time or text depending on how it was written.
type timeScan struct{ t *time.Time }

func (d timeScan) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	case int64:
		*d.t = time.Unix(0, v).UTC()
		return nil
	case nil:
		*d.t = time.Time{}
		return nil
	}
	return fmt.Errorf("cannot scan %T into a time", src)
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

func (d timeScan) parse(v string) error {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			*d.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", v)
}

// nullTimeScan scans a nullable timestamp into **time.Time.
type nullTimeScan struct{ t **time.Time }

func (d nullTimeScan) Scan(src any) error {
	if src == nil {
		*d.t = nil
		return nil
	}
	var t time.Time
	if err := (timeScan{&t}).Scan(src); err != nil {
		return err
	}
	*d.t = &t
	return nil
}

// dbTime normalises a time for writing: UTC, microsecond precision (what
// PostgreSQL keeps), so both dialects read back what was written.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func dbNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return dbTime(*t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strScan scans a nullable text column into a string ("" for NULL).
type strScan struct{ s *string }

func (d strScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.s = ""
	case string:
		*d.s = v
	case []byte:
		*d.s = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a string", src)
	}
	return nil
}

// listScan scans a text column holding a newline-separated list.
type listScan struct{ l *[]string }

func (d listScan) Scan(src any) error {
	var s string
	if err := (strScan{&s}).Scan(src); err != nil {
		return err
	}
	if s == "" {
		*d.l = nil
		return nil
	}
	*d.l = strings.Split(s, "\n")
	return nil
}

// joinList stores a list of validated values that never contain newlines.
func joinList(l []string) string { return strings.Join(l, "\n") }
