package cli_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unprivilegedUID is the user the container image runs as.
const unprivilegedUID = 65532

// TestServesUnprivilegedWithReadOnlyTree runs the real binary as the
// deployment files do: a non-root user (the image's UID when the test runs
// as root), a working directory it cannot write, no home or temporary
// directory, and the data directory as the one writable place. It must
// create its data there and serve.
func TestServesUnprivilegedWithReadOnlyTree(t *testing.T) {
	t.Parallel()
	built := buildPalisade(t)
	base := t.TempDir()
	// t.TempDir makes its directories 0700 for the test's user; the
	// server's user must be able to walk to its binary and data.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tree := filepath.Join(base, "tree")
	data := filepath.Join(base, "data")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tree, "palisade")
	raw, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, raw, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tree, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(tree, 0o755) })
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--admin-addr", "", "--data-dir", data)
	cmd.Dir = tree
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TMPDIR=/nonexistent"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	uid := os.Geteuid()
	if uid == 0 {
		if err := os.Chown(data, unprivilegedUID, unprivilegedUID); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: unprivilegedUID, Gid: unprivilegedUID}
		uid = unprivilegedUID
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	client := &http.Client{Timeout: time.Second}
	var body string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("palisade exited:\n%s", out.String())
		default:
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				body = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("palisade did not become healthy:\n%s", out.String())
		}
	}
	if !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %q", body)
	}
	if resp, err := client.Get("http://" + addr + "/login"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the login page: %v %v", resp, err)
	}
	// Everything it wrote is in the data directory, owned by its user.
	entries, err := os.ReadDir(tree)
	if err != nil || len(entries) != 1 {
		t.Errorf("the read-only tree holds %d entries (%v), want only the binary", len(entries), err)
	}
	for _, name := range []string{"palisade.db", "keys.db", "master.key"} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Errorf("%s not created: %v", name, err)
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			t.Errorf("%s is owned by %d, want %d", name, st.Uid, uid)
		}
	}
}
