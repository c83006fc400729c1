//go:build !linux

package sandbox

import (
	"errors"
	"syscall"
)

func sysProcAttr(bool, bool) *syscall.SysProcAttr { return nil }

// applyConfinement: confinement is built on Linux namespaces, seccomp and
// Landlock; elsewhere a worker can only run unconfined.
func applyConfinement(confine bool, _ Limits) (Layers, error) {
	if confine {
		return Layers{}, errors.New("confinement needs Linux")
	}
	return Layers{}, nil
}
