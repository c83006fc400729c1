// Package faulttest is the fault-injection harness: it builds the real
// binary, runs it as a child process on loopback against SQLite or against
// a PostgreSQL cluster and a Redis server of its own, and gives the fault
// scenarios what they need to break it (SIGKILL, SIGTERM, a database or a
// cache stopped and started again) and to print what they measured.
//
// It must never be imported by non-test code, never touch the machine's
// shared PostgreSQL or Redis (it starts its own, on spare ports), and never
// leave a process behind: every child is killed with its process group when
// the test ends, whatever happened.
package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

// Build compiles the binary into a temporary directory and returns its
// path; call it once per test run and share the result.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "palisade")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/palisadehq/palisade/cmd/palisade")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building palisade: %v\n%s", err, out)
	}
	return bin
}

// FreeAddr returns a loopback address nothing listens on at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// CLI runs one command of the binary with exactly env (plus PATH) and
// returns its standard output; it fails the test when the command fails.
func CLI(t testing.TB, bin string, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("palisade %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func childEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Server is the binary running `palisade serve`, restartable on the same
// addresses (the webhook URLs the fakes deliver to stay valid).
type Server struct {
	t           testing.TB
	bin         string
	env         []string
	Args        []string
	Addr, Admin string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *tailBuffer
	runs   int
	last   *os.ProcessState
}

// StartServer starts `palisade serve` with env and the extra flags args and
// waits until it is healthy. The process is killed when the test ends.
func StartServer(t testing.TB, bin string, env map[string]string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, env: childEnv(env), Addr: FreeAddr(t), Admin: FreeAddr(t), log: &tailBuffer{max: 64 << 10}}
	s.Args = append([]string{"serve", "--addr", s.Addr, "--admin-addr", s.Admin, "--public-url", "http://" + s.Addr,
		"--log-format", "json"}, args...)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("server output (%d runs, tail):\n%s", s.runs, s.log.String())
		}
	})
	s.Start()
	return s
}

// URL is the public base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// AdminURL is the admin listener's base URL.
func (s *Server) AdminURL() string { return "http://" + s.Admin }

// Log is the tail of the server's output over all its runs.
func (s *Server) Log() string { return s.log.String() }

// Start runs the binary and waits until /healthz answers 200.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	s.runs++
	fmt.Fprintf(s.log, "\n==== run %d ====\n", s.runs)
	cmd := exec.Command(s.bin, s.Args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// A group of its own, so a kill reaches anything it started, and killed
	// with the test process should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("starting palisade: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	client := HTTPClient(s.t, s.URL(), time.Second)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			s.t.Fatalf("palisade exited during start-up:\n%s", s.log.String())
		default:
		}
		if resp, err := client.Get(s.URL() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("palisade did not become healthy:\n%s", s.log.String())
		}
	}
}

// Kill ends the process group with SIGKILL — no shutdown, nothing flushed
// — and waits until the process is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Terminate sends SIGTERM, as a service manager stopping the process does,
// and returns how long it took to exit; after within it kills the group and
// fails the test.
func (s *Server) Terminate(within time.Duration) time.Duration {
	s.t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return 0
	}
	began := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		s.mu.Lock()
		s.last = cmd.ProcessState
		s.mu.Unlock()
		return time.Since(began)
	case <-time.After(within):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		s.t.Fatalf("palisade did not stop within %s of SIGTERM", within)
		return 0
	}
}

// ExitCode is the exit status of the last run stopped by Terminate (-1
// before any).
func (s *Server) ExitCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return -1
	}
	return s.last.ExitCode()
}

// tailBuffer keeps the last max bytes written to it: a flood's logs would
// otherwise fill the memory of a long run.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if over := len(b.b) - b.max; over > 0 {
		b.b = append(b.b[:0], b.b[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
