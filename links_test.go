package palisade_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The documentation must stand on its own in a clone: every relative link
// in README.md and docs/ names a file of the repository, and every anchor
// a heading of its file.

var (
	inlineLink    = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	referenceLink = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	htmlLink      = regexp.MustCompile(`(?i)<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"`)
	codeSpan      = regexp.MustCompile("`[^`\n]*`")
	scheme        = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdownLinks returns the link targets of a Markdown text, outside code
// blocks and code spans.
func markdownLinks(text string) []string {
	var prose strings.Builder
	fence := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		prose.WriteString(codeSpan.ReplaceAllString(line, "") + "\n")
	}
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, referenceLink, htmlLink} {
		for _, m := range re.FindAllStringSubmatch(prose.String(), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings.
func headingAnchors(text string) []string {
	var out []string
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out = append(out, a+"-"+strconv.Itoa(n))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out
}

// brokenLinks checks the links of the Markdown file at path (relative to
// root) and describes each one that leads nowhere.
func brokenLinks(root, path, text string) []string {
	var bad []string
	for _, target := range markdownLinks(text) {
		if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		if strings.Contains(file, "?") {
			file, _, _ = strings.Cut(file, "?")
		}
		resolved := path
		if file != "" {
			if strings.HasPrefix(file, "/") {
				resolved = filepath.Clean(strings.TrimPrefix(file, "/"))
			} else {
				resolved = filepath.Join(filepath.Dir(path), file)
			}
			if resolved == ".." || strings.HasPrefix(resolved, ".."+string(filepath.Separator)) {
				bad = append(bad, path+": "+target+" points outside the repository")
				continue
			}
			if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
				bad = append(bad, path+": "+target+" does not exist")
				continue
			}
		}
		if anchor == "" || !strings.HasSuffix(resolved, ".md") {
			continue
		}
		body, err := os.ReadFile(filepath.Join(root, resolved))
		if err != nil {
			if resolved == path {
				body = []byte(text)
			} else {
				bad = append(bad, path+": "+target+": "+err.Error())
				continue
			}
		}
		if !slices.Contains(headingAnchors(string(body)), strings.ToLower(anchor)) {
			bad = append(bad, path+": "+target+" names no heading of "+resolved)
		}
	}
	return bad
}

func TestDocumentationLinksResolve(t *testing.T) {
	t.Parallel()
	files := []string{"README.md"}
	docs, _ := filepath.Glob(filepath.Join("docs", "*.md"))
	nested, _ := filepath.Glob(filepath.Join("docs", "*", "*.md"))
	files = append(append(files, docs...), nested...)
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range brokenLinks(".", f, string(text)) {
			t.Error(b)
		}
	}
}

func TestBrokenLinksAreFound(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "ops.md"), []byte("# Operating\n\n## Back up\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	readme := "# Top\n\n[ok](docs/ops.md) [ok](docs/ops.md#back-up) [ok](#top) [ok](https://example.com/x)\n" +
		"[spec](../shared/SPEC.md) [gone](docs/missing.md) [anchor](docs/ops.md#restore) [self](#nowhere)\n" +
		"`[code](not/checked.md)`\n```\n[fenced](not/checked.md)\n```\n[ref]: docs/alsomissing.md\n"
	got := brokenLinks(root, "README.md", readme)
	want := []string{"../shared/SPEC.md", "docs/missing.md", "docs/ops.md#restore", "#nowhere", "docs/alsomissing.md"}
	if len(got) != len(want) {
		t.Fatalf("found %d broken links, want %d: %q", len(got), len(want), got)
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, " "+w+" ") }) {
			t.Errorf("%s not reported: %q", w, got)
		}
	}
}
