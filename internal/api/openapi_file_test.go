package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/openapi.json from the served document")

// TestOpenAPIFileIsCurrent keeps the copy of the OpenAPI document in
// docs/ equal to the one the server serves, so the repository documents
// the API a clone builds. Regenerate with:
// go test ./internal/api -run TestOpenAPIFileIsCurrent -update
func TestOpenAPIFileIsCurrent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	code, _, raw := w.raw(t, http.MethodGet, "/api/v1/openapi.json", "", "", nil)
	if code != http.StatusOK {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const path = "../../docs/openapi.json"
	if *updateDocs {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/openapi.json is missing or out of date with the served document (%v); regenerate: go test ./internal/api -run TestOpenAPIFileIsCurrent -update", err)
	}
}
