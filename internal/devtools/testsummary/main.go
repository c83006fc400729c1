// Command testsummary reads `go test -json` on its standard input, prints
// what plain `go test` would (a line per package, and the output of what
// failed), and ends with a summary of the tests that were skipped, grouped
// by the reason they gave, so a run without PostgreSQL or Redis does not
// pass off its skipped tests as "ok". It exits non-zero when anything
// failed. `make test` pipes the suite through it; it is not part of the
// release binary.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	failed, err := summarise(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// summarise is main without the process: it reports whether anything
// failed.
func summarise(in io.Reader, out io.Writer) (bool, error) {
	s := newSummary(out)
	if err := s.read(in); err != nil {
		return s.failed, err
	}
	s.report()
	return s.failed, nil
}
