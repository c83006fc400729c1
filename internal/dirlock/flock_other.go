//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dirlock

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// tryLock has no advisory lock to take on this system, so a second server
// on one data directory is not detected here; the release builds target
// Linux, where it is.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
