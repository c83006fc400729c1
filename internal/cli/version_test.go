package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/cli"
)

var versionLine = regexp.MustCompile(`^palisade \S+ \(commit (unknown|[0-9a-f]{40}(-dirty)?), built (unknown|\d{4}-\d\d-\d\dT\S+)\)\n$`)

func TestVersionCommandAndFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out, errOut bytes.Buffer
		if err := cli.Run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("%v: %v (stderr %q)", args, err, errOut.String())
		}
		if !versionLine.MatchString(out.String()) {
			t.Errorf("%v printed %q, want %s", args, out.String(), versionLine)
		}
	}
}

func TestVersionLineReadsVCSSettings(t *testing.T) {
	t.Parallel()
	const rev = "0123456789abcdef0123456789abcdef01234567"
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/palisadehq/palisade", Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := cli.VersionLine(bi), "palisade v1.2.3 (commit "+rev+"-dirty, built 2026-12-01T10:00:00Z)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	bi.Settings[3].Value = "false"
	if got := cli.VersionLine(bi); !strings.Contains(got, "commit "+rev+",") {
		t.Errorf("clean build: %q", got)
	}
	if got, want := cli.VersionLine(nil), "palisade (devel) (commit unknown, built unknown)"; got != want {
		t.Errorf("no build info: got %q, want %q", got, want)
	}
}

// TestBuiltBinaryPrintsItsCommit builds the command with `make build`
// inside this checkout and checks that the binary names the checked-out
// commit: a build that lost its VCS stamp would print "unknown".
func TestBuiltBinaryPrintsItsCommit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the go tool cannot stamp the commit without it, so there is nothing to compare")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed; `make build` is how a release binary is built")
	}
	bin := filepath.Join(t.TempDir(), "palisade")
	// The build environment and flags are the test binary's own, so that
	// the packages come from the build cache instead of a full rebuild.
	build := exec.Command("make", "-s", "-C", root, "build", "BIN="+bin, "BUILDENV=", "BUILDFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("palisade %s: %v", arg, err)
		}
		m := versionLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("palisade %s printed %q", arg, out)
		}
		commit := strings.TrimSuffix(m[1], "-dirty")
		if want := strings.TrimSpace(string(head)); commit != want {
			t.Errorf("palisade %s names commit %q, want HEAD %q", arg, commit, want)
		}
		if strings.Contains(string(out), "built unknown") {
			t.Errorf("palisade %s has no build date: %q", arg, out)
		}
	}
}

func TestBadFlagIsOneShortMessage(t *testing.T) {
	t.Parallel()
	out, errOut, err := run(t, nil, "apikey", "create", "--bogus", "x", "--data-dir", t.TempDir())
	if !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "-bogus") || !strings.Contains(msg, "Run 'palisade apikey create --help'") {
		t.Errorf("message %q does not name the flag and point at --help", msg)
	}
	if strings.Contains(msg+out+errOut, "Usage:") || strings.Contains(msg+out+errOut, "-data-dir") {
		t.Errorf("a mistake printed the usage: message %q, stdout %q, stderr %q", msg, out, errOut)
	}
	if n := strings.Count(msg, "\n"); n > 3 {
		t.Errorf("message has %d lines: %q", n+1, msg)
	}
}

func TestEveryInvalidSettingReportedAtOnce(t *testing.T) {
	t.Parallel()
	_, _, err := run(t, nil, "serve", "--data-dir", t.TempDir(), "--addr", "nonsense", "--role", "boss",
		"--shutdown-timeout", "soon", "--log-level", "loud")
	if !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"--addr", "--role", "--shutdown-timeout", "--log-level", "Run 'palisade serve --help'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
	_, _, err = run(t, nil, "apikey", "create", "--expires-in", "forever", "--batch-of-nothing", "--log-format", "xml", "--data-dir", t.TempDir())
	for _, want := range []string{"-expires-in", "-batch-of-nothing", "--log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}
