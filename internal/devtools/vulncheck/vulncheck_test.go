package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// moduleRoot is the root of the palisade module, where tools.go.mod is.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tools.go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// scan runs govulncheck as the command does, from the module root, and
// returns its output and exit status.
func scan(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	db, err := ensureDB(ctx, "go")
	if err != nil {
		t.Fatalf("building the vulnerability database: %v", err)
	}
	cmd := govulncheck(ctx, "go", "tools.go.mod", db, args)
	cmd.Dir = moduleRoot(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running govulncheck: %v", err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// A module calling golang.org/x/text/language.ParseAcceptLanguage at
// v0.3.7 has GO-2022-1059 reported against it, with the call, and the
// check fails.
func TestVulncheckReportsCalledVulnerability(t *testing.T) {
	out, code := scan(t, "-C", filepath.Join("internal", "devtools", "vulncheck", "testdata", "vulnmod"), "./...")
	if code != 3 {
		t.Fatalf("govulncheck exited %d, want 3 (vulnerabilities found); output:\n%s", code, out)
	}
	for _, want := range []string{"GO-2022-1059", "calls language.ParseAcceptLanguage", "golang.org/x/text@v0.3.7"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The module itself, with its pinned dependencies and Go release, calls no
// function with a known vulnerability.
func TestVulncheckPassesOnModule(t *testing.T) {
	out, code := scan(t, "./...")
	if code != 0 {
		t.Fatalf("govulncheck exited %d on the module, want 0; output:\n%s", code, out)
	}
	t.Logf("govulncheck on the module:\n%s", out)
}

// The database has the v1 layout: the three index files, and each module's
// entries point at entry files whose id matches, and the fixed version
// recorded for a module is the one its entry states.
func TestDatabaseLayout(t *testing.T) {
	db, err := ensureDB(context.Background(), "go")
	if err != nil {
		t.Fatal(err)
	}
	var meta dbMeta
	readJSON(t, filepath.Join(db, "index", "db.json"), &meta)
	if want, _ := pseudoVersionTime(vulndbVersion); meta.Modified.Before(want) {
		t.Errorf("db.json modified %v, want at least the vulndb commit time %v", meta.Modified, want)
	}
	var vulns []vulnMeta
	readJSON(t, filepath.Join(db, "index", "vulns.json"), &vulns)
	if len(vulns) < 1000 {
		t.Fatalf("vulns.json lists %d entries, want the whole database", len(vulns))
	}
	var modules []moduleMeta
	readJSON(t, filepath.Join(db, "index", "modules.json"), &modules)
	found := false
	for _, m := range modules {
		if m.Path != "golang.org/x/text" {
			continue
		}
		for _, v := range m.Vulns {
			if v.ID == "GO-2022-1059" {
				found = true
				if v.Fixed != "0.3.8" {
					t.Errorf("GO-2022-1059 fixed %q in modules.json, want 0.3.8", v.Fixed)
				}
			}
		}
	}
	if !found {
		t.Fatal("modules.json does not list GO-2022-1059 for golang.org/x/text")
	}
	var entry osvEntry
	readJSON(t, filepath.Join(db, "ID", "GO-2022-1059.json"), &entry)
	if entry.ID != "GO-2022-1059" || len(entry.Affected) == 0 {
		t.Errorf("ID/GO-2022-1059.json holds %+v", entry)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestLatestFixed(t *testing.T) {
	type ev = struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	}
	semver := func(events ...ev) osvRange { return osvRange{Type: "SEMVER", Events: events} }
	for _, tc := range []struct {
		name   string
		ranges []osvRange
		want   string
	}{
		{"one fix", []osvRange{semver(ev{Introduced: "0"}, ev{Fixed: "0.3.8"})}, "0.3.8"},
		{"the latest of several fixes", []osvRange{semver(ev{Introduced: "0"}, ev{Fixed: "1.20.12"}, ev{Introduced: "1.21.0-0"}, ev{Fixed: "1.21.5"})}, "1.21.5"},
		{"numeric, not textual, order", []osvRange{semver(ev{Introduced: "0"}, ev{Fixed: "0.9.0"}, ev{Introduced: "0.10.0"}, ev{Fixed: "0.10.1"})}, "0.10.1"},
		{"never fixed", []osvRange{semver(ev{Introduced: "0"})}, ""},
		{"reintroduced after the last fix", []osvRange{semver(ev{Introduced: "0"}, ev{Fixed: "1.2.0"}, ev{Introduced: "1.5.0"})}, ""},
		{"a release after its pre-release", []osvRange{semver(ev{Introduced: "0"}, ev{Fixed: "1.27.0-rc.3"}, ev{Introduced: "1.27.0"}, ev{Fixed: "1.27.2"})}, "1.27.2"},
		{"other range types ignored", []osvRange{{Type: "GIT", Events: []ev{{Fixed: "9.9.9"}}}}, ""},
	} {
		if got := latestFixed(tc.ranges); got != tc.want {
			t.Errorf("%s: latestFixed = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSemverLess(t *testing.T) {
	ordered := []string{"0.0.1", "0.3.7", "0.3.8", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.21.0-0", "1.21.0", "0.58.1-0.20261009181718-2f1f834330b2"}
	ordered = append(ordered[:len(ordered)-1], "2.0.0")
	for i := range ordered {
		for j := range ordered {
			if got, want := semverLess(ordered[i], ordered[j]), i < j; got != want {
				t.Errorf("semverLess(%q, %q) = %v, want %v", ordered[i], ordered[j], got, want)
			}
		}
	}
	if semverLess("1.2.3+build.5", "1.2.3") || semverLess("1.2.3", "1.2.3+build.5") {
		t.Error("build metadata changed precedence")
	}
	if !semverLess("0.58.0", "0.58.1-0.20261009181718-2f1f834330b2") || !semverLess("0.58.1-0.20261009181718-2f1f834330b2", "0.58.1") {
		t.Error("a pseudo-version is not ordered between its base and its release")
	}
}
