package store

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Options are what both implementations take when opened.
type Options struct {
	Logger *slog.Logger
	// Workers are the job workers; nil opens an insert-only queue (CLI
	// commands that enqueue but never work).
	Workers *river.Workers
	// PeriodicJobs run on a schedule on the elected leader.
	PeriodicJobs []*river.PeriodicJob
	// JobPollInterval is how often workers poll for new jobs where the
	// database cannot notify them (SQLite).
	JobPollInterval time.Duration
	// JobWorkers is the maximum number of jobs worked at once.
	JobWorkers int
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
}
