// Package postgres is the scale-out store on PostgreSQL through pgx: the
// same queries as SQLite (sqlstore), with Row Level Security underneath on
// every tenant table and on the account tables, keyed on transaction-local
// settings that carry a MAC the database verifies (scope.go), and a split
// between the admin role that migrates and owns the tables and the runtime
// role that serves requests. The key store (seal.KeyStore) lives in the
// same database, in the palisade_keys schema, reached through a small pool
// of its own (keys.go).
//
// It must never serve requests as a role that bypasses RLS (superuser,
// BYPASSRLS, an owner of what Palisade uses, or a member of one) unless the
// operator explicitly said so, never set the tenant scope outside a
// transaction, and never set one without its tag.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// Store is the PostgreSQL store.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

// Pool exposes the connection pool to tests and tools of this module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// OpenOptions are PostgreSQL-specific options.
type OpenOptions struct {
	// ScopeKey is DeriveScopeKey of the master key: every transaction's
	// scope is tagged with it, and the policies see nothing without a tag
	// they verify. Required.
	ScopeKey []byte
	// UnsafeAllowPrivilegedRole lets the runtime connect as a role that
	// bypasses Row Level Security. Off by default; logged loudly when on.
	UnsafeAllowPrivilegedRole bool
}

// ErrPrivilegedRole is returned by Open when the runtime role would bypass
// Row Level Security.
var ErrPrivilegedRole = errors.New("the database role bypasses Row Level Security")

// Open connects as the runtime role, refuses a privileged role, and prepares
// the job queue. It does not migrate: `palisade migrate` does, as admin.
func Open(ctx context.Context, url string, opts store.Options, po OpenOptions) (*Store, error) {
	mac, err := newScopeMAC(po.ScopeKey)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", errors.New("invalid PostgreSQL URL"))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	priv, err := CheckRole(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if priv != "" {
		if !po.UnsafeAllowPrivilegedRole {
			pool.Close()
			return nil, fmt.Errorf("%w: role %s; serve as the runtime role created by `palisade migrate` (default palisade_app), or pass --unsafe-allow-privileged-db-role to accept the risk", ErrPrivilegedRole, priv)
		}
		if opts.Logger != nil {
			opts.Logger.Error("UNSAFE: serving as a database role that bypasses Row Level Security; tenant isolation rests on application code alone", "role", priv)
		}
	}
	d := &driver{pool: pool, hook: opts.QueryHook, scope: mac}
	jobs, err := sqlstore.NewRiverInserter(riverpgxv5.New(pool), opts.Logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	d.jobs = jobs
	return &Store{Store: sqlstore.New(d).WithSealer(opts.Sealer).WithUserSealer(opts.UserSealer).WithClock(opts.Now), pool: pool}, nil
}

// CheckRole reports why the connected role would bypass RLS, or could make
// itself a role that does ("" when neither): a superuser or BYPASSRLS role;
// the owner of a table, function or schema Palisade uses (the data schema,
// palisade_keys and palisade_private), who may turn RLS off or change the
// policies; or a member of any of those, who may SET ROLE to it.
// pg_has_role's MEMBER counts membership through any chain of grants,
// with or without INHERIT.
func CheckRole(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var name, privRole, ownerRole, what string
	var super, bypass, memberPriv, owner, memberOwner bool
	err := pool.QueryRow(ctx, `
		WITH me AS (SELECT oid, rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user),
		priv AS (
			SELECT r.rolname FROM pg_roles r, me
			WHERE (r.rolsuper OR r.rolbypassrls) AND r.oid <> me.oid AND pg_has_role(me.oid, r.oid, 'MEMBER')
			ORDER BY r.rolname LIMIT 1),
		ns AS (SELECT oid, nspname, nspowner FROM pg_namespace WHERE nspname IN (current_schema(), 'palisade_keys', 'palisade_private')),
		owned AS (
			SELECT nspowner AS owner, 'schema ' || nspname AS what FROM ns
			UNION ALL
			SELECT c.relowner, 'table ' || ns.nspname || '.' || c.relname FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
			WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
			UNION ALL
			SELECT p.proowner, 'function ' || ns.nspname || '.' || p.proname FROM pg_proc p JOIN ns ON p.pronamespace = ns.oid),
		mine AS (
			SELECT o.owner = me.oid AS own, r.rolname AS via, o.what FROM owned o JOIN pg_roles r ON r.oid = o.owner, me
			WHERE pg_has_role(me.oid, o.owner, 'MEMBER')
			ORDER BY o.owner = me.oid DESC, o.what LIMIT 1)
		SELECT me.rolname, me.rolsuper, me.rolbypassrls,
			EXISTS (SELECT 1 FROM priv), COALESCE((SELECT rolname FROM priv), ''),
			COALESCE((SELECT own FROM mine), false), EXISTS (SELECT 1 FROM mine),
			COALESCE((SELECT via FROM mine), ''), COALESCE((SELECT what FROM mine), '')
		FROM me`).Scan(&name, &super, &bypass, &memberPriv, &privRole, &owner, &memberOwner, &ownerRole, &what)
	if err != nil {
		return "", fmt.Errorf("checking database role: %w", err)
	}
	switch {
	case super:
		return fmt.Sprintf("%q is a superuser", name), nil
	case bypass:
		return fmt.Sprintf("%q has BYPASSRLS", name), nil
	case memberPriv:
		return fmt.Sprintf("%q is a member of %q, a superuser or BYPASSRLS role", name, privRole), nil
	case owner:
		return fmt.Sprintf("%q owns tables (it is the migrating admin role): it owns %s", name, what), nil
	case memberOwner:
		return fmt.Sprintf("%q is a member of %q, which owns tables (it could SET ROLE to the migrating admin role): %q owns %s", name, ownerRole, ownerRole, what), nil
	}
	return "", nil
}

type driver struct {
	pool *pgxpool.Pool
	hook func(string)
	// scope tags every transaction's scope (scope.go).
	scope *scopeMAC
	// jobs is nil on the key store's pool, which has no queue.
	jobs *sqlstore.RiverInserter[pgx.Tx]
}

func (d *driver) Dialect() store.Dialect         { return store.DialectPostgres }
func (d *driver) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }
func (d *driver) Close() error                   { d.pool.Close(); return nil }
func (d *driver) Jobs() store.JobQueue           { return d.jobs }

func (d *driver) IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (d *driver) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// InTx sets the scope as transaction-local settings, which the RLS policies
// read, with the tag that authenticates them for this connection (scope.go);
// they vanish at commit or rollback, so a pooled connection never carries
// one request's scope into another. Every setting is set in every
// transaction, empty ones too, so that nothing set earlier on the
// connection at session level (by an injected SET) is read instead.
func (d *driver) InTx(ctx context.Context, scope sqlstore.TxScope, fn func(sqlstore.Tx) error) (err error) {
	defer func() { err = classify(err) }()
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	set := settingsOf(scope)
	tag, err := d.scope.tag(tx.Conn().PgConn().PID(), time.Now().Add(scopeTTL), set)
	if err != nil {
		return fmt.Errorf("setting transaction scope: %w", err)
	}
	if _, err = tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true), set_config('app.user_id', $2, true),
		set_config('app.lookup', $3, true), set_config('app.key_scan', $4, true), set_config('app.scope_tag', $5, true)`,
		set.workspace, set.user, set.lookup, set.keyScan, tag); err != nil {
		return fmt.Errorf("setting transaction scope: %w", err)
	}
	if err = fn(&pgTx{tx: tx, d: d}); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

type pgTx struct {
	tx pgx.Tx
	d  *driver
}

func (t *pgTx) note(q string) {
	if t.d.hook != nil {
		t.d.hook(q)
	}
}

func (t *pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	t.note(q)
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t *pgTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	t.note(q)
	return t.tx.QueryRow(ctx, q, args...)
}

func (t *pgTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	t.note(q)
	return t.tx.Query(ctx, q, args...)
}

func (t *pgTx) Enqueue(ctx context.Context, args store.JobArgs) error {
	if t.d.jobs == nil {
		return errors.New("enqueueing a job: this connection pool has no job queue")
	}
	return t.d.jobs.InsertTx(ctx, t.tx, args)
}
