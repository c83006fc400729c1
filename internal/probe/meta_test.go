package probe_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/palisadehq/palisade/internal/probe"
)

var reference = regexp.MustCompile(`^(V\d+\.\d+\.\d+|CWE-\d+)$`)

// TestEveryCheckIsDocumented: every check has a known severity, an ASVS
// requirement or CWE as its reference and a one-line description, and no
// two checks share a name in a category, so the list is the documentation.
func TestEveryCheckIsDocumented(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range probe.All() {
		id := c.Category + "/" + c.Name
		if seen[id] {
			t.Errorf("%s: two checks of that name", id)
		}
		seen[id] = true
		if !slices.Contains(probe.Severities(), c.Severity) {
			t.Errorf("%s: severity %q", id, c.Severity)
		}
		if !reference.MatchString(c.Reference) {
			t.Errorf("%s: reference %q is neither an ASVS requirement nor a CWE", id, c.Reference)
		}
		if c.Description == "" || regexp.MustCompile(`[\r\n|]`).MatchString(c.Description) {
			t.Errorf("%s: description %q", id, c.Description)
		}
	}
	if len(seen) < 200 {
		t.Errorf("%d checks, want over 200", len(seen))
	}
	if n := len(probe.Categories(probe.All())); n < 16 {
		t.Errorf("%d categories, want at least 16", n)
	}
}
