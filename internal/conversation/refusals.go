package conversation

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Rate-limit refusals are counted per workspace and day for the dashboard,
// but a flood of refused requests must not become a flood of writes: the
// refusal itself is the cheap path that protects everything else. So the
// counter only adds to a map in memory, and Flush writes each workspace's
// count for a day and kind with one upsert. A refusal known only by its
// bot (a webhook is limited before anything is read) is resolved to its
// workspace at the flush, once per bot, not once per refusal.
//
// The counts are a lower bound: what a process had not flushed when it
// died is lost, and once maxRefusalKeys are pending new keys are dropped
// (counted in the log) rather than letting random bot ids grow the map.

// maxRefusalKeys bounds the pending (workspace or bot, day, kind) counts.
const maxRefusalKeys = 10000

// RefusalStore is what the counter needs of the store.
type RefusalStore interface {
	AddRefusals(ctx context.Context, scope palisade.Scope, day, kind string, n int64) error
	LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error)
}

// RefusalCounter sums rate-limit refusals in memory and writes them on
// Flush. It is safe for concurrent use.
type RefusalCounter struct {
	store  RefusalStore
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	pending map[refusalKey]int64
	dropped int64
	// stop and done run the background flush between Start and Stop.
	stop, done chan struct{}
}

// refusalKey is whose refusals a count is: a workspace's, or a bot's whose
// workspace is looked up at the flush.
type refusalKey struct {
	ws        palisade.WorkspaceID
	bot       palisade.BotID
	day, kind string
}

// NewRefusalCounter returns an empty counter writing to s. now and logger
// may be nil.
func NewRefusalCounter(s RefusalStore, now func() time.Time, logger *slog.Logger) *RefusalCounter {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RefusalCounter{store: s, now: now, logger: logger, pending: map[refusalKey]int64{}}
}

// Refused counts one refusal of the workspace's request under the limit
// class kind.
func (c *RefusalCounter) Refused(ws palisade.WorkspaceID, kind string) {
	if ws == "" {
		return
	}
	c.add(refusalKey{ws: ws, kind: kind}, 1)
}

// RefusedBot counts one refusal of a request to bot under the limit class
// kind; the bot's workspace is found when the count is written.
func (c *RefusalCounter) RefusedBot(bot palisade.BotID, kind string) {
	if bot == "" {
		return
	}
	c.add(refusalKey{bot: bot, kind: kind}, 1)
}

func (c *RefusalCounter) add(k refusalKey, n int64) {
	if k.kind == "" || len(k.kind) > store.MaxRefusalKind {
		return
	}
	if k.day == "" {
		k.day = store.DayKey(c.now())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[k]; !ok && len(c.pending) >= maxRefusalKeys {
		c.dropped += n
		return
	}
	c.pending[k] += n
}

// Flush writes the pending counts: one upsert per workspace, day and kind,
// and one lookup per bot counted by id. Counts that fail to be written are
// kept for the next flush; a bot that does not exist is dropped.
func (c *RefusalCounter) Flush(ctx context.Context) error {
	c.mu.Lock()
	pending, dropped := c.pending, c.dropped
	c.pending, c.dropped = map[refusalKey]int64{}, 0
	c.mu.Unlock()
	if dropped > 0 {
		c.logger.WarnContext(ctx, "rate-limit refusals not counted: too many distinct workspaces and bots pending", "refusals", dropped)
	}
	// Bots first, folded into their workspaces' counts.
	byWS := map[refusalKey]int64{}
	owners := map[palisade.BotID]palisade.WorkspaceID{}
	var firstErr error
	for k, n := range pending {
		if k.bot != "" {
			ws, ok := owners[k.bot]
			if !ok {
				var err error
				ws, err = c.store.LookupBotWorkspace(ctx, k.bot)
				if err != nil && palisade.ErrorCode(err) != palisade.CodeNotFound {
					c.add(k, n)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				owners[k.bot] = ws
			}
			if ws == "" {
				continue
			}
			k = refusalKey{ws: ws, day: k.day, kind: k.kind}
		}
		byWS[k] += n
	}
	for k, n := range byWS {
		if err := c.store.AddRefusals(ctx, palisade.ScopeFor(k.ws), k.day, k.kind, n); err != nil {
			if code := palisade.ErrorCode(err); code == palisade.CodeNotFound || code == palisade.CodeConflict || code == palisade.CodeInvalid {
				// The workspace is gone, or the count can never be
				// written: retrying would keep it in memory forever.
				continue
			}
			c.add(k, n)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return palisade.WrapError(firstErr, palisade.CodeUnavailable, "writing rate-limit refusal counts")
	}
	return nil
}

// DefaultRefusalFlush is how often Start writes the pending counts.
const DefaultRefusalFlush = 10 * time.Second

// Start flushes every interval (DefaultRefusalFlush when not positive) in
// the background until Stop.
func (c *RefusalCounter) Start(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRefusalFlush
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := c.Flush(context.WithoutCancel(ctx)); err != nil {
					c.logger.WarnContext(ctx, "writing rate-limit refusal counts", "error", err)
				}
			}
		}
	}(c.stop, c.done)
}

// Stop ends the background flushing and writes what is left, so a clean
// shutdown loses nothing counted. It is safe to call more than once, and
// without Start.
func (c *RefusalCounter) Stop(ctx context.Context) error {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return c.Flush(ctx)
}
