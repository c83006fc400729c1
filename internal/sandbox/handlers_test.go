//go:build linux

package sandbox_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
)

// attempt is what a hostile task reports: whether the thing it tried
// worked, and the error that stopped it.
type attempt struct {
	Worked bool   `json:"worked"`
	Err    string `json:"err,omitempty"`
	Got    string `json:"got,omitempty"`
}

func report(err error, got string) ([]byte, error) {
	a := attempt{Worked: err == nil, Got: got}
	if err != nil {
		a.Err = err.Error()
	}
	return json.Marshal(a)
}

func testHandlers() map[string]sandbox.Handler {
	return map[string]sandbox.Handler{
		"echo": func(_ context.Context, t *sandbox.Task) ([]byte, error) { return t.Payload, nil },
		"fail": func(context.Context, *sandbox.Task) ([]byte, error) {
			return nil, palisade.Errorf(palisade.CodeInvalid, "the document is not a PDF")
		},
		"leak": func(context.Context, *sandbox.Task) ([]byte, error) {
			return nil, errors.New("internal detail the caller must not see")
		},
		// stream sends three pieces, then asks the parent to echo
		// through a call with streamed events, relaying them.
		"stream": func(ctx context.Context, t *sandbox.Task) ([]byte, error) {
			for _, s := range []string{"a", "b", "c"} {
				if err := t.Progress([]byte(s)); err != nil {
					return nil, err
				}
			}
			return t.Call(ctx, "relay", t.Payload, func(b []byte) error { return t.Progress(b) })
		},
		"call": func(ctx context.Context, t *sandbox.Task) ([]byte, error) {
			return t.Call(ctx, string(t.Payload), nil, nil)
		},
		"read-file": func(_ context.Context, t *sandbox.Task) ([]byte, error) {
			b, err := os.ReadFile(string(t.Payload))
			if err == nil {
				return report(nil, string(b))
			}
			// Straight to the system call too, past any library.
			fd, err2 := unix.Openat(unix.AT_FDCWD, string(t.Payload), unix.O_RDONLY, 0)
			if err2 == nil {
				unix.Close(fd)
				return report(nil, "openat succeeded")
			}
			return report(errors.Join(err, err2), "")
		},
		// stat is allowed by seccomp: what it answers is the mount
		// namespace's doing, the empty root.
		"stat": func(_ context.Context, t *sandbox.Task) ([]byte, error) {
			_, err := os.Stat(string(t.Payload))
			return report(err, "")
		},
		// kill(pid, 0) is allowed by seccomp: what it answers is the PID
		// namespace's doing.
		"signal": func(_ context.Context, t *sandbox.Task) ([]byte, error) {
			return report(syscall.Kill(int(binary.BigEndian.Uint32(t.Payload)), 0), "")
		},
		"connect": func(_ context.Context, t *sandbox.Task) ([]byte, error) {
			c, err := net.DialTimeout("tcp", string(t.Payload), 2*time.Second)
			if err == nil {
				c.Close()
			}
			return report(err, "")
		},
		"resolve": func(ctx context.Context, t *sandbox.Task) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			addrs, err := (&net.Resolver{PreferGo: true}).LookupHost(ctx, string(t.Payload))
			if err == nil {
				return report(nil, strings.Join(addrs, ","))
			}
			addrs, err2 := net.DefaultResolver.LookupHost(ctx, string(t.Payload))
			return report(errors.Join(err, err2), strings.Join(addrs, ","))
		},
		"ptrace": func(_ context.Context, t *sandbox.Task) ([]byte, error) {
			pid := int(binary.BigEndian.Uint32(t.Payload))
			runtime.LockOSThread()
			err := syscall.PtraceAttach(pid)
			if err == nil {
				_ = syscall.PtraceDetach(pid)
			}
			return report(err, "")
		},
		"exec": func(context.Context, *sandbox.Task) ([]byte, error) {
			err := exec.Command("/bin/sh", "-c", "echo escaped").Run()
			// And execve itself, which replaces the worker if it works.
			err2 := syscall.Exec("/bin/sh", []string{"sh", "-c", "echo escaped"}, nil)
			return report(errors.Join(err, err2), "")
		},
		"fork-bomb": func(context.Context, *sandbox.Task) ([]byte, error) {
			forked := 0
			var last error
			for range 1000 {
				r, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
				if errno != 0 {
					last = errno
					continue
				}
				if r == 0 {
					// The child: loop forever, as a bomb would.
					for {
						syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
					}
				}
				forked++
			}
			if forked > 0 {
				return report(nil, strings.Repeat("x", forked))
			}
			return report(last, "")
		},
		"allocate": func(context.Context, *sandbox.Task) ([]byte, error) {
			b := make([]byte, 2<<30)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			return report(nil, "allocated 2 GiB")
		},
		"spin": func(context.Context, *sandbox.Task) ([]byte, error) {
			for {
				runtime.Gosched()
			}
		},
		// oversize writes, straight to the socket, the header of a frame
		// far over any maximum.
		"oversize": func(context.Context, *sandbox.Task) ([]byte, error) {
			f := os.NewFile(3, "parent")
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], 1<<30)
			_, err := f.Write(hdr[:])
			time.Sleep(5 * time.Second)
			return report(err, "")
		},
		"ignore-cancel": func(context.Context, *sandbox.Task) ([]byte, error) {
			time.Sleep(time.Hour)
			return nil, nil
		},
	}
}
