package invalidate

import (
	"context"
	"sync"
)

// Fanout listens on several buses and publishes on the first: a server on
// PostgreSQL with Redis announces on Redis, and still hears what a command
// run beside it (which knows the database only) announces through
// PostgreSQL. Its subscription is up only while every bus's is.
type Fanout []Bus

// Publish implements Bus.
func (f Fanout) Publish(ctx context.Context, scope string) error { return f[0].Publish(ctx, scope) }

// Listen implements Bus.
func (f Fanout) Listen(ctx context.Context, h Handler) {
	st := &fanoutState{h: h, up: make([]bool, len(f))}
	var wg sync.WaitGroup
	for i, b := range f {
		wg.Go(func() { b.Listen(ctx, fanoutPart{st, i}) })
	}
	wg.Wait()
}

type fanoutState struct {
	mu sync.Mutex
	h  Handler
	up []bool
}

type fanoutPart struct {
	st *fanoutState
	i  int
}

func (p fanoutPart) Notice(scope string) { p.st.h.Notice(scope) }

func (p fanoutPart) Up(up bool) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.up[p.i] = up
	all := true
	for _, u := range p.st.up {
		all = all && u
	}
	p.st.h.Up(all)
}
