package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/palisadehq/palisade/internal/secret"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// DefaultAppRole is the runtime role `palisade migrate` creates.
const DefaultAppRole = "palisade_app"

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// MigrateOptions name the runtime role to create or update.
type MigrateOptions struct {
	AppRole     string        // default DefaultAppRole
	AppPassword secret.Secret // optional; set on the role when given
}

// MigrateResult says what a migration run changed.
type MigrateResult struct {
	Applied     int  // schema migrations applied
	RoleCreated bool // the runtime role did not exist before
}

// Migrate connects as the admin role (the owner of the schema), applies the
// embedded migrations and River's, and creates or updates the runtime role:
// LOGIN, NOSUPERUSER, NOBYPASSRLS, not an owner, with only DML grants; the
// audit logs are append-only for it. Running it again changes nothing.
func Migrate(ctx context.Context, adminURL string, mo MigrateOptions) (MigrateResult, error) {
	var res MigrateResult
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
	res.RoleCreated, err = ensureRole(ctx, pool, role, mo.AppPassword)
	return res, err
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
		// The key store (migration 00006, keys.go); tombstones of destroyed
		// workspaces are permanent for the runtime.
		`GRANT USAGE ON SCHEMA palisade_keys TO `+ident,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA palisade_keys TO `+ident,
		`REVOKE UPDATE, DELETE, TRUNCATE ON palisade_keys.destroyed_workspaces FROM `+ident,
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
