package sqlite

import (
	"errors"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/palisadehq/palisade/internal/palisade"
)

// errFullMessage is what a client reads while the data directory's disk
// is full or failing writes: temporary once space returns, worth retrying.
const errFullMessage = "the server cannot store anything right now (its disk is full); try again later"

// diskFull reports whether err is SQLite failing to write because the
// disk is full or refused the write, as opposed to a query that failed on
// a database that can write. SQLite rolls the transaction back, so what
// was stored before stays as it was.
func diskFull(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ENOSPC)
}

// classify marks a write the disk refused as unavailable (503, so a
// platform or client retries), keeping the cause for the logs.
func classify(err error) error {
	if !diskFull(err) {
		return err
	}
	var pe *palisade.Error
	if errors.As(err, &pe) {
		return err
	}
	return palisade.WrapError(err, palisade.CodeUnavailable, errFullMessage)
}
