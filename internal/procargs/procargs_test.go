package procargs_test

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/procargs"
)

const (
	helperEnv = "PROCARGS_TEST_HELPER"
	canary    = "sk-canary-7Qm2vZ8pL4xN9wR3"
)

// TestMain runs the child of TestHideRemovesSecretsFromCmdline when asked:
// it hides its own secret arguments and prints what the kernel shows of
// its command line, and the private copy it kept.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "1" {
		os.Exit(m.Run())
	}
	private, hidden := procargs.Hide(os.Args, []string{"master-key", "llm-api-key", "database-url"})
	cmdline, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		os.Exit(3)
	}
	os.Stdout.Write([]byte("CMDLINE:" + strings.ReplaceAll(string(cmdline), "\x00", " ") + "\n"))
	os.Stdout.Write([]byte("PRIVATE:" + strings.Join(private, " ") + "\n"))
	if hidden {
		os.Stdout.Write([]byte("HIDDEN\n"))
	}
	os.Exit(0)
}

// A secret given as a flag, in either form, is gone from the command line
// other processes read, while the program keeps its value; other
// arguments are untouched.
func TestHideRemovesSecretsFromCmdline(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the command line is overwritten on Linux only")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "serve",
		"--master-key="+canary, "--llm-api-key", canary+"-2", "-database-url=postgres://u:"+canary+"@db/x", "--addr=127.0.0.1:1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var cmdline, private string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "CMDLINE:"); ok {
			cmdline = v
		}
		if v, ok := strings.CutPrefix(line, "PRIVATE:"); ok {
			private = v
		}
	}
	if cmdline == "" || !bytes.Contains(out, []byte("HIDDEN")) {
		t.Fatalf("helper did not report:\n%s", out)
	}
	if strings.Contains(cmdline, canary) || strings.Contains(cmdline, "u:") {
		t.Errorf("secret still visible in /proc/self/cmdline: %s", cmdline)
	}
	for _, want := range []string{"--master-key=x", "--llm-api-key", "-database-url=x", "--addr=127.0.0.1:1"} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("command line lost %q: %s", want, cmdline)
		}
	}
	for _, want := range []string{"--master-key=" + canary, canary + "-2", "postgres://u:" + canary + "@db/x"} {
		if !strings.Contains(private, want) {
			t.Errorf("private copy lost %q: %s", want, private)
		}
	}
}
