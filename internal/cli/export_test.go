package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/store"
)

// TestWorkspaceExportCLI: the operator's export of one workspace holds its
// secrets redacted, its messages readable, its own export recorded in its
// audit log, and nothing of the workspace beside it.
func TestWorkspaceExportCLI(t *testing.T) {
	t.Parallel()
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			a := createWorkspace(t, env, "Alpha")
			b := createWorkspace(t, env, "Bravo")
			s := openSealed(t, env)
			keysA := seedSecrets(t, s, a, 2)
			keysB := seedSecrets(t, s, b, 1)
			s.close()

			out := filepath.Join(t.TempDir(), "export.json")
			mustCLI(t, env, "workspace", "export", string(a.Workspace()), "--out", out)
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
				t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
			}
			var doc struct {
				Format    string                      `json:"format"`
				Complete  bool                        `json:"complete"`
				Workspace struct{ ID string }         `json:"workspace"`
				Members   []map[string]any            `json:"members"`
				Tables    map[string][]map[string]any `json:"tables"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("the export is not JSON: %v", err)
			}
			if doc.Format != "palisade.workspace-export" || !doc.Complete || doc.Workspace.ID != string(a.Workspace()) {
				t.Fatalf("export header: %q complete=%v workspace=%q", doc.Format, doc.Complete, doc.Workspace.ID)
			}
			if len(doc.Tables["provider_keys"]) != 2 || len(doc.Tables["channels"]) != 1 || len(doc.Tables["messages"]) != 1 {
				t.Fatalf("export tables: %d provider keys, %d channels, %d messages", len(doc.Tables["provider_keys"]), len(doc.Tables["channels"]), len(doc.Tables["messages"]))
			}
			if body := doc.Tables["messages"][0]["body"]; body != "hello from "+string(a.Workspace()) {
				t.Errorf("message body = %v", body)
			}
			if v := doc.Tables["channels"][0]["sealed_credentials"]; v != "[redacted]" {
				t.Errorf("channel credentials exported as %v", v)
			}
			text := string(raw)
			for _, keys := range []map[store.ProviderKeyID]string{keysA, keysB} {
				for _, v := range keys {
					if strings.Contains(text, v) {
						t.Errorf("the export contains the provider key %q", v)
					}
				}
			}
			for _, v := range []string{`"123:tok"`, `"whsec"`, string(b.Workspace())} {
				if strings.Contains(text, v) {
					t.Errorf("the export contains %s", v)
				}
			}
			exported := false
			for _, e := range doc.Tables["audit_log"] {
				if e["action"] == "export.created" && e["actor"] == "cli" && e["target"] == string(a.Workspace()) {
					exported = true
				}
			}
			if !exported {
				t.Error("the export is not recorded in the workspace's audit log")
			}

			// An unknown workspace is refused and leaves no file.
			missing := filepath.Join(t.TempDir(), "missing.json")
			if _, err := runCLI(t, t.Context(), env, nil, "workspace", "export", "ws_aaaaaaaaaaaaaaaaaaaaaaaaaa", "--out", missing); err == nil {
				t.Error("export of an unknown workspace succeeded")
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("a refused export left a file: %v", err)
			}
		})
	}
}
