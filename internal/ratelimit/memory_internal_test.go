package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// "One noisy bot never slows another": a key whose shard is busy (its lock
// held, as under a flood) must not hold up a key of another shard. The test
// holds one shard's lock itself and checks that a decision elsewhere
// completes; it fails by deadlock detection, not by measuring time.
func TestMemoryBusyShardDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryOptions{Shards: 16})
	p := Policy{Name: "noisy", Limit: 10, Window: time.Minute}
	hot := m.shard(memKey{policy: p.Name, key: "noisy-bot"})
	quiet := ""
	for i := 0; quiet == "" && i < 1000; i++ {
		k := fmt.Sprint("quiet-bot-", i)
		if m.shard(memKey{policy: p.Name, key: k}) != hot {
			quiet = k
		}
	}
	if quiet == "" {
		t.Fatal("1000 keys all landed in the noisy key's shard: keys are not spread over shards")
	}
	hot.mu.Lock()
	defer hot.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := m.Allow(context.Background(), p, quiet)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a decision on a quiet key waited for the noisy key's shard")
	}
}

func TestMemoryShardsRoundUpToPowerOfTwo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int }{{0, 64}, {1, 1}, {2, 2}, {3, 4}, {64, 64}, {100, 128}} {
		m := NewMemory(MemoryOptions{Shards: tc.in})
		if len(m.shards) != tc.want || m.mask != uint64(tc.want-1) {
			t.Errorf("Shards %d: got %d shards, mask %d; want %d", tc.in, len(m.shards), m.mask, tc.want)
		}
	}
}
