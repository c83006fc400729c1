package ratelimit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
)

// The defaults are SPEC R4's, class by class.
func TestDefaultsMatchSpec(t *testing.T) {
	t.Parallel()
	want := map[ratelimit.Class]int{
		ratelimit.ClassMgmtWrite:     5,
		ratelimit.ClassMgmtRead:      20,
		ratelimit.ClassIngest:        60,
		ratelimit.ClassAPIMessage:    60,
		ratelimit.ClassLoginIP:       5,
		ratelimit.ClassLoginAccount:  5,
		ratelimit.ClassLoginDevice:   5,
		ratelimit.ClassSecondFactor:  5,
		ratelimit.ClassReauth:        5,
		ratelimit.ClassResetIP:       5,
		ratelimit.ClassResetAccount:  5,
		ratelimit.ClassWebhook:       120,
		ratelimit.ClassWidgetSession: 20,
		ratelimit.ClassWidgetIP:      60,
		ratelimit.ClassExport:        2,
	}
	d := ratelimit.Defaults()
	if len(d) != len(want) || len(ratelimit.Classes()) != len(want) {
		t.Fatalf("Defaults has %d classes, Classes %d; want %d", len(d), len(ratelimit.Classes()), len(want))
	}
	for c, limit := range want {
		p, ok := d.Policy(c)
		if !ok || p != (ratelimit.Policy{Name: string(c), Limit: limit, Window: time.Minute}) {
			t.Errorf("%s: %+v, %v; want %d/min", c, p, ok, limit)
		}
		if c.Per() == "" {
			t.Errorf("%s: no description of what it is counted per", c)
		}
	}
	if _, ok := d.Policy(ratelimit.ClassStatic); ok {
		t.Error("static assets have a rate limit")
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	// Defaults returns a fresh table: changing one leaves the next intact.
	d[ratelimit.ClassWebhook] = ratelimit.Policy{}
	if p, _ := ratelimit.Defaults().Policy(ratelimit.ClassWebhook); p.Limit != 120 {
		t.Fatal("Defaults shares state between calls")
	}
}

func TestParseConfigOverrides(t *testing.T) {
	t.Parallel()
	tab, err := ratelimit.ParseConfig([]byte("classes:\n  mgmt_write: \"10/min\"\n  webhook: 300/30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Policy(ratelimit.ClassMgmtWrite); p != (ratelimit.Policy{Name: "mgmt_write", Limit: 10, Window: time.Minute}) {
		t.Errorf("mgmt_write: %+v", p)
	}
	if p, _ := tab.Policy(ratelimit.ClassWebhook); p != (ratelimit.Policy{Name: "webhook", Limit: 300, Window: 30 * time.Second}) {
		t.Errorf("webhook: %+v", p)
	}
	if p, _ := tab.Policy(ratelimit.ClassMgmtRead); p.Limit != 20 {
		t.Errorf("mgmt_read lost its default: %+v", p)
	}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	empty, err := ratelimit.ParseConfig([]byte("classes: {}\n"))
	if err != nil || len(empty) != len(ratelimit.Classes()) {
		t.Fatalf("empty classes: %v, %v", empty, err)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc, mention string }{
		{"unknown class", "classes:\n  mgmt_writes: 5/min\n", `unknown rate-limit class "mgmt_writes"`},
		{"static", "classes:\n  static: 100/s\n", "static assets are never rate limited"},
		{"bad rate", "classes:\n  webhook: 5/fortnight\n", "rate limit for webhook"},
		{"number", "classes:\n  webhook: 5\n", "COUNT/PERIOD"},
		{"zero", "classes:\n  webhook: 0/min\n", "between 1 and"},
		{"unknown field", "class:\n  webhook: 5/min\n", "field class not found"},
		{"duplicate", "classes:\n  webhook: 5/min\n  webhook: 6/min\n", "already defined"},
		{"not a mapping", "classes: [5/min]\n", "parsing rate-limits file"},
		{"empty", "", "empty"},
		{"two documents", "classes: {}\n---\nclasses: {}\n", "exactly one YAML document"},
		{"too large", "classes: {}\n" + strings.Repeat("#", 70_000), "larger than"},
	} {
		_, err := ratelimit.ParseConfig([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "rate-limits.yaml")
	if err := os.WriteFile(good, []byte("classes:\n  login_ip: 3/min\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err := ratelimit.LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Policy(ratelimit.ClassLoginIP); p.Limit != 3 {
		t.Fatalf("login_ip: %+v", p)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("classes:\n  nope: 3/min\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ratelimit.LoadFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad file: %v; want an error naming the file and the class", err)
	}
	if _, err := ratelimit.LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestTableSetAndValidate(t *testing.T) {
	t.Parallel()
	tab := ratelimit.Defaults()
	if err := tab.Set(ratelimit.ClassAPIMessage, "100/min"); err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Policy(ratelimit.ClassAPIMessage); p.Limit != 100 {
		t.Fatalf("Set did not apply: %+v", p)
	}
	for _, c := range []ratelimit.Class{"nope", ratelimit.ClassStatic} {
		if err := tab.Set(c, "1/min"); err == nil {
			t.Errorf("Set(%q) succeeded", c)
		}
	}
	if err := tab.Set(ratelimit.ClassAPIMessage, "lots"); err == nil {
		t.Error("Set with a malformed rate succeeded")
	}

	broken := ratelimit.Defaults()
	delete(broken, ratelimit.ClassWebhook)
	broken[ratelimit.ClassLoginIP] = ratelimit.Policy{Name: "other", Limit: 5, Window: time.Minute}
	broken[ratelimit.ClassMgmtRead] = ratelimit.Policy{Name: "mgmt_read", Limit: 0, Window: time.Minute}
	broken["extra"] = ratelimit.Policy{Name: "extra", Limit: 5, Window: time.Minute}
	err := broken.Validate()
	for _, want := range []string{"webhook is missing", `login_ip is named "other"`, "mgmt_read: limit 0", `"extra"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to mention %q", err, want)
		}
	}
}

// FuzzParseConfig: a rate-limits file either is refused or yields a complete,
// valid table.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"classes:\n  mgmt_write: 5/min\n",
		"classes: {webhook: 120/1m, widget_ip: 60/s}\n",
		"classes:\n  static: 1/s\n",
		"classes: &a {webhook: *a}\n",
		"classes: !!binary aGVsbG8=\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ratelimit.ParseConfig(data)
		if err != nil {
			return
		}
		if err := tab.Validate(); err != nil {
			t.Fatalf("accepted config gives an invalid table: %v", err)
		}
	})
}

// TestReadmeListsEveryClass: the README's table of limits names every
// class with its default, so a new class cannot ship undocumented.
func TestReadmeListsEveryClass(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "| class | default | counted per | routes |")
	if start < 0 {
		t.Fatal("README has no rate-limit table")
	}
	table := readme[start:]
	if end := strings.Index(table, "\n\n"); end >= 0 {
		table = table[:end]
	}
	d := ratelimit.Defaults()
	for _, c := range ratelimit.Classes() {
		p, _ := d.Policy(c)
		row := ""
		for _, line := range strings.Split(table, "\n") {
			if strings.Contains(line, "`"+string(c)+"`") {
				row = line
			}
		}
		if row == "" || !strings.Contains(row, fmt.Sprintf("| %d/min", p.Limit)) {
			t.Errorf("README rate-limit table: class %s missing or without its default %d/min", c, p.Limit)
		}
	}
}
