package config

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the generated documentation files")

// TestGeneratedFiles keeps docs/configuration.md and palisade.example.yaml
// equal to what the setting definitions generate, so adding or changing a
// flag without regenerating them fails here.
func TestGeneratedFiles(t *testing.T) {
	for _, f := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{"../../docs/configuration.md", WriteMarkdown},
		{"../../palisade.example.yaml", WriteExample},
	} {
		var want bytes.Buffer
		if err := f.write(&want); err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(f.path, want.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatalf("%v (regenerate: go test ./internal/config -run TestGeneratedFiles -update)", err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s is out of date with the setting definitions; regenerate: go test ./internal/config -run TestGeneratedFiles -update", filepath.Base(f.path))
		}
	}
}

// TestExampleFileLoadsAndNamesEverySetting: the example file parses, loads
// through the real loader for every command's groups without an error,
// yields exactly the defaults, and names every setting (the secrets in
// comments) and nothing else.
func TestExampleFileLoadsAndNamesEverySetting(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../palisade.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal(raw, &parsed); err != nil {
		t.Fatalf("not YAML: %v", err)
	}
	named := map[string]bool{}
	for k := range parsed {
		named[k] = true
	}
	commented := regexp.MustCompile(`(?m)^# ([a-z0-9_]+): "`)
	for _, m := range commented.FindAllStringSubmatch(string(raw), -1) {
		named[m[1]] = true
	}
	var want, got []string
	for _, s := range settings() {
		want = append(want, s.fileKey())
		if s.secret {
			if _, set := parsed[s.fileKey()]; set {
				t.Errorf("secret %s is set in the example file; it belongs in %s_FILE", s.fileKey(), s.env())
			}
		}
	}
	for k := range named {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example file keys differ from the settings:\n got %v\nwant %v", got, want)
	}

	all := GroupStore | GroupServe | GroupMigrate
	loadWith := func(args []string) Config {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		l := NewLoader(fs, all)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := l.Load(func(string) string { return "" })
		if err != nil {
			t.Fatalf("loading %v: %v", args, err)
		}
		return c
	}
	defaults := loadWith(nil)
	fromFile := loadWith([]string{"--config", "../../palisade.example.yaml"})
	if !reflect.DeepEqual(defaults, fromFile) {
		t.Errorf("the example file changes the configuration:\n defaults %+v\n file     %+v", defaults, fromFile)
	}
}

// TestReferenceNamesEveryFlag: every flag any command registers is in the
// reference with its environment variable.
func TestReferenceNamesEveryFlag(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	NewLoader(fs, GroupStore|GroupServe|GroupMigrate)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		if !strings.Contains(b.String(), "| `--"+f.Name+"` |") {
			t.Errorf("reference lacks --%s", f.Name)
		}
	})
}
