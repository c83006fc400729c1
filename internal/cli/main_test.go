package cli_test

import (
	"context"
	"os"
	"testing"

	"github.com/palisadehq/palisade/internal/cli"
)

// TestMain lets the test binary be a bot worker: serve, run in-process by
// the tests, starts its workers by re-executing /proc/self/exe with
// "worker", which is then this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(cli.Main(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
