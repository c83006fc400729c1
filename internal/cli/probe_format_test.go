package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/probe"
)

// TestProbeChecksDocumentIsTheList: docs/probe-checks.md is exactly what
// `palisade probe --list --format markdown` prints, so the documentation
// cannot drift from the checks (regenerate it with that command).
func TestProbeChecksDocumentIsTheList(t *testing.T) {
	t.Parallel()
	out, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--list", "--format", "markdown")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "probe-checks.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != out {
		t.Errorf("docs/probe-checks.md is not the output of `palisade probe --list --format markdown`; regenerate it")
	}
	for _, c := range probe.All() {
		if !strings.Contains(out, "| `"+c.Name+"` | "+string(c.Severity)+" | ") {
			t.Errorf("the Markdown list lacks %s/%s with its severity", c.Category, c.Name)
		}
	}
	for _, cat := range probe.Categories(probe.All()) {
		if !strings.Contains(out, "\n## "+cat+"\n") {
			t.Errorf("the Markdown list has no section for %s", cat)
		}
	}
}

// TestProbeListTable: --list prints every check with its severity,
// reference and description, and the count; a format it cannot print is
// a usage error.
func TestProbeListTable(t *testing.T) {
	t.Parallel()
	out, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	all := probe.All()
	if len(lines) != len(all)+2 {
		t.Fatalf("%d lines for %d checks", len(lines), len(all))
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "CATEGORY CHECK SEVERITY REFERENCE DESCRIPTION" {
		t.Errorf("header %q", lines[0])
	}
	for i, c := range all {
		l := lines[i+1]
		for _, want := range []string{c.Category, c.Name, string(c.Severity), c.Reference, c.Description} {
			if !strings.Contains(l, want) {
				t.Errorf("line %q lacks %q", l, want)
			}
		}
	}
	if last, want := lines[len(lines)-1], fmt.Sprintf("%d checks in %d categories", len(all), len(probe.Categories(all))); last != want {
		t.Errorf("last line %q, want %q", last, want)
	}
	if _, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--list", "--format", "sarif"); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("--list --format sarif: %v, want a usage error", err)
	}
	if _, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--format", "xml", "http://127.0.0.1:1"); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("--format xml: %v, want a usage error", err)
	}
}

// bareServer answers every request with a plain 200 and no security
// header: the header checks fail against it.
func bareServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestProbeSARIF: --format sarif is a SARIF 2.1.0 log that code-scanning
// tools accept: the version and schema, one run whose tool driver is the
// probe with a rule for every check (unique ids, a level and a
// security-severity), and a result for each failed check naming its rule
// by id and index, with a level, a message and a location.
func TestProbeSARIF(t *testing.T) {
	t.Parallel()
	out, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--quiet", "--format", "sarif", "--category", "headers", bareServer(t))
	if !errors.Is(err, cli.ErrProbeFailed) {
		t.Fatalf("probe of a bare server: %v, want ErrProbeFailed", err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						DefaultConfiguration struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
						Properties struct {
							SecuritySeverity string `json:"security-severity"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q, $schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != probe.ToolName {
		t.Errorf("driver name %q", run.Tool.Driver.Name)
	}
	all := probe.All()
	if len(run.Tool.Driver.Rules) != len(all) {
		t.Fatalf("%d rules for %d checks", len(run.Tool.Driver.Rules), len(all))
	}
	levels := map[string]bool{"error": true, "warning": true, "note": true}
	ids := map[string]int{}
	for i, r := range run.Tool.Driver.Rules {
		if _, dup := ids[r.ID]; dup || r.ID != probe.RuleID(all[i].Category, all[i].Name) {
			t.Errorf("rule %d: id %q (duplicate or not the check's)", i, r.ID)
		}
		ids[r.ID] = i
		if !levels[r.DefaultConfiguration.Level] || r.Properties.SecuritySeverity == "" || r.ShortDescription.Text == "" {
			t.Errorf("rule %s: level %q, security-severity %q, description %q", r.ID, r.DefaultConfiguration.Level, r.Properties.SecuritySeverity, r.ShortDescription.Text)
		}
	}
	if len(run.Results) < 10 {
		t.Fatalf("%d results against a server with no security header", len(run.Results))
	}
	sawXFO := false
	for _, res := range run.Results {
		i, ok := ids[res.RuleID]
		if !ok || i != res.RuleIndex {
			t.Errorf("result for %q: rule index %d, want %d", res.RuleID, res.RuleIndex, i)
			continue
		}
		if res.Level != run.Tool.Driver.Rules[i].DefaultConfiguration.Level || res.Message.Text == "" {
			t.Errorf("result %s: level %q, message %q", res.RuleID, res.Level, res.Message.Text)
		}
		if len(res.Locations) != 1 || !strings.HasPrefix(res.Locations[0].PhysicalLocation.ArtifactLocation.URI, "http://127.0.0.1:") {
			t.Errorf("result %s: locations %+v", res.RuleID, res.Locations)
		}
		if strings.HasPrefix(res.RuleID, "headers/x-frame-options-deny ") {
			sawXFO = true
			if res.Level != "note" {
				t.Errorf("a low-severity failure is %q, want note", res.Level)
			}
		}
	}
	if !sawXFO {
		t.Error("the missing X-Frame-Options is not among the results")
	}
}

// TestProbeJSONAlias: --json and --format json print the same report, and
// --json with another --format is a usage error.
func TestProbeJSONAlias(t *testing.T) {
	t.Parallel()
	base := bareServer(t)
	var reps [2]probe.Report
	for i, args := range [][]string{{"--json"}, {"--format", "json"}} {
		out, _ := runCLI(t, t.Context(), map[string]string{}, nil, append(append([]string{"probe", "--quiet", "--category", "cookies"}, args...), base)...)
		if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
		}
	}
	if len(reps[0].Results) == 0 || len(reps[0].Results) != len(reps[1].Results) || reps[0].Results[0].Severity == "" || reps[0].Results[0].Reference == "" {
		t.Errorf("--json %+v vs --format json %+v", reps[0].Results, reps[1].Results)
	}
	for i := range reps[0].Results {
		a, b := reps[0].Results[i], reps[1].Results[i]
		if a.Name != b.Name || a.Status != b.Status {
			t.Errorf("--json %+v vs --format json %+v", a, b)
		}
	}
	if _, err := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--json", "--format", "sarif", base); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("--json --format sarif: %v, want a usage error", err)
	}
}

// TestProbeTableSaysWhatWasSkipped: without keys or secrets the table
// ends with the skipped checks counted by reason, naming the flag each
// needs.
func TestProbeTableSaysWhatWasSkipped(t *testing.T) {
	t.Parallel()
	out, _ := runCLI(t, t.Context(), map[string]string{}, nil, "probe", "--quiet", "--category", "idor", "--category", "webhook-replay", bareServer(t))
	for _, want := range []string{"skipped  15: needs two API keys", "needs the telegram channel's secret (--secrets)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table does not say %q:\n%s", want, out)
		}
	}
}
