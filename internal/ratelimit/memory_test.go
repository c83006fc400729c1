package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T, clock func() time.Time) ratelimit.Limiter {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clock})
	})
}

// The suite again with one shard and room for only a few keys, so that
// eviction and sweeping run constantly: they must never change a decision
// of a key that is still tracked.
func TestMemoryConformanceOneShard(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T, clock func() time.Time) ratelimit.Limiter {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clock, Shards: 1, MaxKeys: 64, SweepInterval: time.Second})
	})
}

func TestMemoryBoundsKeys(t *testing.T) {
	t.Parallel()
	clk := ratelimittest.NewClock(ratelimittest.Start())
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk.Now, Shards: 4, MaxKeys: 100})
	p := ratelimit.Policy{Name: "bound", Limit: 3, Window: time.Minute}
	for i := range 10_000 {
		if _, err := m.Allow(context.Background(), p, fmt.Sprint("ip-", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := m.Stats()
	if st.Keys > 100 {
		t.Fatalf("%d keys tracked, MaxKeys is 100", st.Keys)
	}
	// Every one of these keys was live when dropped, and that must be
	// visible, since it loosens the limit for the dropped key.
	if want := uint64(10_000 - st.Keys); st.Evicted != want {
		t.Fatalf("Evicted = %d, want %d", st.Evicted, want)
	}
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	clk := ratelimittest.NewClock(ratelimittest.Start())
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk.Now, Shards: 1, MaxKeys: 3})
	p := ratelimit.Policy{Name: "lru", Limit: 1, Window: time.Minute}
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "a", "d"} { // "a" is touched again, so "b" goes for "d"
		if _, err := m.Allow(ctx, p, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		key     string
		allowed bool
	}{{"a", false}, {"c", false}, {"d", false}, {"b", true}} {
		d, err := m.Allow(ctx, p, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != c.allowed {
			t.Errorf("key %s: Allowed = %v, want %v", c.key, d.Allowed, c.allowed)
		}
	}
}

func TestMemorySweepsIdleKeys(t *testing.T) {
	t.Parallel()
	clk := ratelimittest.NewClock(ratelimittest.Start())
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk.Now, Shards: 1, SweepInterval: 10 * time.Second})
	short := ratelimit.Policy{Name: "short", Limit: 5, Window: 5 * time.Second}
	long := ratelimit.Policy{Name: "long", Limit: 5, Window: time.Hour}
	ctx := context.Background()
	for i := range 500 {
		if _, err := m.Allow(ctx, short, fmt.Sprint("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Allow(ctx, long, "l"); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Keys; got != 501 {
		t.Fatalf("%d keys before the sweep, want 501", got)
	}
	clk.Advance(10 * time.Second)
	if _, err := m.Allow(ctx, short, "fresh"); err != nil {
		t.Fatal(err)
	}
	// The short keys are idle and gone; the long one is still in its window
	// and must be kept, or its limit would reset.
	if st := m.Stats(); st.Keys != 2 || st.Evicted != 0 {
		t.Fatalf("after the sweep: %+v, want 2 keys and no live evictions", st)
	}
	d, err := m.Allow(ctx, long, "l")
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != 3 {
		t.Fatalf("long-window key lost its log in the sweep: remaining %d, want 3", d.Remaining)
	}
}
