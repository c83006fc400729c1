package invalidate_test

import (
	"context"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/invalidate"
)

func liveCache(o invalidate.CacheOptions) *invalidate.Cache[int] {
	c := invalidate.NewCache[int](o)
	c.Up(true)
	return c
}

// TestCacheRefusesARaceLostRead: a read that started before an
// invalidation is never cached, so a key revoked while it was being looked
// up is not kept.
func TestCacheRefusesARaceLostRead(t *testing.T) {
	c := liveCache(invalidate.CacheOptions{})
	tk := c.Begin()
	c.Notice("ws")
	c.Put(tk, "k", "ws", 1)
	if _, ok := c.Get("k"); ok {
		t.Fatal("a read older than an invalidation was cached")
	}
}

// TestCacheBypassedUntilSubscribed: nothing is cached before the
// subscription is up.
func TestCacheBypassedUntilSubscribed(t *testing.T) {
	c := invalidate.NewCache[int](invalidate.CacheOptions{})
	c.Put(c.Begin(), "k", "ws", 1)
	if _, ok := c.Get("k"); ok {
		t.Fatal("a cache without a subscription served an entry")
	}
}

// TestCacheBoundedAndExpiring: the cache never holds more than Max entries
// and serves none past its TTL.
func TestCacheBoundedAndExpiring(t *testing.T) {
	now := time.Unix(1000, 0)
	c := liveCache(invalidate.CacheOptions{Max: 3, TTL: time.Second, Now: func() time.Time { return now }})
	for i := range 10 {
		c.Put(c.Begin(), string(rune('a'+i)), "ws", i)
	}
	if c.Len() != 3 {
		t.Fatalf("cache holds %d entries, bound is 3", c.Len())
	}
	c.Put(c.Begin(), "z", "ws", 1)
	if _, ok := c.Get("z"); !ok {
		t.Fatal("fresh entry missing")
	}
	now = now.Add(time.Second)
	if _, ok := c.Get("z"); ok {
		t.Fatal("an entry was served past its TTL")
	}
}

// TestNoneNeverServesACache: on a bus that cannot reach the processes
// changing the data, a cache never serves, however long the hub runs.
func TestNoneNeverServesACache(t *testing.T) {
	h := invalidate.NewHub(invalidate.None{}, nil)
	c := invalidate.NewCache[int](invalidate.CacheOptions{})
	h.Add(c)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	if h.Subscribed() {
		t.Fatal("the hub reports a subscription on a bus that has none")
	}
	c.Put(c.Begin(), "k", "ws", 1)
	if _, ok := c.Get("k"); ok {
		t.Fatal("a cache on a bus that reaches no one served an entry")
	}
	if err := h.Invalidate(ctx, "ws"); err != nil {
		t.Fatalf("invalidating: %v", err)
	}
}
