//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a log both serve and the test touch.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// refuseUserNamespaces starts a worker as a kernel without user
// namespaces would: the clone that asks for one fails.
func refuseUserNamespaces(cmd *exec.Cmd) error {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
		return &os.SyscallError{Syscall: "clone", Err: syscall.EPERM}
	}
	return cmd.Start()
}

// serveWith runs serve in-process with start as the workers' starter and
// returns its public and admin URLs, or the error it stopped with.
func serveWith(t *testing.T, start startWorker, args ...string) (public, admin string, logs *lockedBuffer, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &lockedBuffer{}
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	env := &Env{Getenv: func(string) string { return "" }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: logs,
		Ready: func(p, a string) { addrs <- [2]string{p, a} }, sandboxStart: start}
	go func() {
		done <- RunEnv(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
			"--data-dir", filepath.Join(t.TempDir(), "data")}, args...), env)
	}()
	select {
	case a := <-addrs:
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop")
			}
		})
		return "http://" + a[0], "http://" + a[1], logs, nil
	case err := <-done:
		cancel()
		return "", "", logs, err
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not become ready\n%s", logs.String())
	}
	return
}

func readyChecks(t *testing.T, public string) map[string]string {
	t.Helper()
	resp, err := http.Get(public + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d %v", resp.StatusCode, err)
	}
	return body.Checks
}

func metricLine(t *testing.T, admin, name string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}

// TestSandboxRequireRefusesWithoutUserNamespaces: on a kernel that
// refuses user namespaces, --sandbox=require does not start and says why;
// auto starts, warns in the log, and /readyz and the metric say the
// workers are unconfined.
func TestSandboxRequireRefusesWithoutUserNamespaces(t *testing.T) {
	t.Parallel()
	_, _, _, err := serveWith(t, refuseUserNamespaces, "--sandbox=require")
	if err == nil {
		t.Fatal("serve --sandbox=require started without confinement")
	}
	t.Logf("the refusal: %v", err)
	for _, want := range []string{"--sandbox=require", "cannot be confined", "operation not permitted", "unshare"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}

	public, admin, logs, err := serveWith(t, refuseUserNamespaces, "--sandbox=auto")
	if err != nil {
		t.Fatalf("serve --sandbox=auto: %v\n%s", err, logs.String())
	}
	if got := readyChecks(t, public)["sandbox"]; !strings.HasPrefix(got, "unconfined") {
		t.Fatalf("/readyz says the sandbox is %q, want unconfined", got)
	}
	if !strings.Contains(logs.String(), "BOT WORKERS RUN UNCONFINED") || !strings.Contains(logs.String(), "operation not permitted") {
		t.Fatalf("no loud warning with the reason in the log:\n%s", logs.String())
	}
	if got := metricLine(t, admin, "palisade_sandbox_confined"); got != "palisade_sandbox_confined 0" {
		t.Fatalf("metric: %q", got)
	}
}

// TestSandboxConfinedAndOff: where the kernel allows, auto and require
// start confined; off says it is for debugging.
func TestSandboxConfinedAndOff(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"auto", "require"} {
		public, admin, logs, err := serveWith(t, nil, "--sandbox="+mode)
		if err != nil {
			t.Fatalf("serve --sandbox=%s: %v\n%s", mode, err, logs.String())
		}
		if got := readyChecks(t, public)["sandbox"]; got != "confined" {
			t.Fatalf("%s: /readyz says the sandbox is %q", mode, got)
		}
		if got := metricLine(t, admin, "palisade_sandbox_confined"); got != "palisade_sandbox_confined 1" {
			t.Fatalf("%s: metric %q", mode, got)
		}
	}
	public, _, logs, err := serveWith(t, nil, "--sandbox=off")
	if err != nil {
		t.Fatal(err)
	}
	if got := readyChecks(t, public)["sandbox"]; !strings.Contains(got, "debugging only") {
		t.Fatalf("off: /readyz says %q", got)
	}
	if !strings.Contains(logs.String(), "for debugging only") {
		t.Fatalf("off: no warning in the log:\n%s", logs.String())
	}
}
