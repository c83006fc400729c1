package cli

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/job"
)

// jobOptions are how this process works jobs. River listens for inserts
// on both databases (on SQLite through its notification table, polled
// every 50ms), and the store inserts through the working client, which
// wakes its own workers at once: an inbound message is picked up within
// milliseconds, not at the next poll. The short fetch cooldown lets a job
// inserted just after a fetch start soon, at the cost of at most 50
// fetches a second under load. The job time-out is the operator's
// (--job-timeout); the outcome of every attempt is counted by job kind.
func jobOptions(cfg config.Config, reg *prometheus.Registry) (job.RunnerOptions, error) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_jobs_total",
		Help: "Attempts of durable jobs, by job kind and outcome (completed, retried, discarded, cancelled, snoozed, interrupted)."},
		[]string{"kind", "outcome"})
	kinds := job.Kinds()
	for _, k := range kinds {
		for _, o := range job.Outcomes() {
			outcomes.WithLabelValues(k, o)
		}
	}
	if err := reg.Register(outcomes); err != nil {
		return job.RunnerOptions{}, fmt.Errorf("registering job metrics: %w", err)
	}
	outcomeSet := job.Outcomes()
	return job.RunnerOptions{PollInterval: 200 * time.Millisecond, FetchCooldown: 20 * time.Millisecond, JobTimeout: cfg.JobTimeout,
		OnOutcome: func(kind, outcome string) {
			// Only known kinds and outcomes become label values, so the
			// set stays bounded whatever the queue table holds.
			if !slices.Contains(kinds, kind) {
				kind = "other"
			}
			if !slices.Contains(outcomeSet, outcome) {
				outcome = "other"
			}
			outcomes.WithLabelValues(kind, outcome).Inc()
		}}, nil
}
