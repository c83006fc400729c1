package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// DefaultAppRole is the runtime role `palisade migrate` creates.
const DefaultAppRole = "palisade_app"

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// MigrateOptions name the runtime role to create or update, and carry the
// master key.
type MigrateOptions struct {
	AppRole     string        // default DefaultAppRole
	AppPassword secret.Secret // optional; set on the role when given
	// Master is the master key every process shares. Migrate installs the
	// scope key derived from it (DeriveScopeKey) where only the admin role
	// can read it, for the policies to verify the scopes the application
	// sets (scope.go), and makes the first KEK, which the runtime role
	// may not. Required.
	Master seal.MasterKey
}

// ErrScopeKeyMismatch is returned by Migrate when the database already
// holds a scope key other than the one derived from the master key given:
// replacing it would make every running server's scopes fail, so the
// master key is most likely the wrong one.
var ErrScopeKeyMismatch = errors.New("the database's scope key was derived from another master key: " +
	"migrate with the master key the servers use")

// MigrateResult says what a migration run changed.
type MigrateResult struct {
	Applied     int  // schema migrations applied
	RoleCreated bool // the runtime role did not exist before
}

// Migrate connects as the admin role (the owner of the schema), applies the
// embedded migrations and River's, installs the scope key, makes the first
// KEK, and creates or updates the runtime role: LOGIN, NOSUPERUSER,
// NOBYPASSRLS, not an owner, with only the DML grants it needs; the audit
// logs are append-only for it, it may only read the KEKs, and it cannot
// delete a workspace but through palisade_delete_workspace. Running it again
// changes nothing.
func Migrate(ctx context.Context, adminURL string, mo MigrateOptions) (MigrateResult, error) {
	var res MigrateResult
	if mo.Master.IsZero() {
		return res, errors.New("migrating: the master key is required (the scope key and the first KEK derive from it)")
	}
	key, err := DeriveScopeKey(mo.Master)
	if err != nil {
		return res, err
	}
	mac, err := newScopeMAC(key)
	clear(key)
	if err != nil {
		return res, err
	}
	role := mo.AppRole
	if role == "" {
		role = DefaultAppRole
	}
	if !roleName.MatchString(role) {
		return res, fmt.Errorf("runtime role name %q must match %s", role, roleName)
	}
	pool, err := pgxpool.New(ctx, adminURL)
	if err != nil {
		return res, fmt.Errorf("connecting to PostgreSQL as admin: %w", err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return res, fmt.Errorf("reading embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		return res, fmt.Errorf("preparing migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("applying migrations: %w", err)
	}
	res.Applied = len(results)
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return res, fmt.Errorf("preparing job queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return res, fmt.Errorf("applying job queue migrations: %w", err)
	}
	if err := installKeys(ctx, pool, mac, mo.Master); err != nil {
		return res, err
	}
	res.RoleCreated, err = ensureRole(ctx, pool, role, mo.AppPassword)
	return res, err
}

// installKeys installs the scope key and makes sure a KEK exists, in the
// order that is safe: when KEKs exist, the master key must open them before
// its scope key is installed (a wrong master key would otherwise leave a
// scope key no server can use, and one migrate would refuse to replace);
// when none exists, the keyring makes KEK v1 only after the scope key is in
// place, so that its check for data keys left without a KEK sees every
// data key (as a non-superuser owner, the admin role is subject to the
// policies too).
func installKeys(ctx context.Context, pool *pgxpool.Pool, mac *scopeMAC, master seal.MasterKey) error {
	ks := sqlstore.NewKeyStore(&driver{pool: pool, scope: mac})
	keks, err := ks.ListKEKs(ctx)
	if err != nil {
		return fmt.Errorf("reading the KEKs: %w", err)
	}
	if len(keks) > 0 {
		if _, err := seal.NewKeyring(ctx, master, ks, seal.Options{}); err != nil {
			return fmt.Errorf("checking the master key: %w", err)
		}
	}
	if err := installScopeKey(ctx, pool, mac); err != nil {
		return err
	}
	if len(keks) == 0 {
		if _, err := seal.NewKeyring(ctx, master, ks, seal.Options{}); err != nil {
			return fmt.Errorf("making the first KEK: %w", err)
		}
	}
	return nil
}

// installScopeKey stores the scope key's pads in palisade_private
// (migration 00008) unless the same key is there already; it refuses to
// replace a different one.
func installScopeKey(ctx context.Context, pool *pgxpool.Pool, mac *scopeMAC) error {
	inner, outer := mac.pads()
	defer clear(inner)
	defer clear(outer)
	if _, err := pool.Exec(ctx, `INSERT INTO palisade_private.scope_key (singleton, inner_pad, outer_pad) VALUES (TRUE, $1, $2)
		ON CONFLICT (singleton) DO NOTHING`, inner, outer); err != nil {
		return fmt.Errorf("installing the scope key: %w", err)
	}
	var same bool
	if err := pool.QueryRow(ctx, `SELECT inner_pad = $1 AND outer_pad = $2 FROM palisade_private.scope_key`, inner, outer).Scan(&same); err != nil {
		return fmt.Errorf("checking the scope key: %w", err)
	}
	if !same {
		return ErrScopeKeyMismatch
	}
	return nil
}

func ensureRole(ctx context.Context, pool *pgxpool.Pool, role string, password secret.Secret) (bool, error) {
	ident := pgx.Identifier{role}.Sanitize()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("configuring runtime role: %w", err)
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return false, fmt.Errorf("configuring runtime role: %w", err)
	}
	// The role name is checked against a strict pattern above and quoted
	// as an identifier; DDL cannot take it as a parameter.
	stmts := []string{}
	if !exists {
		stmts = append(stmts, `CREATE ROLE `+ident+` LOGIN`)
	}
	stmts = append(stmts,
		`ALTER ROLE `+ident+` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION`,
		`GRANT USAGE ON SCHEMA `+schemaIdent(ctx, tx)+` TO `+ident,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schemaIdent(ctx, tx)+` TO `+ident,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA `+schemaIdent(ctx, tx)+` TO `+ident,
		// The audit logs are append-only for the runtime: an attacker with
		// the application's database access cannot rewrite history.
		`REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, platform_audit_log FROM `+ident,
		`REVOKE ALL ON goose_db_version FROM `+ident,
		// A DELETE on workspaces cascades to every tenant table past their
		// policies; the runtime deletes a workspace only through
		// palisade_delete_workspace (migration 00008).
		`REVOKE DELETE, TRUNCATE ON workspaces FROM `+ident,
		// The key store (migration 00006, keys.go). The KEKs are read-only
		// for the runtime: migrate makes the first, and `palisade keys
		// rotate`, as the admin role, the others, so nothing the runtime
		// can be made to run deletes or replaces them. Tombstones of
		// destroyed workspaces are permanent for the runtime.
		`GRANT USAGE ON SCHEMA palisade_keys TO `+ident,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA palisade_keys TO `+ident,
		`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON palisade_keys.keks FROM `+ident,
		`REVOKE UPDATE, DELETE, TRUNCATE ON palisade_keys.destroyed_workspaces FROM `+ident,
		// The scope key: the admin role's alone (migration 00008).
		`REVOKE ALL ON SCHEMA palisade_private FROM `+ident,
		`REVOKE ALL ON ALL TABLES IN SCHEMA palisade_private FROM `+ident,
	)
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return false, fmt.Errorf("configuring runtime role: %w", err)
		}
	}
	if !password.IsZero() {
		var stmt string
		if err := tx.QueryRow(ctx, `SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)`, role, password.Reveal()).Scan(&stmt); err != nil {
			return false, fmt.Errorf("setting runtime role password: %w", err)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return false, fmt.Errorf("setting runtime role password: %w", errRedacted)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("configuring runtime role: %w", err)
	}
	return !exists, nil
}

var errRedacted = fmt.Errorf("statement failed (details withheld: it carried a password)")

func schemaIdent(ctx context.Context, tx pgx.Tx) string {
	var s string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&s); err != nil || s == "" {
		s = "public"
	}
	return pgx.Identifier{s}.Sanitize()
}
