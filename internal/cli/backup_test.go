package cli_test

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
)

// dumpDB reads every row of every table of a SQLite file, as text, in a
// stable order.
func dumpDB(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tbl + `"`)
		if err != nil {
			t.Fatalf("reading %s: %v", tbl, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		rows.Close()
		slices.Sort(lines)
		out[tbl] = lines
	}
	return out
}

// fileSums are the SHA-256 sums of every file in dir but the lock files
// (the restore takes the servers' locks, which creates them).
func fileSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// TestBackupRestore is the disaster drill: back up a running deployment's
// data, lose the machine, restore on a new one holding only master.key and
// the age identity; every table comes back identical, the sealed values
// open, and the audit chains verify, the restore named. An archive with
// one flipped byte or cut short is refused before anything is replaced.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	env := keyBackends(t)["sqlite"](t)
	a := createWorkspace(t, env, "Alpha")
	b := createWorkspace(t, env, "Bravo")
	s := openSealed(t, env)
	keysA := seedSecrets(t, s, a, 2)
	keysB := seedSecrets(t, s, b, 1)
	s.close()

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "backup.agekey")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "palisade.backup")
	var progress syncBuffer
	if _, err := runCLI(t, t.Context(), env, &progress, "backup", "--out", out, "--recipient", id.Recipient().String()); err != nil {
		t.Fatalf("backup: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "100%") {
		t.Errorf("no progress shown: %q", progress.String())
	}
	dataDir := env["PALISADE_DATA_DIR"]
	wantData := dumpDB(t, filepath.Join(dataDir, "palisade.db"))
	wantKeys := dumpDB(t, filepath.Join(dataDir, "keys.db"))
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rawKeys, err := os.ReadFile(out + ".keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"hello from", "sk-seed-"} {
		if strings.Contains(string(raw), plain) || strings.Contains(string(rawKeys), plain) {
			t.Fatalf("an archive holds %q in plaintext", plain)
		}
	}

	// A new machine: an empty data directory holding master.key only.
	fresh := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "new-data")}
	if err := os.MkdirAll(fresh["PALISADE_DATA_DIR"], 0o700); err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh["PALISADE_DATA_DIR"], "master.key"), mk, 0o600); err != nil {
		t.Fatal(err)
	}

	// Altered or cut-short archives are refused and replace nothing, on
	// the new machine and over the old data alike.
	bad := t.TempDir()
	for name, data := range map[string][]byte{
		"flipped-early": flip(raw, 100), "flipped-middle": flip(raw, len(raw)/2), "flipped-last": flip(raw, len(raw)-1),
		"cut-short": raw[:len(raw)-1], "cut-half": raw[:len(raw)/2],
	} {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, target := range []map[string]string{fresh, env} {
			before := fileSums(t, target["PALISADE_DATA_DIR"])
			_, err := runCLI(t, t.Context(), target, nil, "restore", "--in", p, "--keys", out+".keys", "--identity", idFile)
			if err == nil || !strings.Contains(err.Error(), "invalid") {
				t.Errorf("%s: restore = %v, want a refusal", name, err)
			}
			if after := fileSums(t, target["PALISADE_DATA_DIR"]); !mapsEqual(before, after) {
				t.Errorf("%s: a refused restore changed the data directory", name)
			}
		}
	}
	badKeys := filepath.Join(bad, "keys-flipped")
	if err := os.WriteFile(badKeys, flip(rawKeys, len(rawKeys)/2), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, t.Context(), fresh, nil, "restore", "--in", out, "--keys", badKeys, "--identity", idFile); err == nil {
		t.Error("a restore with an altered key archive succeeded")
	}
	if _, err := os.Stat(filepath.Join(fresh["PALISADE_DATA_DIR"], "palisade.db")); !os.IsNotExist(err) {
		t.Errorf("a refused restore put data in place: %v", err)
	}

	mustCLI(t, fresh, "restore", "--in", out, "--identity", idFile)
	gotData := dumpDB(t, filepath.Join(fresh["PALISADE_DATA_DIR"], "palisade.db"))
	gotKeys := dumpDB(t, filepath.Join(fresh["PALISADE_DATA_DIR"], "keys.db"))
	for tbl, rows := range wantData {
		got := gotData[tbl]
		if tbl == "platform_audit_log" {
			// The restore appends its own record; what was there is
			// unchanged.
			if len(got) != len(rows)+1 {
				t.Errorf("platform_audit_log: %d rows after the restore, want %d and the restore's", len(got), len(rows))
			}
			continue
		}
		if !slices.Equal(got, rows) {
			t.Errorf("table %s differs after the restore: %d rows, want %d", tbl, len(got), len(rows))
		}
	}
	for tbl := range gotData {
		if _, ok := wantData[tbl]; !ok {
			t.Errorf("the restore added table %s", tbl)
		}
	}
	for tbl, rows := range wantKeys {
		if !slices.Equal(gotKeys[tbl], rows) {
			t.Errorf("key table %s differs after the restore", tbl)
		}
	}
	rs := openSealed(t, fresh)
	checkOpen(t, rs, a, keysA)
	checkOpen(t, rs, b, keysB)
	rs.close()
	verify := mustCLI(t, fresh, "audit", "verify")
	if !strings.Contains(verify, "restored from a backup") || strings.Contains(verify, "FAIL") {
		t.Errorf("audit verify after the restore:\n%s", verify)
	}
}

// TestRestoreDoesNotReviveDeleted: a workspace deleted after the backup was
// made is listed by the restore and deleted again, keys first, unless
// --revive-deleted is given.
func TestRestoreDoesNotReviveDeleted(t *testing.T) {
	t.Parallel()
	env := keyBackends(t)["sqlite"](t)
	a := createWorkspace(t, env, "Alpha")
	b := createWorkspace(t, env, "Bravo")
	s := openSealed(t, env)
	seedSecrets(t, s, a, 1)
	seedSecrets(t, s, b, 1)
	s.close()
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.age")
	mustCLI(t, env, "backup", "--out", out, "--recipient", id.Recipient().String())

	// B is deleted after the backup.
	s = openSealed(t, env)
	master, err := seal.LoadMasterKey(seal.MasterKeyConfig{Dir: env["PALISADE_DATA_DIR"]})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.NewKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.New(s, audit.Options{Keys: keys}).DeleteWorkspace(t.Context(), s, b, audit.Entry{Actor: audit.ActorCLI}); err != nil {
		t.Fatal(err)
	}
	s.close()

	var errOut syncBuffer
	if _, err := runCLI(t, t.Context(), env, &errOut, "restore", "--in", out, "--identity", idFile); err != nil {
		t.Fatalf("restore: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), string(b.Workspace())) {
		t.Errorf("the restore did not list the workspace deleted since the backup:\n%s", errOut.String())
	}
	s = openSealed(t, env)
	if _, err := s.GetWorkspace(t.Context(), b); err == nil {
		t.Error("the restore revived a workspace deleted after the backup")
	}
	if _, err := s.GetWorkspace(t.Context(), a); err != nil {
		t.Errorf("workspace A is gone after the restore: %v", err)
	}
	s.close()
	if v := mustCLI(t, env, "audit", "verify"); strings.Contains(v, "FAIL") {
		t.Errorf("audit verify after the restore:\n%s", v)
	}

	// Told to, the restore keeps it.
	mustCLI(t, env, "restore", "--in", out, "--identity", idFile, "--revive-deleted")
	s = openSealed(t, env)
	if _, err := s.GetWorkspace(t.Context(), b); err != nil {
		t.Errorf("--revive-deleted did not keep workspace B: %v", err)
	}
	s.close()
}

func flip(b []byte, at int) []byte {
	c := slices.Clone(b)
	c[at] ^= 0x01
	return c
}

func mapsEqual(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// dumpPostgres reads every row of every table of the data and key
// schemas, as text, in a stable order, as the admin role.
func dumpPostgres(t *testing.T, url string) map[string][]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT n.nspname::text || '.' || c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN (current_schema(), 'palisade_keys') AND c.relkind = 'r' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tbl := range tables {
		rows, err := conn.Query(t.Context(), `SELECT x::text FROM `+tbl+` x`)
		if err != nil {
			t.Fatalf("reading %s: %v", tbl, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(lines)
		out[tbl] = lines
	}
	return out
}

// TestBackupRestorePostgres: on PostgreSQL the backup reads both schemas
// in one transaction as the admin role; after the tables are wiped, the
// restore brings every row back, refusing altered or cut-short archives
// before it changes anything.
func TestBackupRestorePostgres(t *testing.T) {
	t.Parallel()
	env := keyBackends(t)["postgres"](t)
	admin := asAdmin(env)
	a := createWorkspace(t, env, "Alpha")
	b := createWorkspace(t, env, "Bravo")
	s := openSealed(t, env)
	keysA := seedSecrets(t, s, a, 2)
	keysB := seedSecrets(t, s, b, 1)
	s.close()
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pg.age")
	mustCLI(t, admin, "backup", "--out", out, "--recipient", id.Recipient().String())
	adminURL := admin["PALISADE_DATABASE_URL"]
	want := dumpPostgres(t, adminURL)
	if len(want["palisade_keys.data_keys"]) == 0 || len(want["public.messages"]) == 0 {
		t.Fatalf("the seed is not in the database: %d data keys, %d messages", len(want["palisade_keys.data_keys"]), len(want["public.messages"]))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"flipped": flip(raw, len(raw)/2), "cut-short": raw[:len(raw)-7]} {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := runCLI(t, t.Context(), admin, nil, "restore", "--in", p, "--keys", out+".keys", "--identity", idFile); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: restore = %v, want a refusal", name, err)
		}
		if got := dumpPostgres(t, adminURL); !dumpsEqual(got, want) {
			t.Errorf("%s: a refused restore changed the database", name)
		}
	}

	// Wipe every table.
	conn, err := pgx.Connect(t.Context(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tbl := range want {
		names = append(names, tbl)
	}
	if _, err := conn.Exec(t.Context(), `TRUNCATE `+strings.Join(names, ", ")); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())

	mustCLI(t, admin, "restore", "--in", out, "--identity", idFile)
	got := dumpPostgres(t, adminURL)
	for tbl, rows := range want {
		if tbl == "public.platform_audit_log" {
			if len(got[tbl]) != len(rows)+1 {
				t.Errorf("platform_audit_log: %d rows after the restore, want %d and the restore's", len(got[tbl]), len(rows))
			}
			continue
		}
		if !slices.Equal(got[tbl], rows) {
			t.Errorf("table %s differs after the restore: %d rows, want %d", tbl, len(got[tbl]), len(rows))
		}
	}
	rs := openSealed(t, env)
	checkOpen(t, rs, a, keysA)
	checkOpen(t, rs, b, keysB)
	// New rows still get fresh sequence numbers.
	if _, err := rs.CreateBot(t.Context(), a, palisade.Bot{Name: "after", Model: "gpt-4o-mini", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("writing after the restore: %v", err)
	}
	rs.close()
	if v := mustCLI(t, env, "audit", "verify"); !strings.Contains(v, "restored from a backup") || strings.Contains(v, "FAIL") {
		t.Errorf("audit verify after the restore:\n%s", v)
	}
}

func dumpsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(b[k], v) {
			return false
		}
	}
	return true
}
