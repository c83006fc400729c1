package postgres

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/palisadehq/palisade/internal/palisade"
)

// errUnavailableMessage is what a client reads while the database cannot
// be reached: a temporary condition worth retrying, not a bug.
const errUnavailableMessage = "the database is unavailable; try again shortly"

// unavailable reports whether err means the database could not be reached
// or dropped the connection (down, restarting, refusing connections), as
// opposed to a query that failed on a database that is up. Such a request
// is answered 503, so that a platform or client retries it and a load
// balancer sees an outage, not a 500 bug.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin or crash shutdown, cannot connect now
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err)
}

// classify marks an unreachable database's error as unavailable, keeping
// the cause for the logs.
func classify(err error) error {
	if unavailable(err) {
		var pe *palisade.Error
		if errors.As(err, &pe) {
			return err // a use case already said what it means
		}
		return palisade.WrapError(err, palisade.CodeUnavailable, errUnavailableMessage)
	}
	return err
}
