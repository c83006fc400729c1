package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// The tamperings below need what plain SQL cannot do: compute a hash.
// They are what someone with write access to the database, and knowledge
// of the algorithm, but not the master key, can do.

// dbTime scans a timestamp as either database hands it over.
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d.t = v.UTC()
		return nil
	case string:
		for _, l := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano} {
			if t, err := time.Parse(l, v); err == nil {
				*d.t = t.UTC()
				return nil
			}
		}
	}
	return fmt.Errorf("cannot scan %T %v as a time", src, src)
}

// readEntry reads a workspace's audit entry with raw SQL.
func readEntry(t *testing.T, db auditDB, ws string, seq int) store.AuditEntry {
	t.Helper()
	e := store.AuditEntry{WorkspaceID: palisade.WorkspaceID(ws)}
	var id string
	db.queryRow(t, `SELECT seq, id, actor, action, target, outcome, ip, request_id, detail, created_at, prev_hash, hash, hash_version
		FROM audit_log WHERE workspace_id = $1 AND seq = $2`, []any{ws, seq},
		&e.Seq, &id, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.RequestID, &e.Detail, dbTime{&e.CreatedAt}, &e.PrevHash, &e.Hash, &e.HashVersion)
	e.ID = palisade.AuditID(id)
	return e
}

func insertEntry(t *testing.T, db auditDB, e store.AuditEntry) {
	t.Helper()
	db.execArgs(t, `INSERT INTO audit_log (workspace_id, seq, id, actor, action, target, outcome, ip, request_id, detail, created_at, prev_hash, hash, hash_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		string(e.WorkspaceID), e.Seq, string(e.ID), e.Actor, e.Action, e.Target, e.Outcome, e.IP, e.RequestID, e.Detail, e.CreatedAt,
		e.PrevHash, e.Hash, e.HashVersion)
}

func checkpointFile(env map[string]string) string {
	return filepath.Join(env["PALISADE_DATA_DIR"], audit.CheckpointFileName)
}

var keyedTamperings = []struct {
	name string
	do   func(t *testing.T, env map[string]string, db auditDB, ws string)
	seq  int
	kind string
	say  string
}{
	{name: "forged append", seq: 6, kind: "forged", say: "appended without the key",
		do: func(t *testing.T, _ map[string]string, db auditDB, ws string) {
			last := readEntry(t, db, ws, 5)
			e := store.AuditEntry{WorkspaceID: last.WorkspaceID, Seq: 6, ID: palisade.NewAuditID(), Actor: "usr_mallory",
				Action: "member.role_changed", Target: "usr_mallory", Outcome: "success", Detail: `{"role":"owner"}`,
				CreatedAt: last.CreatedAt.Add(time.Second), PrevHash: last.Hash, HashVersion: audit.HashKeyed}
			e.Hash = audit.LegacyHash(e)
			insertEntry(t, db, e)
		}},
	{name: "rewritten and rehashed", seq: 3, kind: "rewritten", say: "rehashed without the key",
		do: func(t *testing.T, _ map[string]string, db auditDB, ws string) {
			e := readEntry(t, db, ws, 3)
			e.Actor = "usr_mallory"
			e.Hash = audit.LegacyHash(e)
			db.execArgs(t, `UPDATE audit_log SET actor = $1, hash = $2 WHERE workspace_id = $3 AND seq = 3`, e.Actor, e.Hash, ws)
		}},
	{name: "truncated tail", seq: 4, kind: "truncated", say: "names seq 5, the database's chain ends at seq 3",
		do: func(t *testing.T, _ map[string]string, db auditDB, ws string) {
			db.execArgs(t, `DELETE FROM audit_log WHERE workspace_id = $1 AND seq >= 4`, ws)
		}},
	{name: "workspace vanished", seq: 5, kind: "vanished", say: "no workspace.deleted record",
		do: func(t *testing.T, _ map[string]string, db auditDB, ws string) {
			db.execArgs(t, `DELETE FROM workspaces WHERE id = $1`, ws)
		}},
	{name: "checkpoint signature", seq: 3, kind: "untrusted", say: "signature does not verify",
		do: func(t *testing.T, env map[string]string, db auditDB, ws string) {
			// Truncate, and lower the checkpoint to match: the file no
			// longer verifies, and says so.
			db.execArgs(t, `DELETE FROM audit_log WHERE workspace_id = $1 AND seq >= 4`, ws)
			raw, err := os.ReadFile(checkpointFile(env))
			if err != nil {
				t.Fatal(err)
			}
			var f map[string]any
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			f["chains"].(map[string]any)[ws].(map[string]any)["seq"] = 3
			b, _ := json.Marshal(f)
			if err := os.WriteFile(checkpointFile(env), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
}

// checkKeyedVerify runs `audit verify` on an untouched install, tampers,
// and runs it again: it must fail naming the workspace's chain, the seq,
// the kind and what it found.
func checkKeyedVerify(t *testing.T, env map[string]string, db auditDB, ws string, i int) {
	t.Helper()
	out, errOut, err := run(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "all 2 chains intact (6 entries)") || !strings.Contains(out, "ok    workspace "+ws+": 5 entries, head ") ||
		!strings.Contains(out, "checkpoint seq 5") || strings.Contains(out, "legacy") {
		t.Fatalf("verify on an untouched install: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if fi, err := os.Stat(checkpointFile(env)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file: %v, %v", fi, err)
	}
	tt := keyedTamperings[i]
	tt.do(t, env, db, ws)
	out, _, err = run(t, env, "audit", "verify")
	if !errors.Is(err, cli.ErrAuditTampered) {
		t.Fatalf("verify after %s: %v\n%s", tt.name, err, out)
	}
	msg := err.Error()
	for _, want := range []string{"workspace " + ws + " audit chain", "seq " + strconv.Itoa(tt.seq), " " + tt.kind, tt.say, "expected ", "found "} {
		if !strings.Contains(msg, want) || !strings.Contains(out, want) {
			t.Fatalf("verify after %s does not say %q:\nerror: %s\nstdout:\n%s", tt.name, want, msg, out)
		}
	}
	if !strings.Contains(out, "FAIL  workspace "+ws) || !strings.Contains(out, "1 of 2 chains broken") {
		t.Fatalf("verify after %s:\n%s", tt.name, out)
	}
	// It goes on failing: verify does not anchor what it found broken.
	if _, _, err := run(t, env, "audit", "verify"); !errors.Is(err, cli.ErrAuditTampered) {
		t.Fatalf("second verify after %s: %v", tt.name, err)
	}
}

func TestAuditVerifyKeyedSQLite(t *testing.T) {
	t.Parallel()
	for i, tt := range keyedTamperings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"PALISADE_DATA_DIR": dir}
			ws := populate(t, env)
			checkKeyedVerify(t, env, sqliteDB{path: filepath.Join(dir, "palisade.db")}, ws, i)
		})
	}
}

func TestAuditVerifyKeyedPostgres(t *testing.T) {
	t.Parallel()
	for i, tt := range keyedTamperings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, admin := pgInstall(t)
			ws := populate(t, env)
			checkKeyedVerify(t, env, pgDB{url: admin}, ws, i)
		})
	}
}

// pgInstall is a migrated PostgreSQL install: the environment of its
// runtime processes, and the admin URL.
func pgInstall(t *testing.T) (map[string]string, string) {
	t.Helper()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	env := pgEnv(t, admin, role)
	if _, errOut, err := run(t, env, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	env["PALISADE_DATABASE_URL"] = servicetest.WithUser(t, admin, role)
	return env, admin
}

// deleteWorkspace deletes a workspace as the application does, through the
// store and the audit logger with the install's master key and checkpoint
// file.
func deleteWorkspace(t *testing.T, env map[string]string, ws string) {
	t.Helper()
	mk, err := seal.LoadMasterKey(seal.MasterKeyConfig{Key: secret.New(env["PALISADE_MASTER_KEY"]), Dir: env["PALISADE_DATA_DIR"]})
	if err != nil {
		t.Fatal(err)
	}
	var s store.Store
	if u := env["PALISADE_DATABASE_URL"]; strings.HasPrefix(u, "postgres") {
		scopeKey, err := postgres.DeriveScopeKey(mk)
		if err != nil {
			t.Fatal(err)
		}
		s, err = postgres.Open(t.Context(), u, store.Options{}, postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		s, err = sqlite.Open(t.Context(), filepath.Join(env["PALISADE_DATA_DIR"], "palisade.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
	}
	defer s.Close()
	keys, err := audit.NewKeys(mk)
	if err != nil {
		t.Fatal(err)
	}
	cp := audit.NewCheckpointer(checkpointFile(env), keys, audit.CheckpointerOptions{})
	l := audit.New(s, audit.Options{Keys: keys, Checkpoints: cp})
	if err := l.DeleteWorkspace(t.Context(), s, palisade.ScopeFor(palisade.WorkspaceID(ws)), audit.Entry{Actor: audit.ActorCLI}); err != nil {
		t.Fatal(err)
	}
	if err := cp.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyAcceptsARecordedDeletion: a workspace deleted through
// the store leaves its chain's end in the platform chain, and verify says
// where it ended instead of reporting it vanished.
func TestAuditVerifyAcceptsARecordedDeletion(t *testing.T) {
	t.Parallel()
	installs := map[string]func(t *testing.T) (map[string]string, auditDB){
		"SQLite": func(t *testing.T) (map[string]string, auditDB) {
			dir := filepath.Join(t.TempDir(), "data")
			return map[string]string{"PALISADE_DATA_DIR": dir}, sqliteDB{path: filepath.Join(dir, "palisade.db")}
		},
		"Postgres": func(t *testing.T) (map[string]string, auditDB) {
			env, admin := pgInstall(t)
			return env, pgDB{url: admin}
		},
	}
	for name, install := range installs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, db := install(t)
			ws := populate(t, env)
			final := readEntry(t, db, ws, 5)
			deleteWorkspace(t, env, ws)
			out, errOut, err := run(t, env, "audit", "verify")
			want := fmt.Sprintf("ok    workspace %s: deleted, recorded at platform seq 2; its chain ended at seq 5, head %x", ws, final.Hash[:8])
			if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "all 2 chains intact (2 entries)") {
				t.Fatalf("verify after a recorded deletion: %v\nwant %q\nstdout:\n%s\nstderr:\n%s", err, want, out, errOut)
			}
		})
	}
}

// TestAuditVerifyLabelsLegacyChains: a chain written before chains were
// keyed (plain SHA-256, no hash version, the caller's times) verifies and
// is labelled as such; entries appended after the upgrade are keyed.
func TestAuditVerifyLabelsLegacyChains(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"PALISADE_DATA_DIR": dir}
	db := sqliteDB{path: filepath.Join(dir, "palisade.db")}
	populate(t, env)
	old := palisade.NewWorkspaceID()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	db.execArgs(t, `INSERT INTO workspaces (id, name, require_mfa, retention_days, created_at) VALUES ($1, 'Old', false, 90, $2)`, string(old), at)
	prev := audit.Genesis()
	for seq := int64(1); seq <= 3; seq++ {
		e := store.AuditEntry{WorkspaceID: old, Seq: seq, ID: palisade.NewAuditID(), Actor: audit.ActorCLI, Action: "apikey.created",
			Outcome: "success", CreatedAt: at, PrevHash: prev, HashVersion: audit.HashLegacy}
		e.Hash = audit.LegacyHash(e)
		db.execArgs(t, `INSERT INTO audit_log (workspace_id, seq, id, actor, action, target, outcome, created_at, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9)`, string(old), e.Seq, string(e.ID), e.Actor, e.Action, e.Outcome, e.CreatedAt, e.PrevHash, e.Hash)
		prev = e.Hash
	}
	out, errOut, err := run(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok    workspace "+string(old)+": 3 entries (seq 1-3 legacy: unkeyed SHA-256") {
		t.Fatalf("verify with a legacy chain: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if _, errOut, err := run(t, env, "apikey", "create", "--workspace", string(old), "--name", "new", "--scopes", "bots:read"); err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	out, errOut, err = run(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok    workspace "+string(old)+": 4 entries (seq 1-3 legacy") || !strings.Contains(out, "all 3 chains intact") {
		t.Fatalf("verify after a keyed append to a legacy chain: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if e := readEntry(t, db, string(old), 4); e.HashVersion != audit.HashKeyed || !e.CreatedAt.After(at) {
		t.Fatalf("entry appended after the upgrade: version %d at %v", e.HashVersion, e.CreatedAt)
	}
}

// TestServeCheckpointsTheAuditChainsOnShutdown: a server batches its
// checkpoints, and writes the last heads when it stops.
func TestServeCheckpointsTheAuditChainsOnShutdown(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"PALISADE_DATA_DIR": dir}
	r := serve(t, env)
	// A failed log-in of an unknown account is recorded in the platform
	// chain: the form first, for its CSRF token.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(r.public + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the log-in form:\n%s", page)
	}
	resp, err = client.PostForm(r.public+"/login", url.Values{"csrf": {string(m[1])}, "email": {"nobody@example.com"}, "password": {"not the password at all"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, audit.CheckpointFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file after shutdown: %v, %v", fi, err)
	}
	out, errOut, err := run(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok    platform: 1 entries, head ") || !strings.Contains(out, "checkpoint seq 1") {
		t.Fatalf("verify after a server stopped: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
}
