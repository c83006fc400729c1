package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/storetest"
)

// testMaster is the master key of every test database; testScopeKey the
// scope key derived from it, which migrate installs.
var testMaster, testScopeKey = func() (seal.MasterKey, []byte) {
	m, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
	if err != nil {
		panic(err)
	}
	k, err := postgres.DeriveScopeKey(m)
	if err != nil {
		panic(err)
	}
	return m, k
}()

// setup creates a fresh database, migrates it as admin with a fresh runtime
// role, and returns the admin URL and the runtime URL.
func setup(t testing.TB) (adminURL, appURL, role string) {
	t.Helper()
	role = servicetest.PostgresRole(t) // registered first, so dropped after the database
	adminURL = servicetest.Postgres(t)
	if _, err := postgres.Migrate(t.Context(), adminURL, postgres.MigrateOptions{AppRole: role, Master: testMaster}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return adminURL, servicetest.WithUser(t, adminURL, role), role
}

func open(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	_, appURL, _ := setup(t)
	s, err := postgres.Open(t.Context(), appURL, opts, postgres.OpenOptions{ScopeKey: testScopeKey})
	if err != nil {
		t.Fatalf("opening postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestRefusesPrivilegedRole(t *testing.T) {
	t.Parallel()
	adminURL, _, _ := setup(t)
	// The admin role owns the tables (and on the test server is a superuser).
	_, err := postgres.Open(t.Context(), adminURL, store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
	if !errors.Is(err, postgres.ErrPrivilegedRole) {
		t.Fatalf("Open as admin = %v, want ErrPrivilegedRole", err)
	}
	if !strings.Contains(err.Error(), "--unsafe-allow-privileged-db-role") {
		t.Fatalf("message does not say how to proceed: %v", err)
	}
	s, err := postgres.Open(t.Context(), adminURL, store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey, UnsafeAllowPrivilegedRole: true})
	if err != nil {
		t.Fatalf("explicitly allowed privileged role refused: %v", err)
	}
	s.Close()
}

func TestRefusesTableOwnerThatIsNotSuperuser(t *testing.T) {
	t.Parallel()
	adminURL, _, _ := setup(t)
	owner := servicetest.PostgresRole(t)
	conn, err := pgx.Connect(t.Context(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{owner}.Sanitize()
	for _, q := range []string{`CREATE ROLE ` + ident + ` LOGIN NOSUPERUSER NOBYPASSRLS`, `ALTER TABLE bots OWNER TO ` + ident,
		`GRANT USAGE ON SCHEMA public TO ` + ident} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `ALTER TABLE bots OWNER TO CURRENT_USER`) })
	_, err = postgres.Open(t.Context(), servicetest.WithUser(t, adminURL, owner), store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
	if !errors.Is(err, postgres.ErrPrivilegedRole) || !strings.Contains(err.Error(), "owns tables") {
		t.Fatalf("Open as table owner = %v, want refusal naming ownership", err)
	}
}

// TestRefusesMemberOfPrivilegedRole: a role that owns nothing and bypasses
// nothing itself, but is a member of a role that does, can SET ROLE to it
// and then turn RLS off or read past it; it is refused like that role.
func TestRefusesMemberOfPrivilegedRole(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		grant   []string // run as admin; %[1]s is the privileged role, %[2]s the member
		message string
	}{
		{"member of a table's owner", []string{`CREATE ROLE %[1]s NOLOGIN NOSUPERUSER NOBYPASSRLS`, `ALTER TABLE bots OWNER TO %[1]s`}, "owns tables"},
		{"member of palisade_keys' owner", []string{`CREATE ROLE %[1]s NOLOGIN NOSUPERUSER NOBYPASSRLS`, `ALTER SCHEMA palisade_keys OWNER TO %[1]s`}, "owns tables"},
		{"member of the data schema's owner", []string{`CREATE ROLE %[1]s NOLOGIN NOSUPERUSER NOBYPASSRLS`, `ALTER SCHEMA public OWNER TO %[1]s`}, "owns tables"},
		{"member of a function's owner", []string{`CREATE ROLE %[1]s NOLOGIN NOSUPERUSER NOBYPASSRLS`, `ALTER FUNCTION palisade_scope() OWNER TO %[1]s`}, "owns tables"},
		{"member of a BYPASSRLS role", []string{`CREATE ROLE %[1]s NOLOGIN NOSUPERUSER BYPASSRLS`}, "BYPASSRLS"},
		{"member of a superuser", []string{`CREATE ROLE %[1]s NOLOGIN SUPERUSER`}, "superuser"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			privileged := servicetest.PostgresRole(t)
			adminURL, _, role := setup(t)
			conn, err := pgx.Connect(t.Context(), adminURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			p, member := pgx.Identifier{privileged}.Sanitize(), pgx.Identifier{role}.Sanitize()
			for _, q := range append(c.grant, `GRANT %[1]s TO %[2]s`) {
				q = fmt.Sprintf(q, p, member)
				if _, err := conn.Exec(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err = postgres.Open(t.Context(), servicetest.WithUser(t, adminURL, role), store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
			if !errors.Is(err, postgres.ErrPrivilegedRole) || !strings.Contains(err.Error(), c.message) || !strings.Contains(err.Error(), privileged) {
				t.Fatalf("Open as %s = %v, want a refusal naming %s and %q", c.name, err, privileged, c.message)
			}
		})
	}
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	adminURL, _, role := setup(t)
	res, err := postgres.Migrate(t.Context(), adminURL, postgres.MigrateOptions{AppRole: role, Master: testMaster})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 0 || res.RoleCreated {
		t.Fatalf("second migrate changed something: %+v", res)
	}
}

// tenantTables lists every table that has a workspace_id column.
func tenantTables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'workspace_id' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// fixtures insert one row of a workspace into each tenant table, in
// dependency order. A tenant table without a fixture fails the test, so a new
// table cannot escape the isolation check.
var fixtures = []struct {
	table string
	sql   string
}{
	{"memberships", `INSERT INTO memberships (id, workspace_id, user_id, role, created_at) VALUES ($1||'m', $1, $2, 'owner', now())`},
	{"invitations", `INSERT INTO invitations (id, workspace_id, email, role, token_hash, created_at, expires_at) VALUES ($1||'i', $1, 'x@example.com', 'viewer', $1||'tok', now(), now() + interval '1 day')`},
	{"api_keys", `INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at) VALUES ($1||'k', $1, 'k', $1||'pfx', '\x00', now())`},
	{"provider_keys", `INSERT INTO provider_keys (id, workspace_id, provider, sealed_key, created_at) VALUES ($1||'p', $1, 'openai', '\x00', now())`},
	{"bots", `INSERT INTO bots (id, workspace_id, name, created_at, updated_at) VALUES ($1||'b', $1, 'bot', now(), now())`},
	{"channels", `INSERT INTO channels (id, workspace_id, bot_id, kind, created_at, updated_at) VALUES ($1||'c', $1, $1||'b', 'telegram', now(), now())`},
	{"conversations", `INSERT INTO conversations (id, workspace_id, bot_id, key, channel, created_at, last_message_at) VALUES ($1||'v', $1, $1||'b', 'k', 'api', now(), now())`},
	{"messages", `INSERT INTO messages (id, workspace_id, conversation_id, bot_id, role, sealed_body, created_at) VALUES ($1||'g', $1, $1||'v', $1||'b', 'user', '\x00', now())`},
	{"documents", `INSERT INTO documents (id, workspace_id, bot_id, title, content_type, created_at) VALUES ($1||'d', $1, $1||'b', 't', 'text/plain', now())`},
	{"chunks", `INSERT INTO chunks (id, workspace_id, document_id, bot_id, ordinal, body) VALUES ($1||'h', $1, $1||'d', $1||'b', 0, 'hello world')`},
	{"deliveries", `INSERT INTO deliveries (workspace_id, bot_id, source, key, created_at) VALUES ($1, $1||'b', 'telegram', '1', now())`},
	{"reply_sends", `INSERT INTO reply_sends (workspace_id, bot_id, source, ref, part, state, created_at, updated_at) VALUES ($1, $1||'b', 'telegram', '1', 0, 'pending', now(), now())`},
	{"usage_daily", `INSERT INTO usage_daily (workspace_id, bot_id, day) VALUES ($1, $1||'b', '2026-11-24')`},
	{"usage_reservations", `INSERT INTO usage_reservations (id, workspace_id, bot_id, day, tokens, created_at, expires_at) VALUES ($1||'r', $1, $1||'b', '2026-11-24', 10, now(), now() + interval '1 hour')`},
	{"workspace_plans", `INSERT INTO workspace_plans (workspace_id, plan, product_id, subscription_id, status, source_time, updated_at) VALUES ($1, 'pro', 'p', 's', 'active', now(), now())`},
	{"event_endpoints", `INSERT INTO event_endpoints (id, workspace_id, url, events, sealed_secret, created_at) VALUES ($1||'e', $1, 'https://example.com', 'reply.sent', '\x00', now())`},
	{"event_deliveries", `INSERT INTO event_deliveries (id, workspace_id, endpoint_id, event_id, event_type, attempt, status, duration_ms, created_at) VALUES ($1||'l', $1, $1||'e', 'evt', 'reply.sent', 1, 200, 1, now())`},
	{"pii_placeholders", `INSERT INTO pii_placeholders (workspace_id, conversation_id, kind, mac, number) VALUES ($1, $1||'v', 'EMAIL', '\x00', 1)`},
	{"refusals_daily", `INSERT INTO refusals_daily (workspace_id, day, kind, count) VALUES ($1, '2026-11-24', 'rate_limited', 1)`},
	{"idempotency_keys", `INSERT INTO idempotency_keys (id, workspace_id, principal, key, request_hash, created_at, expires_at) VALUES ($1||'q', $1, 'key_x', 'k', '\x00', now(), now() + interval '1 day')`},
	{"audit_log", `INSERT INTO audit_log (workspace_id, seq, id, actor, action, outcome, created_at, prev_hash, hash) VALUES ($1, 1, $1||'a', 'x', 'x', 'ok', now(), '\x00', '\x00')`},
}

// TestRowLevelSecurity: raw SQL as the
// runtime role sees nothing without a scope, only its own workspace with one,
// and cannot write into another workspace.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	adminURL, appURL, role := setup(t)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())

	tables := tenantTables(t, admin)
	have := map[string]bool{}
	for _, f := range fixtures {
		have[f.table] = true
	}
	for _, tb := range tables {
		if !have[tb] {
			t.Fatalf("tenant table %s has no fixture in this test: add one", tb)
		}
	}
	if len(tables) != len(fixtures) {
		t.Fatalf("fixtures for %d tables, schema has %d tenant tables: %v", len(fixtures), len(tables), tables)
	}

	// pg_class: RLS enabled and forced on every tenant table.
	for _, tb := range tables {
		var enabled, forced bool
		if err := admin.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)`, tb).Scan(&enabled, &forced); err != nil {
			t.Fatal(err)
		}
		if !enabled || !forced {
			t.Errorf("table %s: row security enabled=%v forced=%v", tb, enabled, forced)
		}
	}
	// pg_roles: the runtime role is neither superuser nor BYPASSRLS.
	var super, bypass bool
	if err := admin.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, role).Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("runtime role superuser=%v bypassrls=%v", super, bypass)
	}

	// Seed two workspaces (as admin, which bypasses RLS as superuser owner).
	wsA, wsB := string(palisade.NewWorkspaceID()), string(palisade.NewWorkspaceID())
	user := string(palisade.NewUserID())
	if _, err := admin.Exec(ctx, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $1||'@example.com', now(), now())`, user); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []string{wsA, wsB} {
		if _, err := admin.Exec(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES ($1, 'w', now())`, ws); err != nil {
			t.Fatal(err)
		}
		for _, f := range fixtures {
			args := []any{ws}
			if strings.Contains(f.sql, "$2") {
				args = append(args, user)
			}
			if _, err := admin.Exec(ctx, f.sql, args...); err != nil {
				t.Fatalf("seeding %s: %v", f.table, err)
			}
		}
	}

	app, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	count := func(tx pgx.Tx, table string, where string, args ...any) int {
		t.Helper()
		var n int
		q := `SELECT COUNT(*) FROM ` + pgx.Identifier{table}.Sanitize() + where
		if err := tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	// inTx runs fn in a transaction of the runtime role scoped to ws the
	// way the application does it: with a tag that verifies.
	inTx := func(ws string, fn func(tx pgx.Tx)) {
		t.Helper()
		tx := begin(t, app, authentic(app, scopeSettings{workspace: ws}))
		defer tx.Rollback(ctx)
		fn(tx)
	}

	// No scope: nothing, in every table — also after a scoped transaction
	// ended on the same connection (the setting reads '' then, not NULL).
	inTx(wsA, func(tx pgx.Tx) {})
	inTx("", func(tx pgx.Tx) {
		for _, tb := range tables {
			if n := count(tx, tb, ""); n != 0 {
				t.Errorf("no scope: %s returned %d rows", tb, n)
			}
		}
	})
	// Scoped to A: A's rows, never B's.
	inTx(wsA, func(tx pgx.Tx) {
		for _, tb := range tables {
			if n := count(tx, tb, ""); n != 1 {
				t.Errorf("scope A: %s returned %d rows, want 1", tb, n)
			}
			if n := count(tx, tb, ` WHERE workspace_id = $1`, wsB); n != 0 {
				t.Errorf("scope A: %s returned %d rows of B", tb, n)
			}
		}
	})
	// Scoped to A: inserting a row of B fails; moving A's bot to B fails;
	// updating or deleting B's rows touches nothing.
	for _, f := range fixtures {
		t.Run("write/"+f.table, func(t *testing.T) {
			tx, err := app.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			set := authentic(app, scopeSettings{workspace: wsA})
			if _, err := tx.Exec(ctx, setScope, set.workspace, set.user, set.lookup, set.keyScan, set.tag); err != nil {
				t.Fatal(err)
			}
			args := []any{wsB}
			if strings.Contains(f.sql, "$2") {
				args = append(args, user)
			}
			// The fixture's ids derive from the workspace id, so this is
			// B's own row again: refused by the policy before any
			// uniqueness check could tell.
			_, err = tx.Exec(ctx, f.sql, args...)
			if err == nil {
				t.Fatalf("scope A: inserting a row of B into %s succeeded", f.table)
			}
		})
	}
	inTx(wsA, func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, `UPDATE bots SET workspace_id = $1 WHERE workspace_id = $2`, wsB, wsA); err == nil {
			t.Error("scope A: moving a bot into B succeeded")
		}
	})
	inTx(wsA, func(tx pgx.Tx) {
		tag, err := tx.Exec(ctx, `UPDATE bots SET name = 'pwned' WHERE workspace_id = $1`, wsB)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("scope A: update of B's bots affected %d rows (%v)", tag.RowsAffected(), err)
		}
		tag, err = tx.Exec(ctx, `DELETE FROM bots WHERE workspace_id = $1`, wsB)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("scope A: delete of B's bots affected %d rows (%v)", tag.RowsAffected(), err)
		}
	})
	// The audit log is append-only for the runtime role.
	inTx(wsA, func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, `UPDATE audit_log SET action = 'edited'`); err == nil {
			t.Error("runtime role may update the audit log")
		}
	})
	// Lookup keys reveal exactly one row of the key's holder, read-only.
	func() {
		tx := begin(t, app, authentic(app, scopeSettings{lookup: "bot:" + wsB + "b"}))
		defer tx.Rollback(ctx)
		if n := count(tx, "bots", ""); n != 1 {
			t.Errorf("lookup by bot id sees %d bots, want 1", n)
		}
		if n := count(tx, "channels", ""); n != 0 {
			t.Errorf("bot lookup opened channels: %d rows", n)
		}
		tag, err := tx.Exec(ctx, `UPDATE bots SET name = 'pwned'`)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("lookup scope could update: %d rows (%v)", tag.RowsAffected(), err)
		}
	}()
	// The webhook lookup key reveals exactly the one channel of that bot
	// and kind, read-only, and no bot and no other table.
	func() {
		tx := begin(t, app, authentic(app, scopeSettings{lookup: "hook:telegram:" + wsB + "b"}))
		defer tx.Rollback(ctx)
		if n := count(tx, "channels", ""); n != 1 {
			t.Errorf("webhook lookup sees %d channels, want 1", n)
		}
		for _, tb := range tables {
			if tb == "channels" {
				continue
			}
			if n := count(tx, tb, ""); n != 0 {
				t.Errorf("webhook lookup opened %s: %d rows", tb, n)
			}
		}
		for _, q := range []string{`UPDATE channels SET name = 'pwned'`, `DELETE FROM channels`} {
			tag, err := tx.Exec(ctx, q)
			if err != nil || tag.RowsAffected() != 0 {
				t.Errorf("webhook lookup scope could write (%s): %d rows (%v)", q, tag.RowsAffected(), err)
			}
		}
	}()
	func() {
		tx := begin(t, app, authentic(app, scopeSettings{lookup: "hook:slack:" + wsB + "b"}))
		defer tx.Rollback(ctx)
		if n := count(tx, "channels", ""); n != 0 {
			t.Errorf("a lookup of another kind sees %d channels", n)
		}
	}()
}
