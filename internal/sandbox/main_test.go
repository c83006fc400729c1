//go:build linux

package sandbox_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/palisadehq/palisade/internal/sandbox"
)

// TestMain makes the test binary its own worker: the pool re-executes
// /proc/self/exe with "worker", as the server does with palisade, and the
// worker serves the test's task kinds, the hostile ones included. They
// exist only in this test binary, never in a release build.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		fs := flag.NewFlagSet("worker", flag.ExitOnError)
		c := sandbox.WorkerFlags(fs)
		_ = fs.Parse(os.Args[2:])
		if err := sandbox.WorkerMain(context.Background(), *c, testHandlers()); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
