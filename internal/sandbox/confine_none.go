//go:build !unix

package sandbox

import (
	"errors"
	"syscall"
	"time"
)

var errNoWorkers = errors.New("bot workers need a Unix system (a socket pair inherited across exec)")

// Supported: this system cannot run workers at all.
func Supported() bool { return false }

func sysProcAttr(bool, bool) *syscall.SysProcAttr { return nil }

func applyConfinement(bool, Limits) (Layers, error) { return Layers{}, errNoWorkers }

func cpuUsed(int) time.Duration { return 0 }

func socketPair() ([2]int, error) { return [2]int{}, errNoWorkers }
