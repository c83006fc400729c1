package postgres_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// scopeSettings are the values a transaction's scope sets, as raw SQL would
// set them.
type scopeSettings struct {
	workspace, user, lookup, keyScan, tag string
}

const setScope = `SELECT set_config('app.workspace_id', $1, true), set_config('app.user_id', $2, true),
	set_config('app.lookup', $3, true), set_config('app.key_scan', $4, true), set_config('app.scope_tag', $5, true)`

// tagFor computes a scope tag the way scope.go documents the format. It is
// written again here, not taken from the store, so that these tests hold
// the database's check to the documented format.
func tagFor(pid uint32, exp time.Time, s scopeSettings) string {
	p, e := strconv.FormatUint(uint64(pid), 10), strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, testScopeKey)
	m.Write([]byte(strings.Join([]string{"palisade scope v1", p, e, s.workspace, s.user, s.lookup, s.keyScan}, "\x00")))
	return "v1." + p + "." + e + "." + hex.EncodeToString(m.Sum(nil))
}

// authentic returns s with the tag the application would set on conn.
func authentic(conn *pgx.Conn, s scopeSettings) scopeSettings {
	s.tag = tagFor(conn.PgConn().PID(), time.Now().Add(time.Minute), s)
	return s
}

// begin starts a transaction on conn with s set as transaction-local
// settings.
func begin(t *testing.T, conn *pgx.Conn, s scopeSettings) pgx.Tx {
	t.Helper()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), setScope, s.workspace, s.user, s.lookup, s.keyScan, s.tag); err != nil {
		_ = tx.Rollback(t.Context())
		t.Fatal(err)
	}
	return tx
}

// seeded is a database with two workspaces, each with a row in every
// tenant table, a member with a password hash, a session, a one-time token
// and a data key, written as admin (a superuser, past RLS).
type seeded struct {
	adminURL, appURL string
	admin            *pgx.Conn
	wsA, wsB         string
	userA, userB     string
	tables           []string // every table a runtime role could read a tenant's or a user's row from
}

const seededPasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

func seed(t *testing.T) seeded {
	t.Helper()
	ctx := t.Context()
	adminURL, appURL, _ := setup(t)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	s := seeded{adminURL: adminURL, appURL: appURL, admin: admin,
		wsA: string(palisade.NewWorkspaceID()), wsB: string(palisade.NewWorkspaceID()),
		userA: string(palisade.NewUserID()), userB: string(palisade.NewUserID())}
	for _, p := range [][2]string{{s.wsA, s.userA}, {s.wsB, s.userB}} {
		ws, user := p[0], p[1]
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ($1, $1||'@example.com', $2, now(), now())`, []any{user, seededPasswordHash}},
			{`INSERT INTO workspaces (id, name, created_at) VALUES ($1, 'w', now())`, []any{ws}},
			{`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
				VALUES ($1||'s', $1, sha256(convert_to($1, 'UTF8')), now(), now(), now() + interval '1 day')`, []any{user}},
			{`INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at)
				VALUES (sha256(convert_to($1, 'UTF8')), 'reset', $1, now(), now() + interval '1 day')`, []any{user}},
			{`INSERT INTO palisade_keys.data_keys (workspace_id, version, kek_version, wrapped, created_at) VALUES ($1, 1, 1, '\x00', 0)`, []any{ws}},
			{`INSERT INTO known_devices (token_hash, user_id, created_at, expires_at)
				VALUES (sha256(convert_to($1||'d', 'UTF8')), $1, now(), now() + interval '1 day')`, []any{user}},
		} {
			if _, err := admin.Exec(ctx, q.sql, q.args...); err != nil {
				t.Fatalf("seeding: %s: %v", q.sql, err)
			}
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
	s.tables = append(tenantTables(t, admin), "workspaces", "users", "sessions", "one_time_tokens", "known_devices",
		"palisade_keys.data_keys", "palisade_keys.destroyed_workspaces")
	if _, err := admin.Exec(ctx, `INSERT INTO palisade_keys.destroyed_workspaces (workspace_id, destroyed_at) VALUES ($1, 0), ($2, 0)`,
		s.wsA+"x", s.wsB+"x"); err != nil {
		t.Fatal(err)
	}
	return s
}

// rows counts the rows of table tx sees.
func rows(t *testing.T, tx pgx.Tx, table string) int {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM ` + table // table names come from the catalogue and this test
	if err := tx.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestForgedScopeReadsNothing is the acceptance test of the authenticated
// scope: as the runtime role, with raw SQL (what an injection runs),
// setting the scope by hand — any setting, with no tag, a made-up tag, a
// tag copied from another connection, an expired tag, or a real tag with
// another workspace swapped in — reads no row of any tenant table, of the
// account tables, or of the data keys; and no password hash.
func TestForgedScopeReadsNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := seed(t)
	app := connect(t, db.appURL)
	other := connect(t, db.appURL)

	// A tag the store itself set, read back inside its own transaction
	// on another connection: the copy an attacker could find in a log.
	s, err := postgres.Open(ctx, db.appURL, store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var copied scopeSettings
	if err := s.Driver().InTx(ctx, sqlstore.TxScope{Workspace: palisade.WorkspaceID(db.wsB)}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(ctx, `SELECT current_setting('app.workspace_id'), current_setting('app.user_id'), current_setting('app.lookup'),
			current_setting('app.key_scan'), current_setting('app.scope_tag')`).Scan(&copied.workspace, &copied.user, &copied.lookup, &copied.keyScan, &copied.tag)
	}); err != nil {
		t.Fatal(err)
	}
	if copied.tag == "" || copied.workspace != db.wsB {
		t.Fatalf("the store's transaction set %+v", copied)
	}

	pid := app.PgConn().PID()
	b := scopeSettings{workspace: db.wsB}
	expired, swapped := b, authentic(app, scopeSettings{workspace: db.wsA})
	expired.tag = tagFor(pid, time.Now().Add(-time.Second), b)
	swapped.workspace = db.wsB
	forgeries := map[string]scopeSettings{
		"workspace, no tag":                 {workspace: db.wsB},
		"workspace, made-up tag":            {workspace: db.wsB, tag: "v1." + strconv.FormatUint(uint64(pid), 10) + ".99999999999." + strings.Repeat("ab", 32)},
		"workspace, tag of the store's own": copied,
		"workspace, tag for another connection": func() scopeSettings {
			f := b
			f.tag = tagFor(other.PgConn().PID(), time.Now().Add(time.Minute), b)
			return f
		}(),
		"workspace, expired tag":             expired,
		"workspace swapped under a real tag": swapped,
		"user, no tag":                       {user: db.userB},
		"e-mail lookup, no tag":              {lookup: "email:" + db.userB + "@example.com"},
		"all workspaces, no tag":             {lookup: "workspaces:all"},
		"prune, no tag":                      {lookup: "prune"},
		"key scan, no tag":                   {keyScan: "all"},
		"everything, no tag":                 {workspace: db.wsB, user: db.userB, lookup: "workspaces:all", keyScan: "all"},
	}
	for name, f := range forgeries {
		tx := begin(t, app, f)
		for _, tb := range db.tables {
			if n := rows(t, tx, tb); n != 0 {
				t.Errorf("%s: %s shows %d rows", name, tb, n)
			}
		}
		var hashes int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE password_hash <> ''`).Scan(&hashes); err != nil || hashes != 0 {
			t.Errorf("%s: %d password hashes readable (%v)", name, hashes, err)
		}
		_ = tx.Rollback(ctx)
	}
	// The same settings at session level, as SET without LOCAL leaves
	// them, are no better.
	if _, err := app.Exec(ctx, `SELECT set_config('app.workspace_id', $1, false), set_config('app.scope_tag', $2, false)`, copied.workspace, copied.tag); err != nil {
		t.Fatal(err)
	}
	for _, tb := range db.tables {
		var n int
		if err := app.QueryRow(ctx, `SELECT COUNT(*) FROM `+tb).Scan(&n); err != nil || n != 0 {
			t.Errorf("session-level copy: %s shows %d rows (%v)", tb, n, err)
		}
	}

	// The control: the same test code with a tag the database accepts
	// sees B's rows, so the zeros above are the tags' doing.
	tx := begin(t, app, authentic(app, b))
	defer tx.Rollback(ctx)
	for _, tb := range tenantTables(t, db.admin) {
		if n := rows(t, tx, tb); n != 1 {
			t.Errorf("authentic scope of B: %s shows %d rows, want 1", tb, n)
		}
	}
	for _, tb := range []string{"workspaces", "users", "palisade_keys.data_keys"} {
		if n := rows(t, tx, tb); n != 1 {
			t.Errorf("authentic scope of B: %s shows %d rows, want 1 (its own)", tb, n)
		}
	}
}

// TestForgedScopeWritesNothing: without an authentic scope the runtime
// role cannot plant a session for another user, a one-time token, a user, a
// workspace, or a tombstone, nor delete or rewrite another workspace's
// data keys.
func TestForgedScopeWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := seed(t)
	app := connect(t, db.appURL)
	forged := scopeSettings{workspace: db.wsB, user: db.userB, lookup: "ott:" + strings.Repeat("00", 32)}
	for name, q := range map[string]string{
		"session for another user": `INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
			VALUES ('planted', '` + db.userB + `', '\x0102', now(), now(), now() + interval '1 day')`,
		"one-time token": `INSERT INTO one_time_tokens (token_hash, purpose, created_at, expires_at) VALUES ('\x00', 'reset', now(), now() + interval '1 day')`,
		"known device for another user": `INSERT INTO known_devices (token_hash, user_id, created_at, expires_at)
			VALUES ('\x0304', '` + db.userB + `', now(), now() + interval '1 day')`,
		"user":      `INSERT INTO users (id, email, created_at, updated_at) VALUES ('usr_planted', 'planted@example.com', now(), now())`,
		"workspace": `INSERT INTO workspaces (id, name, created_at) VALUES ('` + db.wsB + `z', 'planted', now())`,
		"tombstone": `INSERT INTO palisade_keys.destroyed_workspaces (workspace_id, destroyed_at) VALUES ('` + db.wsB + `', 0)`,
		"data key":  `INSERT INTO palisade_keys.data_keys (workspace_id, version, kek_version, wrapped, created_at) VALUES ('` + db.wsB + `', 9, 1, '\x00', 0)`,
	} {
		tx := begin(t, app, forged)
		if _, err := tx.Exec(ctx, q); err == nil {
			t.Errorf("planting a %s succeeded", name)
		}
		_ = tx.Rollback(ctx)
	}
	for name, q := range map[string]string{
		"delete data keys":  `DELETE FROM palisade_keys.data_keys`,
		"rewrap data keys":  `UPDATE palisade_keys.data_keys SET wrapped = '\x01'`,
		"take over a user":  `UPDATE users SET password_hash = 'x'`,
		"revive a session":  `UPDATE sessions SET revoked_at = NULL, expires_at = now() + interval '1 year'`,
		"delete tokens":     `DELETE FROM one_time_tokens`,
		"forget devices":    `DELETE FROM known_devices`,
		"rename workspaces": `UPDATE workspaces SET name = 'pwned'`,
	} {
		tx := begin(t, app, forged)
		if tag, err := tx.Exec(ctx, q); err == nil && tag.RowsAffected() != 0 {
			t.Errorf("%s: %d rows changed", name, tag.RowsAffected())
		}
		_ = tx.Rollback(ctx)
	}
}

// TestRuntimeRoleCannotDestroy: the runtime role cannot delete workspaces
// (whose cascades run past every tenant policy) or touch the KEKs, whatever
// scope it holds; it deletes a workspace only through the function that
// checks an authentic scope and an audit entry in the same transaction.
func TestRuntimeRoleCannotDestroy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := seed(t)
	app := connect(t, db.appURL)
	for name, q := range map[string]string{
		"DELETE FROM workspaces":           `DELETE FROM workspaces`,
		"TRUNCATE workspaces":              `TRUNCATE workspaces CASCADE`,
		"DELETE FROM palisade_keys.keks":   `DELETE FROM palisade_keys.keks`,
		"UPDATE palisade_keys.keks":        `UPDATE palisade_keys.keks SET is_current = NOT is_current`,
		"INSERT INTO palisade_keys.keks":   `INSERT INTO palisade_keys.keks (version, wrapped, is_current, created_at) VALUES (99, '\x00', TRUE, 0)`,
		"TRUNCATE palisade_keys.keks":      `TRUNCATE palisade_keys.keks`,
		"read the scope key":               `SELECT * FROM palisade_private.scope_key`,
		"delete a workspace with no scope": `SELECT palisade_delete_workspace('` + db.wsB + `')`,
		"delete a workspace unaudited":     `SELECT palisade_delete_workspace('` + db.wsB + `')`,
		"delete another workspace":         `SELECT palisade_delete_workspace('` + db.wsA + `')`,
		"write the scope key":              `INSERT INTO palisade_private.scope_key VALUES (TRUE, '\x00', '\x00')`,
	} {
		// Even with an authentic scope of B.
		set := authentic(app, scopeSettings{workspace: db.wsB})
		if name == "delete a workspace with no scope" {
			set = scopeSettings{workspace: db.wsB}
		}
		tx := begin(t, app, set)
		if _, err := tx.Exec(ctx, q); err == nil {
			t.Errorf("%s: allowed", name)
		}
		_ = tx.Rollback(ctx)
	}
	var workspaces, keks int
	if err := db.admin.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM workspaces), (SELECT COUNT(*) FROM palisade_keys.keks WHERE is_current)`).Scan(&workspaces, &keks); err != nil {
		t.Fatal(err)
	}
	if workspaces != 2 || keks != 1 {
		t.Fatalf("after the attempts: %d workspaces, %d current KEKs; want 2 and 1", workspaces, keks)
	}
}

// TestPoliciesVerifyOncePerStatement: every policy reads the verified
// settings through a sub-select, which PostgreSQL evaluates once per
// statement (an InitPlan), not once per row; and the account tables have
// row security.
func TestPoliciesVerifyOncePerStatement(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	adminURL, _, _ := setup(t)
	admin := connect(t, adminURL)
	rs, err := admin.Query(ctx, `SELECT schemaname || '.' || tablename || ' ' || policyname, COALESCE(qual, '') || ' ' || COALESCE(with_check, '') FROM pg_policies`)
	if err != nil {
		t.Fatal(err)
	}
	type policy struct{ name, expr string }
	policies, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (policy, error) {
		var p policy
		return p, r.Scan(&p.name, &p.expr)
	})
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`(SELECT )?(?:palisade_keys\.)?(palisade_scope|palisade_lookup|palisade_user|key_scan)\(\)`)
	for _, p := range policies {
		for _, m := range call.FindAllStringSubmatch(p.expr, -1) {
			if m[1] == "" {
				t.Errorf("policy %s calls %s() per row: %s", p.name, m[2], p.expr)
			}
		}
	}
	for _, tb := range []string{"workspaces", "users", "sessions", "one_time_tokens", "known_devices"} {
		var enabled bool
		if err := admin.QueryRow(ctx, `SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass($1)`, tb).Scan(&enabled); err != nil || !enabled {
			t.Errorf("%s: row security enabled=%v (%v)", tb, enabled, err)
		}
	}
}

// TestMigrateRefusesAnotherMasterKey: migrating with a master key other
// than the one the database was migrated with changes nothing: the KEKs do
// not open under it, so the scope key is left alone (servers using the
// right one keep working).
func TestMigrateRefusesAnotherMasterKey(t *testing.T) {
	t.Parallel()
	adminURL, _, role := setup(t)
	other, err := seal.NewMasterKey(bytes.Repeat([]byte{0x22}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(t.Context(), adminURL, postgres.MigrateOptions{AppRole: role, Master: other}); !errors.Is(err, seal.ErrWrongMasterKey) {
		t.Fatalf("migrate with another master key = %v, want ErrWrongMasterKey", err)
	}
	if _, err := postgres.Migrate(t.Context(), adminURL, postgres.MigrateOptions{AppRole: role, Master: testMaster}); err != nil {
		t.Fatalf("migrate with the right master key after a wrong one: %v", err)
	}
}

// TestJoinsOnUsersAndWorkspaces: the reads the admin UI makes joining the
// account tables — a workspace's members with their users, a user's
// workspaces, API keys with their creator — see what they need under the
// policies: in a workspace's scope, the users who are its members and no
// one else; in a user's scope, the workspaces they belong to.
func TestJoinsOnUsersAndWorkspaces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, appURL, _ := setup(t)
	s, err := postgres.Open(ctx, appURL, store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	ws := func(name string) palisade.Scope {
		w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: name, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return palisade.ScopeFor(w.ID)
	}
	user := func(email string) palisade.User {
		u, err := s.CreateUser(ctx, store.CreateUserParams{Email: email, Name: email, PasswordHash: seededPasswordHash, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b := ws("Acme"), ws("Beta")
	ann, bob, cat := user("ann@example.com"), user("bob@example.com"), user("cat@example.com")
	for _, m := range []struct {
		scope palisade.Scope
		user  palisade.UserID
	}{{a, ann.ID}, {a, bob.ID}, {b, ann.ID}, {b, cat.ID}} {
		if _, err := s.AddMember(ctx, m.scope, m.user, palisade.RoleEditor, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateAPIKey(ctx, a, store.CreateAPIKeyParams{Name: "ci", Prefix: "abcdefghijkl", Hash: []byte("h"), CreatedBy: bob.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	strs := func(scope sqlstore.TxScope, q string, args ...any) []string {
		t.Helper()
		var out []string
		err := s.Driver().InTx(ctx, scope, func(tx sqlstore.Tx) error {
			rs, err := tx.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var v string
				if err := rs.Scan(&v); err != nil {
					return err
				}
				out = append(out, v)
			}
			return rs.Err()
		})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	inA := sqlstore.TxScope{Workspace: a.Workspace()}
	if got := strs(inA, `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.email`,
		string(a.Workspace())); strings.Join(got, ",") != "ann@example.com,bob@example.com" {
		t.Errorf("members of Acme with their users = %v", got)
	}
	if got := strs(inA, `SELECT u.email FROM users u ORDER BY u.email`); strings.Join(got, ",") != "ann@example.com,bob@example.com" {
		t.Errorf("users visible in Acme's scope = %v; only its members should be", got)
	}
	if got := strs(inA, `SELECT COALESCE(u.email, '') FROM api_keys k LEFT JOIN users u ON u.id = k.created_by WHERE k.workspace_id = $1`,
		string(a.Workspace())); strings.Join(got, ",") != "bob@example.com" {
		t.Errorf("API keys of Acme with their creator = %v", got)
	}
	if got := strs(sqlstore.TxScope{User: ann.ID}, `SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name`,
		string(ann.ID)); strings.Join(got, ",") != "Acme,Beta" {
		t.Errorf("Ann's workspaces = %v", got)
	}
	if got := strs(sqlstore.TxScope{User: bob.ID}, `SELECT w.name FROM workspaces w ORDER BY w.name`); strings.Join(got, ",") != "Acme" {
		t.Errorf("workspaces visible in Bob's scope = %v; only his own should be", got)
	}
}
