package cli_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// deletionFixtures insert rows of a workspace ($1) into every tenant
// table, in dependency order, beside what the application itself writes:
// $2 is a user, $3 a time, $4 a later time, $5 a byte string.
var deletionFixtures = []struct {
	table string
	sql   string
}{
	{"memberships", `INSERT INTO memberships (id, workspace_id, user_id, role, created_at) VALUES ($1||'m', $1, $2, 'owner', $3)`},
	{"invitations", `INSERT INTO invitations (id, workspace_id, email, role, token_hash, created_at, expires_at) VALUES ($1||'i', $1, 'x@example.com', 'viewer', $1||'tok', $3, $4)`},
	{"api_keys", `INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at) VALUES ($1||'k', $1, 'k', $1||'pfx', $5, $3)`},
	{"provider_keys", `INSERT INTO provider_keys (id, workspace_id, provider, sealed_key, created_at) VALUES ($1||'p', $1, 'openai', $5, $3)`},
	{"bots", `INSERT INTO bots (id, workspace_id, name, created_at, updated_at) VALUES ($1||'b', $1, 'bot', $3, $3)`},
	{"channels", `INSERT INTO channels (id, workspace_id, bot_id, kind, created_at, updated_at) VALUES ($1||'c', $1, $1||'b', 'telegram', $3, $3)`},
	{"conversations", `INSERT INTO conversations (id, workspace_id, bot_id, key, channel, created_at, last_message_at) VALUES ($1||'v', $1, $1||'b', 'k', 'api', $3, $3)`},
	{"messages", `INSERT INTO messages (id, workspace_id, conversation_id, bot_id, role, sealed_body, created_at) VALUES ($1||'g', $1, $1||'v', $1||'b', 'user', $5, $3)`},
	{"documents", `INSERT INTO documents (id, workspace_id, bot_id, title, content_type, created_at) VALUES ($1||'d', $1, $1||'b', 't', 'text/plain', $3)`},
	{"chunks", `INSERT INTO chunks (id, workspace_id, document_id, bot_id, ordinal, body) VALUES ($1||'h', $1, $1||'d', $1||'b', 0, 'hello world')`},
	{"deliveries", `INSERT INTO deliveries (workspace_id, bot_id, source, key, created_at) VALUES ($1, $1||'b', 'telegram', '1', $3)`},
	{"reply_sends", `INSERT INTO reply_sends (workspace_id, bot_id, source, ref, part, state, created_at, updated_at) VALUES ($1, $1||'b', 'telegram', '1', 0, 'pending', $3, $3)`},
	{"usage_daily", `INSERT INTO usage_daily (workspace_id, bot_id, day) VALUES ($1, $1||'b', '2026-11-24')`},
	{"usage_reservations", `INSERT INTO usage_reservations (id, workspace_id, bot_id, day, tokens, created_at, expires_at) VALUES ($1||'r', $1, $1||'b', '2026-11-24', 10, $3, $4)`},
	{"workspace_plans", `INSERT INTO workspace_plans (workspace_id, plan, product_id, subscription_id, status, source_time, updated_at) VALUES ($1, 'pro', 'p', 's', 'active', $3, $3)`},
	{"event_endpoints", `INSERT INTO event_endpoints (id, workspace_id, url, events, sealed_secret, created_at) VALUES ($1||'e', $1, 'https://example.com', 'reply.sent', $5, $3)`},
	{"event_deliveries", `INSERT INTO event_deliveries (id, workspace_id, endpoint_id, event_id, event_type, attempt, status, duration_ms, created_at) VALUES ($1||'l', $1, $1||'e', 'evt', 'reply.sent', 1, 200, 1, $3)`},
	{"pii_placeholders", `INSERT INTO pii_placeholders (workspace_id, conversation_id, kind, mac, number) VALUES ($1, $1||'v', 'EMAIL', $5, 1)`},
	{"refusals_daily", `INSERT INTO refusals_daily (workspace_id, day, kind, count) VALUES ($1, '2026-11-24', 'api_message', 3)`},
	{"idempotency_keys", `INSERT INTO idempotency_keys (id, workspace_id, principal, key, request_hash, created_at, expires_at) VALUES ($1||'q', $1, 'key_x', 'k', $5, $3, $4)`},
}

// rawDBs are the databases of a test environment opened around the
// application, with no row-level security (PostgreSQL's admin role):
// the main database, and on SQLite the key database beside it.
func rawDBs(t *testing.T, env map[string]string) (main *sql.DB, all []*sql.DB, dialect store.Dialect) {
	t.Helper()
	open := func(driver, dsn string) *sql.DB {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	if u := env[adminURLKey]; u != "" {
		db := open("pgx", u)
		return db, []*sql.DB{db}, store.DialectPostgres
	}
	dir := env["PALISADE_DATA_DIR"]
	db := open("sqlite", filepath.Join(dir, "palisade.db"))
	keys := open("sqlite", filepath.Join(dir, sqlite.KeyFileName))
	return db, []*sql.DB{db, keys}, store.DialectSQLite
}

var placeholder = regexp.MustCompile(`\$(\d)`)

// bind numbers a statement's placeholders in the order they first
// appear, as the dialect writes them, and passes only the arguments used
// (PostgreSQL refuses unused ones).
func bind(d store.Dialect, q string, args ...any) (string, []any) {
	seen := map[string]int{}
	var used []any
	out := placeholder.ReplaceAllStringFunc(q, func(m string) string {
		n, ok := seen[m]
		if !ok {
			var k int
			fmt.Sscanf(m[1:], "%d", &k)
			used = append(used, args[k-1])
			n = len(used)
			seen[m] = n
		}
		if d == store.DialectSQLite {
			return fmt.Sprintf("?%d", n)
		}
		return fmt.Sprintf("$%d", n)
	})
	return out, used
}

// mentions counts, table by table across every schema of the databases
// (read from their catalogs), the rows in which any column holds needle.
func mentions(t *testing.T, dbs []*sql.DB, d store.Dialect, needle string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i, db := range dbs {
		cols := map[string][]string{}
		var order []string
		var rows *sql.Rows
		var err error
		if d == store.DialectPostgres {
			rows, err = db.Query(`SELECT c.table_schema || '.' || c.table_name, c.column_name FROM information_schema.columns c
				JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
				WHERE tb.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema', 'palisade_private')
				ORDER BY 1, c.ordinal_position`)
		} else {
			rows, err = db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`)
		}
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tb, c string
			if err := rows.Scan(&tb, &c); err != nil {
				t.Fatal(err)
			}
			if _, ok := cols[tb]; !ok {
				order = append(order, tb)
			}
			cols[tb] = append(cols[tb], c)
		}
		rows.Close()
		if i == 0 && len(order) < 10 {
			t.Fatalf("the catalog lists only %d tables: %v", len(order), order)
		}
		for _, tb := range order {
			var conds []string
			for _, c := range cols[tb] {
				if d == store.DialectPostgres {
					conds = append(conds, fmt.Sprintf(`strpos(CAST(%q AS text), $1) > 0`, c))
				} else {
					conds = append(conds, fmt.Sprintf(`instr(CAST(%q AS TEXT), ?1) > 0`, c))
				}
			}
			name := tb
			if d == store.DialectPostgres {
				parts := strings.SplitN(tb, ".", 2)
				name = fmt.Sprintf("%q.%q", parts[0], parts[1])
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM `+name+` WHERE `+strings.Join(conds, " OR "), needle).Scan(&n); err != nil {
				t.Fatalf("walking %s: %v", tb, err)
			}
			key := tb
			if i > 0 {
				key = "keys." + tb
			}
			out[key] = n
		}
	}
	return out
}

// TestWorkspaceDeleteLeavesNoRow: `palisade workspace delete` removes
// every row of the workspace from every table of both stores (the
// catalog is walked, so a new table cannot escape), its data keys with
// them; what remains is the platform audit chain's record, naming the
// workspace by id only, and the id of a destroyed workspace in the key
// store, so that no key is made for it again. Another workspace is
// untouched.
func TestWorkspaceDeleteLeavesNoRow(t *testing.T) {
	t.Parallel()
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			const doomedName = "Doomed Shop of Alice"
			a := createWorkspace(t, env, doomedName)
			b := createWorkspace(t, env, "Survivor")
			s := openSealed(t, env)
			ctx := t.Context()
			now := time.Now()
			for _, sc := range []palisade.Scope{a, b} {
				seedSecrets(t, s, sc, 2)
				bot, err := s.CreateBot(ctx, sc, palisade.Bot{Name: "bot", Model: "m", CreatedAt: now})
				if err != nil {
					t.Fatal(err)
				}
				c, err := s.OpenConversation(ctx, sc, store.OpenConversationParams{BotID: bot.ID, Key: "api:seeded", Channel: "api", ExternalUser: "alice@example.com", Now: now})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.AppendMessage(ctx, sc, store.AppendMessageParams{ConversationID: c.ID, Role: "assistant", Body: "hello",
					Sources: []palisade.MessageSource{{Title: "Handbook", Excerpt: "cited text"}}, Now: now}); err != nil {
					t.Fatal(err)
				}
			}
			s.close()
			db, dbs, d := rawDBs(t, env)
			user := string(palisade.NewUserID())
			q, args := bind(d, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $1||'@example.com', $2, $2)`, user, now)
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
			for _, sc := range []palisade.Scope{a, b} {
				for _, f := range deletionFixtures {
					q, args := bind(d, f.sql, string(sc.Workspace()), user, now, now.Add(24*time.Hour), []byte{0})
					if _, err := db.Exec(q, args...); err != nil {
						t.Fatalf("seeding %s: %v", f.table, err)
					}
				}
			}
			before := mentions(t, dbs, d, string(a.Workspace()))
			bBefore := mentions(t, dbs, d, string(b.Workspace()))
			// Every table the fixtures fill holds rows of the workspace
			// before, and its data keys exist: the walk below proves
			// something.
			for _, f := range deletionFixtures {
				if before[f.table] == 0 && before["public."+f.table] == 0 {
					t.Fatalf("no row of the workspace in %s before deletion: %v", f.table, before)
				}
			}
			if before["data_keys"]+before["keys.data_keys"]+before["palisade_keys.data_keys"] == 0 {
				t.Fatalf("the workspace has no data key before deletion: %v", before)
			}

			if _, err := runCLI(t, ctx, env, nil, "workspace", "delete", string(a.Workspace()), "--confirm", "Doomed"); err == nil {
				t.Fatal("a wrong confirmation deleted the workspace")
			}
			if out := mustCLI(t, env, "workspace", "delete", string(a.Workspace()), "--confirm", doomedName); !strings.Contains(out, "deleted") {
				t.Fatalf("workspace delete printed %q", out)
			}
			after := mentions(t, dbs, d, string(a.Workspace()))
			for tb, n := range after {
				switch {
				case n == 0:
				case strings.HasSuffix(tb, "platform_audit_log"), strings.HasSuffix(tb, "destroyed_workspaces"):
				default:
					t.Errorf("%d rows of the deleted workspace remain in %s", n, tb)
				}
			}
			// The records left name neither the workspace nor its owner.
			for _, needle := range []string{doomedName, "owner@example.com"} {
				for tb, n := range mentions(t, dbs, d, needle) {
					if n > 0 && strings.HasSuffix(tb, "platform_audit_log") {
						t.Errorf("the platform audit log still holds %q (%d rows)", needle, n)
					}
				}
			}
			var deleted int
			q, args = bind(d, `SELECT count(*) FROM platform_audit_log WHERE action = 'workspace.deleted' AND target = $1`, string(a.Workspace()))
			if err := db.QueryRow(q, args...).Scan(&deleted); err != nil || deleted != 1 {
				t.Fatalf("workspace.deleted records = %d, %v; want 1", deleted, err)
			}
			bAfter := mentions(t, dbs, d, string(b.Workspace()))
			for tb, n := range bBefore {
				if bAfter[tb] != n && !strings.HasSuffix(tb, "audit_log") {
					t.Errorf("the other workspace's rows in %s went from %d to %d", tb, n, bAfter[tb])
				}
			}
			if _, err := openSealed(t, env).GetWorkspace(ctx, b); err != nil {
				t.Fatalf("the other workspace: %v", err)
			}
		})
	}
}
