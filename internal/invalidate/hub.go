package invalidate

import (
	"context"
	"fmt"
	"sync"
)

// Bus carries notices between the processes sharing a database.
type Bus interface {
	// Publish tells every listener, this process's included, that scope
	// changed.
	Publish(ctx context.Context, scope string) error
	// Listen delivers notices to h until ctx ends, calling h.Up(true)
	// once subscribed and h.Up(false) when the subscription is lost, then
	// subscribing again.
	Listen(ctx context.Context, h Handler)
}

// Event is what a Hub heard, for whoever watches it (metrics, tests).
type Event struct {
	// Scope is the notice's workspace (or All); empty for a change of
	// the subscription.
	Scope string
	// Up is the subscription's state after the event.
	Up bool
}

// Hub fans notices out to the process's caches.
type Hub struct {
	bus Bus
	mu  sync.Mutex
	hs  []Handler
	up  bool
	obs func(Event)
}

// NewHub returns a hub over bus; observe, when not nil, sees every event
// after the caches have.
func NewHub(bus Bus, observe func(Event)) *Hub {
	return &Hub{bus: bus, obs: observe}
}

// Add registers h; it starts in the hub's current state.
func (h *Hub) Add(x Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hs = append(h.hs, x)
	x.Up(h.up)
}

// Subscribed reports whether the bus's subscription is up, that is
// whether the caches are serving.
func (h *Hub) Subscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up
}

// Run listens on the bus until ctx ends; caches are bypassed while it is
// not running.
func (h *Hub) Run(ctx context.Context) {
	h.bus.Listen(ctx, h)
	h.Up(false)
}

// Invalidate drops scope's entries in this process at once, then tells the
// others. A failure to tell them is returned: the change is made, but other
// processes may serve the old decision until their entries expire.
func (h *Hub) Invalidate(ctx context.Context, scope string) error {
	h.Notice(scope)
	if err := h.bus.Publish(ctx, scope); err != nil {
		return fmt.Errorf("publishing a cache invalidation: %w", err)
	}
	return nil
}

// Notice implements Handler.
func (h *Hub) Notice(scope string) {
	h.mu.Lock()
	for _, x := range h.hs {
		x.Notice(scope)
	}
	up, obs := h.up, h.obs
	h.mu.Unlock()
	if obs != nil {
		obs(Event{Scope: scope, Up: up})
	}
}

// Up implements Handler.
func (h *Hub) Up(up bool) {
	h.mu.Lock()
	h.up = up
	for _, x := range h.hs {
		x.Up(up)
	}
	obs := h.obs
	h.mu.Unlock()
	if obs != nil {
		obs(Event{Up: up})
	}
}
