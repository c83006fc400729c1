package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

type testKey struct{ pkg, test string }

type skip struct {
	reason string
	tests  []string // "package TestName"
}

type summary struct {
	out    io.Writer
	failed bool
	// output buffers each running test's lines (and, under the empty
	// test name, each package's own), printed only if it fails.
	output  map[testKey][]string
	skips   map[string]*skip
	skipped int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, output: map[testKey][]string{}, skips: map[string]*skip{}}
}

// location is the "    file_test.go:12: " prefix of a t.Log or t.Skip line.
var location = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: `)

func (s *summary) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (go vet or the go command itself): pass it on.
			fmt.Fprintf(s.out, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	return sc.Err()
}

func (s *summary) handle(e event) {
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
	case "build-fail":
		s.failed = true
	case "output":
		s.output[k] = append(s.output[k], e.Output)
	case "skip":
		if e.Test == "" {
			s.packageEnd(k, false)
			return
		}
		s.recordSkip(k)
		delete(s.output, k)
	case "pass":
		if e.Test == "" {
			s.packageEnd(k, false)
			return
		}
		delete(s.output, k)
	case "fail":
		s.failed = true
		if e.Test == "" {
			s.packageEnd(k, true)
			return
		}
		for _, l := range s.output[k] {
			fmt.Fprint(s.out, l)
		}
		delete(s.output, k)
	}
}

// packageEnd prints a package's result line, or all of its own output
// when it failed (a panic or a time-out is reported there).
func (s *summary) packageEnd(k testKey, failed bool) {
	for _, l := range s.output[k] {
		if failed || strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
			fmt.Fprint(s.out, l)
		}
	}
	delete(s.output, k)
}

// recordSkip files a skipped test under its reason: the lines it logged,
// without their file:line prefixes, so one reason given by many tests is
// counted once.
func (s *summary) recordSkip(k testKey) {
	var reason []string
	for _, l := range s.output[k] {
		if location.MatchString(l) {
			reason = append(reason, strings.TrimSpace(location.ReplaceAllString(l, "")))
		}
	}
	r := strings.Join(reason, " ")
	if r == "" {
		r = "(no reason given)"
	}
	sk := s.skips[r]
	if sk == nil {
		sk = &skip{reason: r}
		s.skips[r] = sk
	}
	sk.tests = append(sk.tests, strings.TrimPrefix(k.pkg, modulePrefix(k.pkg))+" "+k.test)
	s.skipped++
}

// modulePrefix shortens package paths of this module in the summary.
func modulePrefix(pkg string) string {
	const mod = "github.com/palisadehq/palisade/"
	if strings.HasPrefix(pkg, mod) {
		return mod
	}
	return ""
}

// report ends the run with one line on what was skipped, then each reason
// with how many tests gave it and a few of their names.
func (s *summary) report() {
	if s.skipped == 0 {
		fmt.Fprintln(s.out, "skipped: none; every test ran")
		return
	}
	reasons := make([]*skip, 0, len(s.skips))
	for _, sk := range s.skips {
		reasons = append(reasons, sk)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if len(reasons[i].tests) != len(reasons[j].tests) {
			return len(reasons[i].tests) > len(reasons[j].tests)
		}
		return reasons[i].reason < reasons[j].reason
	})
	fmt.Fprintf(s.out, "skipped: %d tests did not run, for %d reasons (each says how to run them):\n", s.skipped, len(reasons))
	for _, sk := range reasons {
		sort.Strings(sk.tests)
		names := sk.tests
		more := ""
		if len(names) > 3 {
			more = fmt.Sprintf(" and %d more", len(names)-3)
			names = names[:3]
		}
		fmt.Fprintf(s.out, "  %d × %s\n      e.g. %s%s\n", len(sk.tests), sk.reason, strings.Join(names, ", "), more)
	}
}
