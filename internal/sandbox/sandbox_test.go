//go:build linux

package sandbox_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
)

func newPool(t *testing.T, o sandbox.Options) *sandbox.Pool {
	t.Helper()
	if o.Mode == "" {
		o.Mode = sandbox.ModeRequire
	}
	if testing.Verbose() {
		o.Stderr = os.Stderr
	}
	p, err := sandbox.New(context.Background(), o)
	if err != nil {
		t.Fatalf("starting the pool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func run(t *testing.T, p *sandbox.Pool, kind string, payload []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Run(ctx, "bot", kind, payload, nil)
}

func wantCode(t *testing.T, err error, code palisade.Code) {
	t.Helper()
	var pe *palisade.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error %v, want a %s *palisade.Error", err, code)
	}
}

// TestHostileCodeIsContained runs hostile code in a real confined worker
// and shows each attempt refused or contained, while the parent goes on
// answering HTTP and each next task gets a working worker.
func TestHostileCodeIsContained(t *testing.T) {
	// The data directory, with a secret the worker must not read.
	dataDir := t.TempDir()
	secret := filepath.Join(dataDir, "palisade.db")
	if err := os.WriteFile(secret, []byte("the data"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The server, which must keep answering, and which counts every
	// connection made to it.
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	serverAnswers := func() {
		t.Helper()
		before := conns.Load()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatalf("the server stopped answering: %v", err)
		}
		resp.Body.Close()
		conns.Store(before)
	}

	m := sandbox.NewMetrics(nil)
	p := newPool(t, sandbox.Options{TaskTimeout: 3 * time.Second, Metrics: m, Limits: sandbox.Limits{Memory: 256 << 20}})
	if st := p.Status(); !st.Confined || !st.Layers.Seccomp || !st.Layers.EmptyRoot || !st.Layers.Namespaces {
		t.Fatalf("status %+v, want confined with every layer", st)
	}
	t.Logf("layers: %+v", p.Status().Layers)

	refused := func(t *testing.T, kind string, payload []byte) attempt {
		t.Helper()
		out, err := run(t, p, kind, payload)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		var a attempt
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatal(err)
		}
		if a.Worked {
			t.Fatalf("%s worked in the worker (got %q)", kind, a.Got)
		}
		t.Logf("%s refused: %s", kind, a.Err)
		serverAnswers()
		return a
	}

	t.Run("namespaces", func(t *testing.T) {
		if _, err := run(t, p, "echo", nil); err != nil {
			t.Fatal(err)
		}
		pid := p.WorkerPID("bot")
		for _, ns := range []string{"user", "pid", "mnt", "net", "ipc", "uts"} {
			mine, err1 := os.Readlink("/proc/self/ns/" + ns)
			its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
			if err1 != nil || err2 != nil || mine == its {
				t.Fatalf("%s namespace: the worker's %q, the parent's %q (%v, %v)", ns, its, mine, err1, err2)
			}
		}
		// The worker's network has a loopback interface, down, and nothing else.
		dev, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(dev)), "\n")[2:]
		if len(lines) != 1 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "lo:") {
			t.Fatalf("the worker's interfaces: %q", lines)
		}
		// Its root on the host is nobody (or the test's own user).
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(st), "\n") {
			if uid, ok := strings.CutPrefix(line, "Uid:"); ok && os.Getuid() == 0 && strings.Fields(uid)[0] != "65534" {
				t.Fatalf("the worker runs as host uid %s", strings.Fields(uid)[0])
			}
			if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok && strings.TrimSpace(v) != "1" {
				t.Fatalf("NoNewPrivs: %s", v)
			}
			if v, ok := strings.CutPrefix(line, "Seccomp:"); ok && strings.TrimSpace(v) != "2" {
				t.Fatalf("Seccomp: %s, want 2 (filter)", v)
			}
		}
	})
	t.Run("file of the data directory", func(t *testing.T) {
		refused(t, "read-file", []byte(secret))
		refused(t, "read-file", []byte("/etc/passwd"))
		// Past seccomp, the file is not there to open: the worker's root
		// is empty.
		for _, path := range []string{secret, dataDir, "/etc/passwd", "/proc/1/environ"} {
			if a := refused(t, "stat", []byte(path)); !strings.Contains(a.Err, "no such file") {
				t.Fatalf("stat %s in the worker: %s, want no such file", path, a.Err)
			}
		}
	})
	t.Run("connect to loopback", func(t *testing.T) {
		before := conns.Load()
		refused(t, "connect", []byte(srv.Listener.Addr().String()))
		refused(t, "connect", []byte("127.0.0.1:5432"))
		if n := conns.Load() - before; n != 0 {
			t.Fatalf("the server saw %d connections from the worker", n)
		}
	})
	t.Run("resolve a name", func(t *testing.T) {
		refused(t, "resolve", []byte("example.com"))
		refused(t, "resolve", []byte("localhost"))
	})
	t.Run("host environment", func(t *testing.T) {
		refused(t, "read-file", []byte("/proc/1/environ"))
		refused(t, "read-file", []byte("/proc/self/environ"))
	})
	t.Run("ptrace the parent", func(t *testing.T) {
		pid := make([]byte, 4)
		binary.BigEndian.PutUint32(pid, uint32(os.Getpid()))
		refused(t, "ptrace", pid)
		// Past seccomp, the parent does not exist in the worker's PID
		// namespace.
		if a := refused(t, "signal", pid); !strings.Contains(a.Err, "no such process") {
			t.Fatalf("signalling the parent: %s, want no such process", a.Err)
		}
	})
	t.Run("execve a shell", func(t *testing.T) {
		refused(t, "exec", nil)
	})
	t.Run("fork bomb", func(t *testing.T) {
		refused(t, "fork-bomb", nil)
	})
	t.Run("2 GiB allocation", func(t *testing.T) {
		before := testutil.ToFloat64(m.Kills.WithLabelValues("crashed"))
		_, err := run(t, p, "allocate", nil)
		wantCode(t, err, palisade.CodeUnavailable)
		if got := testutil.ToFloat64(m.Kills.WithLabelValues("crashed")); got != before+1 {
			t.Fatalf("crashed kills %v, want %v", got, before+1)
		}
		serverAnswers()
		if out, err := run(t, p, "echo", []byte("again")); err != nil || string(out) != "again" {
			t.Fatalf("after the allocation: %q, %v", out, err)
		}
	})
	t.Run("infinite loop", func(t *testing.T) {
		start := time.Now()
		_, err := run(t, p, "spin", nil)
		wantCode(t, err, palisade.CodeUnavailable)
		if !strings.Contains(err.Error(), "time limit") {
			t.Fatalf("error %v, want the time limit named", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the deadline took %v", d)
		}
		if got := testutil.ToFloat64(m.Kills.WithLabelValues("deadline")); got != 1 {
			t.Fatalf("deadline kills %v, want 1", got)
		}
		serverAnswers()
		if out, err := run(t, p, "echo", []byte("again")); err != nil || string(out) != "again" {
			t.Fatalf("after the deadline: %q, %v", out, err)
		}
	})
}

// TestFrameOverTheMaximumIsRefused: a worker that announces a frame over
// the maximum is killed before the parent reads or allocates it, and the
// caller gets a clear error.
func TestFrameOverTheMaximumIsRefused(t *testing.T) {
	m := sandbox.NewMetrics(nil)
	p := newPool(t, sandbox.Options{Metrics: m, MaxFrame: 1 << 20})
	_, err := run(t, p, "oversize", nil)
	wantCode(t, err, palisade.CodeUnavailable)
	if !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("error %v, want the protocol named", err)
	}
	if got := testutil.ToFloat64(m.Kills.WithLabelValues("protocol")); got != 1 {
		t.Fatalf("protocol kills %v, want 1", got)
	}
	// A task too large for a frame is refused before it is sent.
	_, err = run(t, p, "echo", make([]byte, 2<<20))
	wantCode(t, err, palisade.CodeTooLarge)
	if out, err := run(t, p, "echo", []byte("fine")); err != nil || string(out) != "fine" {
		t.Fatalf("after the refusal: %q, %v", out, err)
	}
}

func TestFrameRoundTripAndLimit(t *testing.T) {
	var b strings.Builder
	f := sandbox.Frame{Type: sandbox.FrameTask, ID: 7, Kind: "extract", Payload: []byte("body")}
	if err := sandbox.WriteFrame(&b, f, 100); err != nil {
		t.Fatal(err)
	}
	got, err := sandbox.ReadFrame(strings.NewReader(b.String()), 100)
	if err != nil || got.Type != f.Type || got.ID != 7 || got.Kind != "extract" || string(got.Payload) != "body" {
		t.Fatalf("read %+v, %v", got, err)
	}
	if _, err := sandbox.ReadFrame(strings.NewReader(b.String()), 10); !errors.Is(err, sandbox.ErrFrameTooLarge) {
		t.Fatalf("reading over the maximum: %v", err)
	}
	if err := sandbox.WriteFrame(io.Discard, f, 10); !errors.Is(err, sandbox.ErrFrameTooLarge) {
		t.Fatalf("writing over the maximum: %v", err)
	}
}

// TestTasksCallsAndErrors: progress and calls cross the socket both ways;
// a worker's public error keeps its code and message, any other error is
// reduced to a generic one; a worker calls only what the parent serves.
func TestTasksCallsAndErrors(t *testing.T) {
	var gotKey string
	p := newPool(t, sandbox.Options{Calls: map[string]sandbox.CallHandler{
		"relay": func(_ context.Context, key string, payload []byte, emit func([]byte) error) ([]byte, error) {
			gotKey = key
			_ = emit([]byte("d"))
			return append([]byte("relayed:"), payload...), nil
		},
	}})
	var pieces []string
	out, err := p.Run(context.Background(), "bot-1", "stream", []byte("x"), func(b []byte) error {
		pieces = append(pieces, string(b))
		return nil
	})
	if err != nil || string(out) != "relayed:x" || strings.Join(pieces, "") != "abcd" || gotKey != "bot-1" {
		t.Fatalf("stream: %q %v pieces %q key %q", out, err, pieces, gotKey)
	}
	_, err = run(t, p, "fail", nil)
	wantCode(t, err, palisade.CodeInvalid)
	if !strings.Contains(err.Error(), "not a PDF") {
		t.Fatalf("error %v", err)
	}
	_, err = run(t, p, "leak", nil)
	wantCode(t, err, palisade.CodeInternal)
	if strings.Contains(err.Error(), "internal detail") {
		t.Fatalf("the worker's internal error crossed: %v", err)
	}
	_, err = run(t, p, "call", []byte("gateway.secrets"))
	wantCode(t, err, palisade.CodeForbidden)
}

// TestCancelledTaskThatIgnoresCancelIsKilled: a caller that gives up
// frees the worker, and a worker that does not stop is replaced.
func TestCancelledTaskThatIgnoresCancelIsKilled(t *testing.T) {
	m := sandbox.NewMetrics(nil)
	p := newPool(t, sandbox.Options{Metrics: m})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Run(ctx, "bot", "ignore-cancel", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the caller's deadline", err)
	}
	if got := testutil.ToFloat64(m.Kills.WithLabelValues("unresponsive")); got != 1 {
		t.Fatalf("unresponsive kills %v, want 1", got)
	}
}

// TestIdleWorkersStopAndTheCapHolds: a worker idle past the timeout is
// stopped; at the cap, the least recently used idle worker makes room.
func TestIdleWorkersStopAndTheCapHolds(t *testing.T) {
	m := sandbox.NewMetrics(nil)
	p := newPool(t, sandbox.Options{Metrics: m, MaxWorkers: 2, IdleTimeout: 300 * time.Millisecond})
	for _, key := range []string{"a", "b", "c"} {
		if _, err := p.Run(context.Background(), key, "echo", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The evicted worker is stopped beside the task that took its place.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.Kills.WithLabelValues("evicted")) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m.Kills.WithLabelValues("evicted")); got != 1 {
		t.Fatalf("evictions %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Live); got > 2 {
		t.Fatalf("live workers %v, want at most 2", got)
	}
	deadline = time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.Live) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m.Live); got != 0 {
		t.Fatalf("live workers %v after the idle timeout, want 0", got)
	}
}

// refuseNamespaces simulates a kernel without user namespaces.
func refuseNamespaces(cmd *exec.Cmd) error {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
		return &os.SyscallError{Syscall: "clone", Err: syscall.EPERM}
	}
	return cmd.Start()
}

func TestModesWithoutUserNamespaces(t *testing.T) {
	_, err := sandbox.New(context.Background(), sandbox.Options{Mode: sandbox.ModeRequire, Start: refuseNamespaces})
	if err == nil || !strings.Contains(err.Error(), "cannot be confined") || !strings.Contains(err.Error(), "operation not permitted") {
		t.Fatalf("require: %v, want a refusal saying why", err)
	}
	m := sandbox.NewMetrics(nil)
	p := newPool(t, sandbox.Options{Mode: sandbox.ModeAuto, Start: refuseNamespaces, Metrics: m})
	if st := p.Status(); st.Confined || !strings.Contains(st.Reason, "cannot be confined") {
		t.Fatalf("auto: status %+v, want unconfined with the reason", st)
	}
	if got := testutil.ToFloat64(m.Confined); got != 0 {
		t.Fatalf("confined gauge %v, want 0", got)
	}
	if out, err := run(t, p, "echo", []byte("unconfined")); err != nil || string(out) != "unconfined" {
		t.Fatalf("unconfined worker: %q, %v", out, err)
	}
	off := newPool(t, sandbox.Options{Mode: sandbox.ModeOff})
	if st := off.Status(); st.Confined || !strings.Contains(st.Reason, "debugging") {
		t.Fatalf("off: status %+v", st)
	}
}

// TestConcurrentTasksUnderChurn: many tasks at once over few workers,
// retired and evicted as they go, all end (with an answer or a clear
// error) and none hangs.
func TestConcurrentTasksUnderChurn(t *testing.T) {
	p := newPool(t, sandbox.Options{MaxWorkers: 2, MaxTasks: 7, TaskTimeout: 5 * time.Second,
		Calls: map[string]sandbox.CallHandler{"relay": func(_ context.Context, _ string, payload []byte, emit func([]byte) error) ([]byte, error) {
			_ = emit([]byte("d"))
			return payload, nil
		}}})
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 60 {
				key := fmt.Sprintf("bot-%d", (g+i)%3)
				kind := []string{"echo", "stream", "fail"}[i%3]
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := p.Run(ctx, key, kind, []byte("x"), func([]byte) error { return nil })
				cancel()
				var pe *palisade.Error
				switch {
				case err == nil, errors.As(err, &pe):
				default:
					done <- fmt.Errorf("%s on %s: %v", kind, key, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("tasks hung")
		}
	}
}
