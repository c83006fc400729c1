package cli_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthcheck: the command exits 0 against a running server's
// /healthz, and fails against an unhealthy or absent one.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	out, err := runCLI(t, t.Context(), nil, nil, "healthcheck", "--url", r.public+"/healthz")
	if err != nil || strings.TrimSpace(out) != "healthy" {
		t.Fatalf("healthy server: %q %v", out, err)
	}
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	if _, err := runCLI(t, t.Context(), nil, nil, "healthcheck", "--url", sick.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unhealthy server: %v", err)
	}
	sick.Close()
	if _, err := runCLI(t, t.Context(), nil, nil, "healthcheck", "--url", sick.URL+"/healthz", "--timeout", "1s"); err == nil {
		t.Error("a closed port passed")
	}
	if _, err := runCLI(t, t.Context(), nil, nil, "healthcheck", "--url", "file:///etc/passwd"); err == nil {
		t.Error("a file URL was accepted")
	}
}
