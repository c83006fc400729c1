package cli_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestServeCountsRateLimitRefusalsAtShutdown: a server charges each
// request an API key's limit refuses to the key's workspace, and a
// shutdown before the next interval flush still writes the count.
func TestServeCountsRateLimitRefusalsAtShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	limits := filepath.Join(dir, "limits.yaml")
	if err := os.WriteFile(limits, []byte("classes:\n  mgmt_read: \"1/min\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "data")}
	ws := createWorkspace(t, env, "Refused")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "r", "--scopes", "bots:read"))
	r := serve(t, env, "--rate-limits", limits)
	c := &e2eClient{t: t, base: r.public, key: key, cap: &e2eCapture{}}
	c.json(http.MethodGet, "/api/v1/bots", nil, http.StatusOK)
	for i := range 6 {
		if code, raw := c.do(http.MethodGet, "/api/v1/bots", nil); code != http.StatusTooManyRequests {
			t.Fatalf("read %d = %d %s, want 429", i+2, code, raw)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), filepath.Join(env["PALISADE_DATA_DIR"], "palisade.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	days, err := (&conversation.Dashboard{Store: s}).Days(t.Context(), ws, 1)
	if err != nil || len(days) != 1 || days[0].RateLimited != 6 {
		t.Fatalf("activity after shutdown = %+v, %v; want the 6 refusals", days, err)
	}
}
