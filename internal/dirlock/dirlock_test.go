package dirlock_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/dirlock"
)

// TestSecondHolderIsRefused: while one holder has a lock a second Acquire
// of the same name fails at once naming the holder's process, another
// name is free, and after Release the lock can be taken again.
func TestSecondHolderIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := dirlock.Acquire(dir, "serve-web")
	if err != nil {
		t.Fatal(err)
	}
	_, err = dirlock.Acquire(dir, "serve-web")
	if !errors.Is(err, dirlock.ErrHeld) {
		t.Fatalf("second Acquire: %v, want ErrHeld", err)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder", err)
	}
	other, err := dirlock.Acquire(dir, "serve-gateway")
	if err != nil {
		t.Fatalf("a lock of another name: %v", err)
	}
	if err := other.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := dirlock.Acquire(dir, "serve-web")
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	_ = again.Release()
	if fi, err := os.Stat(filepath.Join(dir, "serve-web.lock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", fi, err)
	}
}

// TestLockHeldByAnotherProcess: a lock taken by a child process (this
// test binary, re-run as a holder) refuses this one, and is free again once
// the child has been killed.
func TestLockHeldByAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockInChild$")
	cmd.Env = append(os.Environ(), "DIRLOCK_TEST_HOLD="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "held" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err = dirlock.Acquire(dir, "serve-web")
	if !errors.Is(err, dirlock.ErrHeld) || !strings.Contains(err.Error(), "process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("while the child holds it: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	l, err := dirlock.Acquire(dir, "serve-web")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	_ = l.Release()
}

// TestHoldLockInChild is the child of TestLockHeldByAnotherProcess: it
// takes the lock, says so, and waits to be killed. Run directly it does
// nothing.
func TestHoldLockInChild(t *testing.T) {
	dir := os.Getenv("DIRLOCK_TEST_HOLD")
	if dir == "" {
		return
	}
	if _, err := dirlock.Acquire(dir, "serve-web"); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("held")
	time.Sleep(time.Minute)
	os.Exit(1)
}
