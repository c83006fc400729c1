package invalidate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the bus over Redis pub/sub.
type Redis struct {
	rdb     *redis.Client
	channel string
}

// NewRedis returns a bus publishing on channel.
func NewRedis(rdb *redis.Client, channel string) *Redis { return &Redis{rdb: rdb, channel: channel} }

// Publish implements Bus.
func (r *Redis) Publish(ctx context.Context, scope string) error {
	return r.rdb.Publish(ctx, r.channel, scope).Err()
}

// Listen implements Bus.
func (r *Redis) Listen(ctx context.Context, h Handler) {
	for ctx.Err() == nil {
		r.listenOnce(ctx, h)
		select {
		case <-ctx.Done():
		case <-time.After(retryDelay):
		}
	}
}

// retryDelay spaces resubscriptions; caches are bypassed meanwhile.
const retryDelay = 200 * time.Millisecond

// healthEvery is how often a listener proves its connection alive: a
// connection that died without closing (a half-open TCP connection) would
// otherwise look subscribed while no notice can arrive. A dead one is
// found within two periods.
const healthEvery = 10 * time.Second

func (r *Redis) listenOnce(ctx context.Context, h Handler) {
	ps := r.rdb.Subscribe(ctx, r.channel)
	defer ps.Close()
	// Receive blocks in a read that ignores ctx; closing unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	var pong atomic.Bool
	pong.Store(true)
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(healthEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				// No answer to the last ping: the connection is gone.
				if !pong.Swap(false) || ps.Ping(ctx) != nil {
					_ = ps.Close()
					return
				}
			}
		}
	}()
	up := false
	defer func() {
		if up {
			h.Up(false)
		}
	}()
	for {
		// Receive, not Channel: Channel reconnects silently, and a
		// notice published while it does would be lost unnoticed.
		msg, err := ps.Receive(ctx)
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !up {
				up = true
				h.Up(true)
			}
		case *redis.Message:
			h.Notice(m.Payload)
		case *redis.Pong:
			pong.Store(true)
		}
	}
}
