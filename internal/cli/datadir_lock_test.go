package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondServerOnOneDataDirIsRefused: while a server runs on a SQLite
// data directory, a second server of the same part fails at once with a
// message saying why and what to do, a CLI command still works beside it,
// and once the first has stopped the second starts.
func TestSecondServerOnOneDataDirIsRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "palisade-data")
	env := map[string]string{"PALISADE_DATA_DIR": dir}
	first := serve(t, env)

	for _, role := range []string{"all", "web", "worker"} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		var errOut syncBuffer
		_, err := runCLI(t, ctx, env, &errOut, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--role", role)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "already uses the data directory") || !strings.Contains(err.Error(), "--data-dir") {
			t.Fatalf("second serve --role %s: %v\nstderr:\n%s", role, err, errOut.String())
		}
	}

	createWorkspace(t, env, "Beside a running server")

	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	second := serve(t, env)
	if code, _ := get(t, second.public+"/healthz"); code != 200 {
		t.Fatalf("healthz after the first stopped: %d", code)
	}
}
