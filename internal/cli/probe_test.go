package cli_test

import (
	"encoding/json"
	"errors"
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
// with a reason, none fails, and the command exits zero.
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
			probeArgs := []string{"probe", "--json", "--quiet", "--api-key", key}
			base := ""
			if withTLS {
				certFile, keyFile, _ := selfSignedCert(t, dir)
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
			if rep.Requests > 500 {
				t.Errorf("the probe sent %d requests, over its budget", rep.Requests)
			}
		})
	}
}
