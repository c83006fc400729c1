package cli_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// auditDB is direct SQL access to a database behind the application's back,
// as an attacker (or a careless operator) would have it.
type auditDB interface {
	exec(t *testing.T, q string)
	entryID(t *testing.T, table string, seq int) string
	// execArgs runs one statement with parameters.
	execArgs(t *testing.T, q string, args ...any)
	// queryRow runs a query expected to return one row.
	queryRow(t *testing.T, q string, args []any, dest ...any)
}

type sqliteDB struct{ path string }

func (d sqliteDB) open(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), d.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (d sqliteDB) exec(t *testing.T, q string) {
	t.Helper()
	s := d.open(t)
	defer s.Close()
	for stmt := range strings.SplitSeq(q, ";") {
		if _, err := s.DB().ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func (d sqliteDB) entryID(t *testing.T, table string, seq int) string {
	t.Helper()
	s := d.open(t)
	defer s.Close()
	var id string
	// table is one of two constants of this test.
	if err := s.DB().QueryRowContext(t.Context(), `SELECT id FROM `+table+` WHERE seq = $1`, seq).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (d sqliteDB) execArgs(t *testing.T, q string, args ...any) {
	t.Helper()
	s := d.open(t)
	defer s.Close()
	if _, err := s.DB().ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (d sqliteDB) queryRow(t *testing.T, q string, args []any, dest ...any) {
	t.Helper()
	s := d.open(t)
	defer s.Close()
	if err := s.DB().QueryRowContext(t.Context(), q, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

type pgDB struct{ url string }

func (d pgDB) execArgs(t *testing.T, q string, args ...any) {
	t.Helper()
	c := d.conn(t)
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (d pgDB) queryRow(t *testing.T, q string, args []any, dest ...any) {
	t.Helper()
	c := d.conn(t)
	defer c.Close(context.Background())
	if err := c.QueryRow(t.Context(), q, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (d pgDB) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), d.url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (d pgDB) exec(t *testing.T, q string) {
	t.Helper()
	c := d.conn(t)
	defer c.Close(context.Background())
	for stmt := range strings.SplitSeq(q, ";") {
		if _, err := c.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func (d pgDB) entryID(t *testing.T, table string, seq int) string {
	t.Helper()
	c := d.conn(t)
	defer c.Close(context.Background())
	var id string
	if err := c.QueryRow(t.Context(), `SELECT id FROM `+table+` WHERE seq = $1`, seq).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// populate creates a workspace (platform seq 1; workspace seq 1 created, 2
// owner invitation) and three API keys (workspace seq 3..5) through the CLI.
func populate(t *testing.T, env map[string]string) string {
	t.Helper()
	out, errOut, err := run(t, env, "workspace", "create", "--name", "Acme", "--owner-email", "owner@acme.example")
	if err != nil {
		t.Fatalf("workspace create: %v\n%s", err, errOut)
	}
	m := regexp.MustCompile(`workspace (ws_[a-z2-7]{26}) created`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("workspace create output:\n%s", out)
	}
	for _, name := range []string{"ci", "deploy", "backup"} {
		if _, errOut, err := run(t, env, "apikey", "create", "--workspace", m[1], "--name", name, "--scopes", "bots:read"); err != nil {
			t.Fatalf("apikey create: %v\n%s", err, errOut)
		}
	}
	return m[1]
}

var tamperings = []struct {
	name  string
	sql   string
	table string
	seq   int
	kind  string
}{
	{name: "edited", sql: `UPDATE audit_log SET actor = 'usr_mallory' WHERE seq = 3`, table: "audit_log", seq: 3, kind: "edited"},
	{name: "deleted", sql: `DELETE FROM audit_log WHERE seq = 4`, table: "audit_log", seq: 4, kind: "deleted"},
	{name: "swapped", table: "audit_log", seq: 3, kind: "reordered",
		sql: `UPDATE audit_log SET seq = 100 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 100`},
	{name: "platform edited", sql: `UPDATE platform_audit_log SET outcome = 'failure' WHERE seq = 1`, table: "platform_audit_log", seq: 1, kind: "edited"},
}

// checkVerify runs `audit verify`: it passes on the untouched database and,
// after the tampering, fails naming the chain, seq, kind and entry id.
func checkVerify(t *testing.T, env map[string]string, db auditDB, ws string, tamper int) {
	t.Helper()
	out, errOut, err := run(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "all 2 chains intact (6 entries)") || !strings.Contains(out, "ok    workspace "+ws+": 5 entries") {
		t.Fatalf("verify on an untouched database: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	tt := tamperings[tamper]
	db.exec(t, tt.sql)
	out, _, err = run(t, env, "audit", "verify")
	if !errors.Is(err, cli.ErrAuditTampered) {
		t.Fatalf("verify after %s: %v\n%s", tt.name, err, out)
	}
	chain := "workspace " + ws
	if tt.table == "platform_audit_log" {
		chain = "platform"
	}
	msg := err.Error()
	for _, want := range []string{chain + " audit chain", "seq " + strconv.Itoa(tt.seq), " " + tt.kind + ":"} {
		if !strings.Contains(msg, want) || !strings.Contains(out, want) {
			t.Fatalf("verify after %s does not say %q:\nerror: %s\nstdout:\n%s", tt.name, want, msg, out)
		}
	}
	// The entry now at that seq is named by id; a deleted one is gone, and
	// the message names where the chain resumes instead.
	if tt.kind != "deleted" {
		if id := db.entryID(t, tt.table, tt.seq); !strings.Contains(msg, id) {
			t.Fatalf("verify after %s does not name entry %s: %s", tt.name, id, msg)
		}
	} else if id := db.entryID(t, tt.table, tt.seq+1); !strings.Contains(msg, "resumes at seq "+strconv.Itoa(tt.seq+1)+" ("+id+")") {
		t.Fatalf("verify after %s does not say where the chain resumes (%s): %s", tt.name, id, msg)
	}
	if !strings.Contains(out, "1 of 2 chains broken") {
		t.Fatalf("no summary:\n%s", out)
	}
}

func TestAuditVerifySQLite(t *testing.T) {
	t.Parallel()
	for i, tt := range tamperings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"PALISADE_DATA_DIR": dir}
			ws := populate(t, env)
			checkVerify(t, env, sqliteDB{path: filepath.Join(dir, "palisade.db")}, ws, i)
		})
	}
}

func TestAuditVerifyPostgres(t *testing.T) {
	t.Parallel()
	for i, tt := range tamperings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			role := servicetest.PostgresRole(t)
			admin := servicetest.Postgres(t)
			env := pgEnv(t, admin, role)
			if _, errOut, err := run(t, env, "migrate"); err != nil {
				t.Fatalf("migrate: %v\n%s", err, errOut)
			}
			env["PALISADE_DATABASE_URL"] = servicetest.WithUser(t, admin, role)
			ws := populate(t, env)
			checkVerify(t, env, pgDB{url: admin}, ws, i)
		})
	}
}

// TestAuditLogIsAppendOnlyForTheRuntimeRole: on PostgreSQL the role that
// serves requests cannot rewrite history at all; only the admin role can,
// and verify catches that (above).
func TestAuditLogIsAppendOnlyForTheRuntimeRole(t *testing.T) {
	t.Parallel()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	env := pgEnv(t, admin, role)
	if _, errOut, err := run(t, env, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	app := servicetest.WithUser(t, admin, role)
	env["PALISADE_DATABASE_URL"] = app
	ws := populate(t, env)
	c, err := pgx.Connect(t.Context(), app)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`,
		`UPDATE platform_audit_log SET actor = 'x'`, `DELETE FROM platform_audit_log`, `TRUNCATE platform_audit_log`,
	} {
		tx, err := c.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = tx.Exec(t.Context(), `SELECT set_config('app.workspace_id', $1, true)`, ws)
		_, err = tx.Exec(t.Context(), q)
		_ = tx.Rollback(t.Context())
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("runtime role ran %q: %v", q, err)
		}
	}
}

func TestAuditHelpAndUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"audit", "--help"}, {"audit", "verify", "--help"}} {
		out, errOut, err := run(t, nil, args...)
		if err != nil || !strings.Contains(out+errOut, "Usage: palisade audit verify") {
			t.Errorf("%v: %v %q", args, err, out+errOut)
		}
	}
	for _, args := range [][]string{{"audit"}, {"audit", "rewrite"}, {"audit", "verify", "extra"}} {
		if _, _, err := run(t, nil, args...); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	// An empty database has intact (empty) chains.
	out, _, err := run(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "d")}, "audit", "verify")
	if err != nil || !strings.Contains(out, "all 1 chains intact (0 entries)") {
		t.Fatalf("empty database: %v\n%s", err, out)
	}
}

// pgEnv is the environment of a PostgreSQL deployment: admin URL (for
// migrate), runtime role, and the master key every process shares.
func pgEnv(t *testing.T, admin, role string) map[string]string {
	return map[string]string{"PALISADE_DATABASE_URL": admin, "PALISADE_APP_ROLE": role, "PALISADE_DATA_DIR": t.TempDir(),
		"PALISADE_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
}
