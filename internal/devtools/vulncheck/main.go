// Command vulncheck runs govulncheck (pinned in tools.go.mod) against a
// vulnerability database kept on this machine, so the check needs no
// network beyond the Go module proxy: the database is built from the OSV
// files of golang.org/x/vulndb at the version pinned below, downloaded
// through the proxy like any module and verified against the checksum
// pinned below, and written once into the go build cache, where later runs
// find it. It is not part of the release binary.
//
// Usage, from the module root:
//
//	go run ./internal/devtools/vulncheck [govulncheck flags] [packages]
//
// It exits with govulncheck's status: 0 when no called function is
// vulnerable, 3 when one is.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"./..."}
	}
	code, err := run(ctx, "go", "tools.go.mod", args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		if code == 0 {
			code = 2
		}
	}
	os.Exit(code)
}

// run makes sure the database is built and runs govulncheck against it,
// returning govulncheck's exit status.
func run(ctx context.Context, goCmd, toolsModfile string, args []string) (int, error) {
	db, err := ensureDB(ctx, goCmd)
	if err != nil {
		return 2, err
	}
	fmt.Fprintf(os.Stderr, "vulncheck: database %s@%s (%s)\n", vulndbModule, vulndbVersion, db)
	cmd := govulncheck(ctx, goCmd, toolsModfile, db, args)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 2, fmt.Errorf("running govulncheck: %w", err)
	}
	return 0, nil
}

// govulncheck is the command that checks args against the database in
// dir, and nothing else: no other database can be reached from it.
func govulncheck(ctx context.Context, goCmd, toolsModfile, dir string, args []string) *exec.Cmd {
	full := append([]string{"tool", "-modfile=" + toolsModfile, "govulncheck", "-db", fileURL(dir)}, args...)
	cmd := exec.CommandContext(ctx, goCmd, full...)
	cmd.Env = os.Environ()
	if _, set := os.LookupEnv("GOTOOLCHAIN"); !set {
		// The standard library checked is that of the Go release go.mod's
		// toolchain line pins, fetched through the module proxy when the
		// installed one is older, as `make` does for every go command.
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN=auto")
	}
	return cmd
}
