package channel

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Rejections audits the verification failures of known channels,
// aggregated: one entry per bot, channel kind, reason and minute at most,
// with the count, never with anything of the payload. Bot ids are public
// (they are in the webhook URLs), so an entry per attempt would let anyone
// write to a workspace's audit log at the rate limit; a minute's worth
// costs one entry. Failures for no known channel (a malformed or unknown
// bot id) have no workspace to audit in and are only counted by the
// webhook surface's metrics.
//
// Each process aggregates its own failures: with several processes a
// minute may have one entry per process. Counts wait in memory until the
// minute is over; Stop writes what is left.
type Rejections struct {
	rec    audit.Recorder
	logger *slog.Logger
	now    func() time.Time
	every  time.Duration

	mu      sync.Mutex
	counts  map[rejectionKey]int
	dropped int

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	started  bool
}

type rejectionKey struct {
	ws     palisade.WorkspaceID
	bot    palisade.BotID
	kind   string
	reason Reason
	minute int64 // Unix minutes
}

// MaxPendingRejections bounds the keys waiting for their minute to end;
// beyond it, failures are dropped from the audit log (and still counted
// by metrics).
const MaxPendingRejections = 10_000

// NewRejections returns an aggregator recording through rec.
func NewRejections(rec audit.Recorder, logger *slog.Logger, now func() time.Time) *Rejections {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Rejections{rec: rec, logger: logger, now: now, every: 10 * time.Second, counts: map[rejectionKey]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Note counts one failure at time at.
func (r *Rejections) Note(ws palisade.WorkspaceID, bot palisade.BotID, kind string, reason Reason, at time.Time) {
	k := rejectionKey{ws: ws, bot: bot, kind: kind, reason: reason, minute: at.Unix() / 60}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.counts[k]; !ok && len(r.counts) >= MaxPendingRejections {
		r.dropped++
		return
	}
	r.counts[k]++
}

// Flush records every minute that ended before now (all of them with
// all), one entry per key.
func (r *Rejections) Flush(ctx context.Context, all bool) {
	current := r.now().Unix() / 60
	r.mu.Lock()
	ready := map[rejectionKey]int{}
	for k, n := range r.counts {
		if all || k.minute < current {
			ready[k] = n
			delete(r.counts, k)
		}
	}
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		r.logger.WarnContext(ctx, "webhook verification failures not audited: too many distinct channels failing at once", "dropped", dropped)
	}
	for k, n := range ready {
		audit.Best(ctx, r.rec, r.logger, palisade.ScopeFor(k.ws), audit.Entry{Actor: audit.ActorAnonymous, Action: audit.ActionWebhookRejected,
			Target: string(k.bot), Outcome: audit.OutcomeDenied, Detail: map[string]string{
				"channel": k.kind,
				"reason":  string(k.reason),
				"count":   strconv.Itoa(n),
				"minute":  time.Unix(k.minute*60, 0).UTC().Format("2006-01-02T15:04Z"),
			}})
	}
}

// Start flushes ended minutes in the background until Stop.
func (r *Rejections) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	r.started = true
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				r.Flush(context.WithoutCancel(ctx), false)
			}
		}
	}()
	return nil
}

// Stop ends the background flushing and records everything left. It is
// safe to call more than once, and without Start.
func (r *Rejections) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		close(r.stop)
		r.mu.Lock()
		started := r.started
		r.mu.Unlock()
		if started {
			<-r.done
		}
		r.Flush(ctx, true)
	})
	return nil
}
