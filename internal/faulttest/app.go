package faulttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/egress"
)

// Backend is where the server keeps its data: the environment of the
// binary, and for PostgreSQL the cluster behind it.
type Backend struct {
	Name string
	Env  map[string]string
	PG   *Postgres
	// AdminURL reaches the database as its owner (PostgreSQL only).
	AdminURL string
}

// SQLite is an embedded store in a fresh data directory.
func SQLite(t testing.TB) Backend {
	t.Helper()
	return Backend{Name: "sqlite", Env: map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}}
}

// PostgreSQL is a store on a cluster of the harness's own, migrated by
// `palisade migrate`, which also creates the application role the server
// then connects as.
func PostgreSQL(t testing.TB, bin string) Backend {
	t.Helper()
	pg := StartPostgres(t)
	pg.CreateDatabase("palisade")
	admin := pg.URL("palisade")
	env := map[string]string{"PALISADE_DATABASE_URL": admin, "PALISADE_APP_ROLE": "palisade_app",
		"PALISADE_DATA_DIR": t.TempDir(), "PALISADE_MASTER_KEY": base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
	CLI(t, bin, env, "migrate")
	env["PALISADE_DATABASE_URL"] = strings.Replace(admin, "postgres://postgres@", "postgres://palisade_app@", 1)
	return Backend{Name: "postgres", Env: env, PG: pg, AdminURL: admin}
}

var wsLine = regexp.MustCompile(`workspace (ws_[a-z2-7]{26}) created`)

// Workspace creates a workspace and an API key of it with scopes; it
// returns the workspace id and the key.
func Workspace(t testing.TB, bin string, b Backend, name, scopes string) (string, string) {
	t.Helper()
	out := CLI(t, bin, b.Env, "workspace", "create", "--name", name, "--owner-email", "owner@example.com")
	m := wsLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no workspace id in %q", out)
	}
	key := strings.TrimSpace(CLI(t, bin, b.Env, "apikey", "create", "--workspace", m[1], "--name", "faults", "--scopes", scopes))
	return m[1], key
}

// EgressPolicy writes a policy allowing exactly the origins of urls and
// returns its path.
func EgressPolicy(t testing.TB, urls ...string) string {
	t.Helper()
	var rules []egress.Rule
	for _, u := range urls {
		rule, err := egress.RuleForURL(u)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	raw, err := yaml.Marshal(map[string]any{"version": egress.PolicyVersion, "rules": rules})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// RateLimits writes a rate-limits file of classes (class → rate) and
// returns its path.
func RateLimits(t testing.TB, classes map[string]string) string {
	t.Helper()
	raw, err := yaml.Marshal(map[string]any{"classes": classes})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// API calls the REST API with key and decodes a JSON answer; it fails the
// test unless the status is want.
func API(t testing.TB, base, key, method, path string, body any, want int) map[string]any {
	t.Helper()
	status, raw := Do(t, base, key, method, path, body)
	if status != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

// Do calls the REST API with key and returns the status and body; a
// transport error is status 0.
func Do(t testing.TB, base, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := HTTPClient(t, base, 30*time.Second).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// HTTPClient is a client reaching only the origin of base (a loopback
// address of the harness), through the egress package like every
// outbound request of the module.
func HTTPClient(t testing.TB, base string, timeout time.Duration) *http.Client {
	t.Helper()
	rule, err := egress.RuleForURL(base)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	c, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c.HTTPClient()
}
