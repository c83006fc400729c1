package invalidate

import (
	"context"
	"sync"
)

// Memory is the bus of a single process (SQLite: the data directory is
// locked by one process, so nobody else can change what it caches).
type Memory struct {
	mu sync.Mutex
	hs map[*Handler]Handler
}

// NewMemory returns an in-process bus.
func NewMemory() *Memory { return &Memory{hs: map[*Handler]Handler{}} }

// Publish implements Bus.
func (m *Memory) Publish(_ context.Context, scope string) error {
	m.mu.Lock()
	hs := make([]Handler, 0, len(m.hs))
	for _, h := range m.hs {
		hs = append(hs, h)
	}
	m.mu.Unlock()
	for _, h := range hs {
		h.Notice(scope)
	}
	return nil
}

// Listen implements Bus.
func (m *Memory) Listen(ctx context.Context, h Handler) {
	k := &h
	m.mu.Lock()
	m.hs[k] = h
	m.mu.Unlock()
	h.Up(true)
	<-ctx.Done()
	m.mu.Lock()
	delete(m.hs, k)
	m.mu.Unlock()
}
