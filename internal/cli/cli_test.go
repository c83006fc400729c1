package cli_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store/postgres"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type running struct {
	public, admin  string
	stdout, stderr *syncBuffer
	stop           func() error
}

// serve starts `palisade serve` in-process on loopback ports.
func serve(t *testing.T, env map[string]string, args ...string) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	e := &cli.Env{
		Getenv: func(k string) string { return env[k] },
		Stdin:  strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Ready: func(p, a string) { addrs <- [2]string{p, a} },
	}
	go func() {
		done <- cli.RunEnv(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...), e)
	}()
	var r running
	select {
	case a := <-addrs:
		r = running{public: "http://" + a[0], admin: "http://" + a[1], stdout: &out, stderr: &errOut}
	case err := <-done:
		cancel()
		t.Fatalf("serve exited early: %v\nstderr:\n%s", err, errOut.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not become ready\nstderr:\n%s", errOut.String())
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = errors.New("serve did not stop within 15s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeEmbedded runs the default install in-process: the data
// directory, database and master key appear with their modes, health and
// readiness answer, metrics live only on the admin listener, the set-up
// link is printed, and a stop ends cleanly.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "palisade-data")
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": dir})

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 404, "/debug/pprof/": 404} {
		if code, body := get(t, r.public+path); code != want {
			t.Errorf("public %s = %d (%s), want %d", path, code, body, want)
		}
	}
	for path, want := range map[string]int{"/metrics": 200, "/debug/pprof/": 200} {
		if code, _ := get(t, r.admin+path); code != want {
			t.Errorf("admin %s = %d, want %d", path, code, want)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v mode %v", err, fi.Mode().Perm())
	}
	fi, err = os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("master.key: %v, mode %v", err, fi)
	}
	if _, err := os.Stat(filepath.Join(dir, "palisade.db")); err != nil {
		t.Fatalf("database: %v", err)
	}
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/setup/[A-Za-z0-9_-]{43}`)
	if !link.MatchString(r.stdout.String()) {
		t.Fatalf("no set-up link on stdout:\n%s", r.stdout.String())
	}
	if link.MatchString(r.stderr.String()) {
		t.Fatal("the set-up link reached the log")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(r.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", r.stderr.String())
	}

	// A second start keeps the key and prints a new link (still no user).
	key1, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	r2 := serve(t, map[string]string{"PALISADE_DATA_DIR": dir})
	r2.stop()
	key2, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	if !bytes.Equal(key1, key2) {
		t.Fatal("master.key changed across restarts")
	}
}

func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cli.Run(t.Context(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestEverySubcommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"version", "--help"},
		{"workspace", "create", "--help"}, {"apikey", "create", "--help"}, {"workspace", "--help"}, {"apikey", "--help"},
		{"workspace", "list", "--help"}, {"workspace", "suspend", "--help"}, {"workspace", "resume", "--help"}, {"apikey", "list", "--help"},
		{"user", "--help"}, {"user", "reset-password", "--help"}, {"user", "reset-mfa", "--help"}} {
		out, errOut, err := run(t, nil, args...)
		if err != nil || !strings.Contains(out+errOut, "Usage: palisade") {
			t.Errorf("%v: err %v, output %q", args, err, out+errOut)
		}
	}
	if _, _, err := run(t, nil, "frobnicate"); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("unknown command: %v", err)
	}
	if _, _, err := run(t, nil, "serve", "--addr", "nonsense", "--data-dir", t.TempDir()); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("invalid config: %v", err)
	}
	out, _, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "palisade ") {
		t.Errorf("version: %q %v", out, err)
	}
}

// TestBootstrapCommands drives workspace create and apikey create against a
// data directory, then uses the key on a running server.
func TestBootstrapCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"PALISADE_DATA_DIR": dir}
	out, _, err := run(t, env, "workspace", "create", "--name", "Acme", "--owner-email", "Owner@Acme.example")
	if err != nil {
		t.Fatal(err)
	}
	ws := regexp.MustCompile(`workspace (ws_[a-z2-7]{26}) created`).FindStringSubmatch(out)
	if ws == nil || !regexp.MustCompile(`/invite/[A-Za-z0-9_-]{43}`).MatchString(out) {
		t.Fatalf("workspace create output:\n%s", out)
	}
	if _, _, err := run(t, env, "workspace", "create", "--name", "x", "--owner-email", "not-an-email"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("bad e-mail accepted: %v", err)
	}
	_, errOut, err := run(t, env, "apikey", "create", "--workspace", ws[1], "--name", "ci", "--scopes", "bots:read,fly")
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "bots:write") {
		t.Fatalf("unknown scope: %v %s", err, errOut)
	}
	if _, _, err := run(t, env, "apikey", "create", "--workspace", "ws_nope", "--name", "ci", "--scopes", "bots:read"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("malformed workspace: %v", err)
	}
	key, _, err := run(t, env, "apikey", "create", "--workspace", ws[1], "--name", "ci", "--scopes", "bots:read")
	if err != nil {
		t.Fatal(err)
	}
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, "pal_") {
		t.Fatalf("key %q", key)
	}
	// The key's plaintext is nowhere in the database file.
	db, _ := os.ReadFile(filepath.Join(dir, "palisade.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "palisade.db-wal"))
	if bytes.Contains(append(db, wal...), []byte(key)) {
		t.Fatal("API key plaintext stored in the database")
	}
	r := serve(t, env)
	req, _ := http.NewRequest(http.MethodGet, r.public+"/api/v1/bots", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API with the new key: %d", resp.StatusCode)
	}
}

// TestPostgresServeAndRoles, through the CLI: migrate
// twice changes nothing; serve as the admin (superuser, owner) refuses with
// a clear message; serve as the runtime role works.
func TestPostgresServeAndRoles(t *testing.T) {
	t.Parallel()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	env := map[string]string{"PALISADE_DATABASE_URL": admin, "PALISADE_APP_ROLE": role,
		"PALISADE_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "PALISADE_DATA_DIR": t.TempDir()}
	out, _, err := run(t, env, "migrate")
	if err != nil || !strings.Contains(out, "created runtime role") {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	out, _, err = run(t, env, "migrate")
	if err != nil || !strings.Contains(out, "applied 0 migration(s)") || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	_, _, err = run(t, env, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "")
	if err == nil || !strings.Contains(err.Error(), "bypasses Row Level Security") || !strings.Contains(err.Error(), "superuser") {
		t.Fatalf("serve as admin: %v", err)
	}
	env["PALISADE_DATABASE_URL"] = servicetest.WithUser(t, admin, role)
	r := serve(t, env)
	if code, body := get(t, r.public+"/readyz"); code != 200 {
		t.Fatalf("readyz on PostgreSQL: %d %s", code, body)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	_ = postgres.DefaultAppRole
}
