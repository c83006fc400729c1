package conversation_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// writeCounter passes calls through to the real store and counts them.
type writeCounter struct {
	store.Store
	mu      sync.Mutex
	writes  map[string]int // by workspace, day and kind
	lookups int
}

func (w *writeCounter) AddRefusals(ctx context.Context, scope palisade.Scope, day, kind string, n int64) error {
	w.mu.Lock()
	w.writes[string(scope.Workspace())+" "+day+" "+kind]++
	w.mu.Unlock()
	return w.Store.AddRefusals(ctx, scope, day, kind, n)
}

func (w *writeCounter) LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error) {
	w.mu.Lock()
	w.lookups++
	w.mu.Unlock()
	return w.Store.LookupBotWorkspace(ctx, id)
}

func (w *writeCounter) reset() (writes map[string]int, lookups int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	writes, lookups = w.writes, w.lookups
	w.writes, w.lookups = map[string]int{}, 0
	return writes, lookups
}

// TestRefusalCounterWritesOncePerWorkspaceDay: a burst of refusals, from
// many goroutines, by workspace and by bot, is summed in memory and
// written by one upsert per workspace, day and kind at the flush (and one
// lookup per bot); the dashboard's activity then shows the whole burst.
// A flush with nothing pending writes nothing, and a refusal of a bot that
// does not exist is dropped.
func TestRefusalCounterWritesOncePerWorkspaceDay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := &writeCounter{Store: b.store, writes: map[string]int{}}
	now := t0
	c := conversation.NewRefusalCounter(w, func() time.Time { return now }, nil)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 50 {
				c.Refused(b.scope.Workspace(), "api_message")
				c.RefusedBot(b.bot.ID, "webhook")
			}
			c.RefusedBot(palisade.NewBotID(), "webhook")
		})
	}
	wg.Wait()
	if writes, lookups := w.reset(); len(writes) != 0 || lookups != 0 {
		t.Fatalf("refusals wrote before the flush: %v, %d lookups", writes, lookups)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	writes, lookups := w.reset()
	ws := string(b.scope.Workspace())
	if len(writes) != 2 || writes[ws+" 2026-11-24 api_message"] != 1 || writes[ws+" 2026-11-24 webhook"] != 1 {
		t.Fatalf("writes at the flush = %v; want one per workspace, day and kind", writes)
	}
	if lookups != 11 {
		t.Fatalf("%d bot lookups; want one per distinct bot (11)", lookups)
	}
	dash := &conversation.Dashboard{Store: b.store, Now: func() time.Time { return now }}
	days, err := dash.Days(t.Context(), b.scope, 1)
	if err != nil || len(days) != 1 || days[0].RateLimited != 1000 {
		t.Fatalf("activity = %+v, %v; want 1000 rate-limited", days, err)
	}

	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if writes, lookups := w.reset(); len(writes) != 0 || lookups != 0 {
		t.Fatalf("an empty flush wrote %v, %d lookups", writes, lookups)
	}

	// The next day's refusals add to the next day; Stop's last flush at
	// shutdown writes them.
	now = t0.Add(24 * time.Hour)
	c.Start(t.Context(), time.Hour)
	for range 7 {
		c.Refused(b.scope.Workspace(), "widget_session")
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if writes, _ := w.reset(); len(writes) != 1 || writes[ws+" 2026-11-25 widget_session"] != 1 {
		t.Fatalf("writes at shutdown = %v", writes)
	}
	days, err = dash.Days(t.Context(), b.scope, 2)
	if err != nil || len(days) != 2 || days[0].RateLimited != 1000 || days[1].RateLimited != 7 {
		t.Fatalf("activity = %+v, %v", days, err)
	}
}

// TestRefusalCounterFlushesOnInterval: once started, the counts reach the
// store on the interval, without a Stop.
func TestRefusalCounterFlushesOnInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := conversation.NewRefusalCounter(b.store, func() time.Time { return t0 }, nil)
	c.Start(t.Context(), 10*time.Millisecond)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	for range 3 {
		c.Refused(b.scope.Workspace(), "api_message")
	}
	dash := &conversation.Dashboard{Store: b.store, Now: func() time.Time { return t0 }}
	deadline := time.Now().Add(10 * time.Second)
	for {
		days, err := dash.Days(t.Context(), b.scope, 1)
		if err != nil {
			t.Fatal(err)
		}
		if days[0].RateLimited == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the store holds %d refusals, want 3", days[0].RateLimited)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
