package seal

import (
	"container/list"
	"crypto/cipher"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// keyCache holds unwrapped data keys, and each workspace's current data key
// version, for a bounded time and number: least recently used entries go
// first. Version 0, which no data key has, holds a workspace's current
// version.
type keyCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // of *cacheEntry, most recently used first
	byKey map[cacheKey]*list.Element
}

type cacheKey struct {
	ws      palisade.WorkspaceID
	version uint32 // 0: the entry holds the workspace's current version
}

type cacheEntry struct {
	key     cacheKey
	aead    cipher.AEAD
	current uint32
	expires time.Time
}

func newKeyCache(max int, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{max: max, ttl: ttl, now: now, order: list.New(), byKey: make(map[cacheKey]*list.Element)}
}

func (c *keyCache) lookup(k cacheKey) (*cacheEntry, bool) {
	el, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.byKey, k)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

func (c *keyCache) store(e *cacheEntry) {
	e.expires = c.now().Add(c.ttl)
	if el, ok := c.byKey[e.key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.byKey[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

func (c *keyCache) get(ws palisade.WorkspaceID, version uint32) (cipher.AEAD, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lookup(cacheKey{ws, version})
	if !ok {
		return nil, false
	}
	return e.aead, true
}

func (c *keyCache) put(ws palisade.WorkspaceID, version uint32, a cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(&cacheEntry{key: cacheKey{ws, version}, aead: a})
}

func (c *keyCache) current(ws palisade.WorkspaceID) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lookup(cacheKey{ws, 0})
	if !ok {
		return 0, false
	}
	return e.current, true
}

func (c *keyCache) putCurrent(ws palisade.WorkspaceID, version uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(&cacheEntry{key: cacheKey{ws, 0}, current: version})
}

func (c *keyCache) drop(ws palisade.WorkspaceID, version uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[cacheKey{ws, version}]; ok {
		c.order.Remove(el)
		delete(c.byKey, cacheKey{ws, version})
	}
}

func (c *keyCache) dropWorkspace(ws palisade.WorkspaceID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.byKey {
		if k.ws == ws {
			c.order.Remove(el)
			delete(c.byKey, k)
		}
	}
}

// len is for tests.
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
