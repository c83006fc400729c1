package ratelimit

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configure NewMemory. Zero values take the defaults.
type MemoryOptions struct {
	// Clock is the time source; time.Now by default.
	Clock func() time.Time
	// Shards is the number of independently locked partitions, rounded up to
	// a power of two (default 64). A hot key holds only its own shard's lock.
	Shards int
	// MaxKeys bounds the number of keys tracked at once (default 131072).
	// Memory is at most about MaxKeys × (Limit × 16 B + 200 B). When the
	// bound is reached the least recently used key of the shard is dropped,
	// which forgets its history: Stats counts such live evictions.
	MaxKeys int
	// SweepInterval is how often each shard drops its idle keys, those with
	// no admitted request left in their window (default one minute). Dropping
	// an idle key loses nothing: its log is empty.
	SweepInterval time.Duration
}

// Memory is the in-process sliding-log limiter. It is safe for concurrent
// use; the zero value is not usable, call NewMemory.
type Memory struct {
	clock         func() time.Time
	seed          maphash.Seed
	shards        []memShard
	mask          uint64
	maxPerShard   int
	sweepInterval int64
	evicted       atomic.Uint64
}

var _ Limiter = (*Memory)(nil)

type memKey struct {
	policy, key string
}

type memShard struct {
	mu        sync.Mutex
	entries   map[memKey]*memEntry
	lru       memEntry // sentinel of a circular list, most recent first
	lastSweep int64
	_         [64]byte // keeps hot shards' locks off one another's cache lines
}

// memEntry is one key's sliding log: admission times in nanoseconds, oldest
// first, never decreasing.
type memEntry struct {
	k          memKey
	ts         []int64
	window     int64
	prev, next *memEntry
}

// MemoryStats describes a Memory limiter's current footprint.
type MemoryStats struct {
	Keys    int    // keys tracked now
	Evicted uint64 // live keys dropped because MaxKeys was reached
}

// NewMemory returns a Memory limiter.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Shards <= 0 {
		opts.Shards = 64
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 17
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	n := 1 << bits.Len(uint(opts.Shards-1))
	m := &Memory{
		clock:         opts.Clock,
		seed:          maphash.MakeSeed(),
		shards:        make([]memShard, n),
		mask:          uint64(n - 1),
		maxPerShard:   max(1, (opts.MaxKeys+n-1)/n),
		sweepInterval: int64(opts.SweepInterval),
	}
	now := m.clock().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.entries = make(map[memKey]*memEntry)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.lastSweep = now
	}
	return m
}

func (m *Memory) shard(k memKey) *memShard {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(k.policy)
	h.WriteByte(0) // policy names never hold a NUL, so the split is unambiguous
	h.WriteString(k.key)
	return &m.shards[h.Sum64()&m.mask]
}

// Allow implements Limiter. It never blocks on another shard's keys and
// ignores ctx: a decision takes no I/O.
func (m *Memory) Allow(_ context.Context, p Policy, key string) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	k := memKey{policy: p.Name, key: key}
	s := m.shard(k)
	now := m.clock().UnixNano()
	window := int64(p.Window)

	s.mu.Lock()
	defer s.mu.Unlock()
	if now-s.lastSweep >= m.sweepInterval || now < s.lastSweep {
		s.sweep(now)
	}
	e := s.entries[k]
	if e == nil {
		if len(s.entries) >= m.maxPerShard {
			m.evictOldest(s, now)
		}
		e = &memEntry{k: k}
		s.entries[k] = e
		s.pushFront(e)
	} else {
		s.moveToFront(e)
	}
	return e.decide(p, now, window), nil
}

// Refund implements Limiter: it drops the newest admission of key under p
// that is still inside the window.
func (m *Memory) Refund(_ context.Context, p Policy, key string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	k := memKey{policy: p.Name, key: key}
	s := m.shard(k)
	now := m.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[k]; e != nil {
		e.refund(now, int64(p.Window))
	}
	return nil
}

// refund forgets the newest admission still inside the window at now.
func (e *memEntry) refund(now, window int64) {
	if n := len(e.ts); n > 0 && now < e.ts[n-1] {
		now = e.ts[n-1]
	}
	if n := len(e.ts); n > 0 && e.ts[n-1] > now-window {
		e.ts = e.ts[:n-1]
	}
}

// decide applies the sliding log to one request at now.
func (e *memEntry) decide(p Policy, now, window int64) Decision {
	if n := len(e.ts); n > 0 && now < e.ts[n-1] {
		now = e.ts[n-1] // a clock stepping back stands still instead
	}
	cutoff := now - window
	i := 0
	for i < len(e.ts) && e.ts[i] <= cutoff {
		i++
	}
	e.ts = e.ts[i:]
	e.window = window
	d := Decision{Policy: p, Limit: p.Limit}
	count := len(e.ts)
	if count < p.Limit {
		e.ts = append(e.ts, now)
		d.Allowed = true
		d.Remaining = p.Limit - count - 1
		d.Reset = time.Duration(window)
		return d
	}
	d.RetryAfter = time.Duration(e.ts[count-p.Limit] + window - now)
	d.Reset = time.Duration(e.ts[count-1] + window - now)
	return d
}

func (e *memEntry) idle(now int64) bool {
	return len(e.ts) == 0 || e.ts[len(e.ts)-1] <= now-e.window
}

// sweep drops every idle key of the shard. It runs at most once per
// SweepInterval per shard, so its cost is spread over that interval's
// requests.
func (s *memShard) sweep(now int64) {
	s.lastSweep = now
	for e := s.lru.next; e != &s.lru; {
		next := e.next
		if e.idle(now) {
			s.remove(e)
		}
		e = next
	}
}

func (m *Memory) evictOldest(s *memShard, now int64) {
	e := s.lru.prev
	if e == &s.lru {
		return
	}
	if !e.idle(now) {
		m.evicted.Add(1)
	}
	s.remove(e)
}

func (s *memShard) remove(e *memEntry) {
	delete(s.entries, e.k)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *memShard) pushFront(e *memEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

func (s *memShard) moveToFront(e *memEntry) {
	if s.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	s.pushFront(e)
}

// Stats reports the current number of keys and the live evictions so far.
func (m *Memory) Stats() MemoryStats {
	st := MemoryStats{Evicted: m.evicted.Load()}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Keys += len(s.entries)
		s.mu.Unlock()
	}
	return st
}
