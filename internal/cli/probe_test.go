package cli_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/probe"
)

// TestProbeAgainstPalisade runs `palisade probe` against the real app,
// over plain HTTP and over TLS with a certificate only the probe's
// --insecure-ca trusts, with an API key: every check passes or is skipped
// with a reason, none fails, and the command exits zero. The rate-limit
// bursts are left out: these servers raise the limits so the other checks
// never meet them (TestProbeCI runs the bursts against the defaults).
func TestProbeAgainstPalisade(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		name := "http"
		if withTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "palisade-data")}
			ws := createWorkspace(t, env, "Probe")
			key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "probe",
				"--scopes", auth.FormatScopes(auth.AllScopes())))
			limits := filepath.Join(dir, "limits.yaml")
			if err := os.WriteFile(limits, []byte("classes:\n  mgmt_write: 1000/min\n  mgmt_read: 1000/min\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--rate-limits", limits}
			probeArgs := []string{"probe", "--json", "--quiet", "--api-key", key, "--exclude-category", "rate-limits"}
			base := ""
			if withTLS {
				certFile, keyFile, _ := deploymentCert(t, dir)
				args = append(args, "--tls-cert", certFile, "--tls-key", keyFile)
				probeArgs = append(probeArgs, "--insecure-ca", certFile)
			}
			r := serve(t, env, args...)
			base = r.public
			if withTLS {
				base = "https://" + strings.TrimPrefix(r.public, "http://")
			}
			var errOut syncBuffer
			out, err := runCLI(t, t.Context(), map[string]string{}, &errOut, append(probeArgs, base)...)
			var rep probe.Report
			if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
				t.Fatalf("probe output is not JSON: %v\n%s\nstderr:\n%s", jerr, out, errOut.String())
			}
			for _, res := range rep.Results {
				switch {
				case res.Status == probe.Fail:
					t.Errorf("%s/%s failed: %s", res.Category, res.Name, res.Evidence)
				case res.Status == probe.Skip && res.Evidence == "":
					t.Errorf("%s/%s skipped without a reason", res.Category, res.Name)
				case res.Status == probe.Skip:
					t.Logf("%s/%s skipped: %s", res.Category, res.Name, res.Evidence)
				}
			}
			if err != nil && !errors.Is(err, cli.ErrProbeFailed) {
				t.Fatalf("palisade probe: %v\nstderr:\n%s", err, errOut.String())
			}
			if (err != nil) != (rep.Failed > 0) {
				t.Errorf("exit error %v with %d failures", err, rep.Failed)
			}
			if len(rep.Results) < 60 || rep.Passed < 60 {
				t.Errorf("%d checks, %d passed: want at least 60 of each", len(rep.Results), rep.Passed)
			}
			t.Logf("%d checks: %d passed, %d skipped, %d requests", len(rep.Results), rep.Passed, rep.Skipped, rep.Requests)
			if rep.Requests > 500 {
				t.Errorf("the probe sent %d requests, over its budget", rep.Requests)
			}
		})
	}
}

// TestProbeExitsNonZeroOnAFailure: against a server with none of the
// security headers the command reports failures in its table and returns
// ErrProbeFailed; a missing URL is a usage error; --list names the checks.
func TestProbeExitsNonZeroOnAFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	t.Cleanup(srv.Close)
	var errOut syncBuffer
	out, err := runCLI(t, t.Context(), map[string]string{}, &errOut, "probe", "--category", "headers", srv.URL)
	if !errors.Is(err, cli.ErrProbeFailed) {
		t.Fatalf("probe of a bare server: %v, want ErrProbeFailed\n%s", err, out)
	}
	if !strings.Contains(out, "fail") || !strings.Contains(out, "x-frame-options-deny") {
		t.Errorf("the table does not show the failures:\n%s", out)
	}
	if !strings.Contains(errOut.String(), "/") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
	if _, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe"); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("probe without a URL: %v, want a usage error", err)
	}
	out, err = runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--list")
	if err != nil || !strings.Contains(out, "checks in") {
		t.Errorf("probe --list: %v\n%s", err, out)
	}
}
