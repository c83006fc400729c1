//go:build linux

package cli_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
)

// TestDocumentsAreParsedInBotWorkers, through the whole app: uploaded
// documents are parsed in the bot's worker (the extract tasks are
// counted), a hostile one ends in a clear error while the server goes on
// answering, and a retrieval-only turn never uses a worker.
func TestDocumentsAreParsedInBotWorkers(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
	ws := createWorkspace(t, env, "Workers")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "w",
		"--scopes", auth.FormatScopes(auth.AllScopes())))
	r := serve(t, env)
	client := &http.Client{Timeout: 30 * time.Second}
	status, bot := apiJSON(t, client, http.MethodPost, r.public+"/api/v1/bots", key, "application/json", strings.NewReader(`{"name":"Shop"}`))
	if status != http.StatusCreated {
		t.Fatalf("create bot: %d %v", status, bot)
	}
	botURL := r.public + "/api/v1/bots/" + bot["id"].(string)

	docx := docparsetest.DOCX("Kettle warranty", []string{"Every kettle carries a warranty of three years against limescale damage."},
		docparsetest.DOCXOptions{})
	status, got := apiJSON(t, client, http.MethodPost, botURL+"/documents?title=Warranty", key,
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document", bytes.NewReader(docx))
	if status != http.StatusCreated {
		t.Fatalf("DOCX upload: %d %v", status, got)
	}
	// Markup nested far past the depth limit, a mebibyte of it.
	status, got = apiJSON(t, client, http.MethodPost, botURL+"/documents?title=Deep", key, "text/html",
		strings.NewReader(strings.Repeat("<div>", (1<<20)/5)))
	if e, _ := got["error"].(map[string]any); status != http.StatusBadRequest || !strings.Contains(e["message"].(string), "nested") {
		t.Fatalf("nested HTML: %d %v", status, got)
	}
	if code, _ := get(t, r.public+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after the hostile document: %d", code)
	}
	status, reply := apiJSON(t, client, http.MethodPost, botURL+"/chat", key, "application/json",
		strings.NewReader(`{"user_id":"u1","message":"How long is the kettle warranty?"}`))
	if status != http.StatusOK || reply["mode"] != "retrieval_only" || !strings.Contains(reply["reply"].(string), "three years") {
		t.Fatalf("chat: %d %v", status, reply)
	}

	samples, _ := scrape(t, r.admin)
	if n := sum(samples, "palisade_sandbox_task_seconds_count", map[string]string{"kind": "extract"}); n != 2 {
		t.Errorf("%v documents parsed in a worker, want 2", n)
	}
	if n := sum(samples, "palisade_sandbox_task_seconds_count", map[string]string{"kind": "turn"}); n != 0 {
		t.Errorf("a retrieval-only turn ran in a worker (%v turns)", n)
	}
	if n := sum(samples, "palisade_sandbox_confined", nil); n != 1 {
		t.Errorf("palisade_sandbox_confined %v", n)
	}
}
