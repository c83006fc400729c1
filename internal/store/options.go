package store

import (
	"log/slog"
	"time"
)

// Options are what both implementations take when opened.
type Options struct {
	Logger *slog.Logger
	// QueryHook, when set, is called with every statement the store runs
	// for the application (not River's own). Tests use it to prove that a
	// request ran no query.
	QueryHook func(query string)
	// UserSealer seals users' own secrets (TOTP); nil refuses to store one.
	UserSealer UserSealer
	// Sealer seals and opens the sealed columns (channel credentials and
	// secrets, provider keys, message bodies). Without one, the store
	// refuses to write or read them: it never stores them in plaintext.
	Sealer Sealer
	// Now is the clock of the times the store sets itself (audit entries);
	// nil means time.Now.
	Now func() time.Time
}
