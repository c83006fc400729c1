// Package dirlock keeps two servers of the same kind off one data
// directory: each kind of server takes an exclusive lock on its own file
// in the directory, and a second one fails at once with a message naming
// the process that holds it, instead of starting beside it.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrHeld is returned (wrapped) when another process holds the lock.
var ErrHeld = errors.New("held by another process")

// Lock is a held lock; Release gives it back. The operating system also
// releases it when the process ends, however it ends.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock named name in dir without waiting. The lock file
// records the holder's process id, for the message a second process gets.
func Acquire(dir, name string) (*Lock, error) {
	path := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		_ = f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("lock %s is %w%s", path, ErrHeld, holder)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the lock back. The file stays: removing it would let a
// third process lock a new file while a second still waits on the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
