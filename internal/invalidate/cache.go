package invalidate

import (
	"sync"
	"time"
)

// All is the notice that drops every entry of every cache, for a change
// that spans workspaces (an account deleted).
const All = "*"

// Handler receives what a Bus hears.
type Handler interface {
	// Notice drops what depends on scope (a workspace id, or All).
	Notice(scope string)
	// Up reports that the subscription was (re)established (true) or lost
	// (false); while it is lost no notice can arrive, so nothing cached
	// may be trusted.
	Up(up bool)
}

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Max bounds the number of entries; 0 means 10,000.
	Max int
	// TTL bounds how long an entry is served without a notice; 0 means 30
	// seconds.
	TTL time.Duration
	Now func() time.Time
}

type entry[V any] struct {
	v       V
	scope   string
	expires time.Time
}

// Cache maps keys to values of one workspace each. It serves nothing
// until its Hub reports the subscription up.
type Cache[V any] struct {
	mu    sync.Mutex
	o     CacheOptions
	m     map[string]entry[V]
	gen   uint64
	up    bool
	perWS map[string]map[string]struct{}
}

// NewCache returns an empty cache, bypassed until Up(true).
func NewCache[V any](o CacheOptions) *Cache[V] {
	if o.Max <= 0 {
		o.Max = 10000
	}
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[V]{o: o, m: map[string]entry[V]{}, perWS: map[string]map[string]struct{}{}}
}

// Get returns the live entry for key.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	if !c.up {
		return zero, false
	}
	e, ok := c.m[key]
	if !ok {
		return zero, false
	}
	if !c.o.Now().Before(e.expires) {
		c.remove(key, e.scope)
		return zero, false
	}
	return e.v, true
}

// Ticket is taken before reading what will be cached; Put refuses it if
// an invalidation happened since, so a read that raced with a change is
// never kept.
type Ticket struct{ gen uint64 }

// Begin returns the ticket for a read about to start.
func (c *Cache[V]) Begin() Ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Ticket{c.gen}
}

// Put caches v under key for scope, unless anything was invalidated since
// t or the cache is bypassed.
func (c *Cache[V]) Put(t Ticket, key, scope string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up || t.gen != c.gen {
		return
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= c.o.Max {
		// Evict an arbitrary entry: map order is random enough that no
		// caller can pin the cache, and a miss costs only a read.
		for k, e := range c.m {
			c.remove(k, e.scope)
			break
		}
	}
	c.m[key] = entry[V]{v: v, scope: scope, expires: c.o.Now().Add(c.o.TTL)}
	s := c.perWS[scope]
	if s == nil {
		s = map[string]struct{}{}
		c.perWS[scope] = s
	}
	s[key] = struct{}{}
}

func (c *Cache[V]) remove(key, scope string) {
	delete(c.m, key)
	if s := c.perWS[scope]; s != nil {
		delete(s, key)
		if len(s) == 0 {
			delete(c.perWS, scope)
		}
	}
}

// Notice drops scope's entries (every entry for All) and fails every
// ticket taken before it.
func (c *Cache[V]) Notice(scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if scope == All {
		c.flush()
		return
	}
	for k := range c.perWS[scope] {
		delete(c.m, k)
	}
	delete(c.perWS, scope)
}

// Up turns the cache on once subscribed; losing the subscription flushes
// it and bypasses it until subscribed again.
func (c *Cache[V]) Up(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.up = up
	if !up {
		c.flush()
	}
}

func (c *Cache[V]) flush() {
	c.m = map[string]entry[V]{}
	c.perWS = map[string]map[string]struct{}{}
}

// Len is the number of entries held.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Live reports whether the cache is serving (subscribed).
func (c *Cache[V]) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}
