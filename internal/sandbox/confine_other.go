//go:build unix && !linux

package sandbox

import (
	"errors"
	"syscall"
	"time"
)

func cpuUsed(int) time.Duration { return 0 }

func socketPair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	return fds, err
}

// Supported: workers run here, unconfined.
func Supported() bool { return true }

func sysProcAttr(bool, bool) *syscall.SysProcAttr { return nil }

// applyConfinement: confinement is built on Linux namespaces, seccomp and
// Landlock; elsewhere a worker can only run unconfined.
func applyConfinement(confine bool, _ Limits) (Layers, error) {
	if confine {
		return Layers{}, errors.New("confinement needs Linux")
	}
	return Layers{}, nil
}
