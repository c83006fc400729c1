package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Nonces remembers the nonces of signed calls to the gateway role for as
// long as their signatures could still be accepted, so that a captured call
// cannot be sent again. With more than one gateway process the memory must
// be one they all share (Redis or the database), or a call replayed to
// another process would pass.
type Nonces interface {
	// Claim records nonce until expires and reports whether it was new.
	// An error means the nonce could not be checked: the call is refused.
	Claim(ctx context.Context, nonce string, now, expires time.Time) (bool, error)
}

var (
	_ Nonces = (*RedisNonces)(nil)
	_ Nonces = (*StoreNonces)(nil)
	_ Nonces = (*MemoryNonces)(nil)
)

// RedisNonces keeps nonces in Redis, each a key set only if absent, with
// the nonce's expiry: one round trip per call, shared by every process on
// the same Redis.
type RedisNonces struct {
	client redis.Cmdable
	prefix string
}

// DefaultNoncePrefix starts every nonce key RedisNonces writes.
const DefaultNoncePrefix = "palisade:gateway:nonce:"

// NewRedisNonces keeps nonces under prefix (DefaultNoncePrefix when empty).
func NewRedisNonces(client redis.Cmdable, prefix string) *RedisNonces {
	if prefix == "" {
		prefix = DefaultNoncePrefix
	}
	return &RedisNonces{client: client, prefix: prefix}
}

func (r *RedisNonces) Claim(ctx context.Context, nonce string, now, expires time.Time) (bool, error) {
	ttl := max(expires.Sub(now), time.Second)
	ok, err := r.client.SetNX(ctx, r.prefix+nonce, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("gateway: recording a nonce in Redis: %w", err)
	}
	return ok, nil
}

// NonceStore is the database's memory of nonces (store.GatewayNonces).
type NonceStore interface {
	ClaimGatewayNonce(ctx context.Context, nonce string, now, expiresAt time.Time) (bool, error)
	PruneGatewayNonces(ctx context.Context, now time.Time) (int64, error)
}

// StoreNonces keeps nonces in the database, for deployments without Redis.
// It deletes the expired ones itself, at most once per PruneEvery, besides
// the prune job.
type StoreNonces struct {
	store     NonceStore
	lastPrune atomic.Int64 // unix nanoseconds
}

// PruneEvery is how often StoreNonces deletes expired nonces.
const PruneEvery = time.Minute

// NewStoreNonces keeps nonces in s.
func NewStoreNonces(s NonceStore) *StoreNonces { return &StoreNonces{store: s} }

func (n *StoreNonces) Claim(ctx context.Context, nonce string, now, expires time.Time) (bool, error) {
	if last := n.lastPrune.Load(); now.UnixNano()-last >= int64(PruneEvery) && n.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		// Pruning is housekeeping: a failure leaves rows for the next
		// prune and does not decide the call.
		_, _ = n.store.PruneGatewayNonces(ctx, now)
	}
	ok, err := n.store.ClaimGatewayNonce(ctx, nonce, now, expires)
	if err != nil {
		return false, fmt.Errorf("gateway: recording a nonce: %w", err)
	}
	return ok, nil
}

// MemoryNonces keeps nonces in this process only: right for tests and for a
// single gateway process, wrong for several (see Nonces). It holds at most
// max nonces and refuses calls, rather than forget one early, when full.
type MemoryNonces struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce → expiry
	max  int
}

// ErrNoncesFull is MemoryNonces' answer when it holds max unexpired nonces.
var ErrNoncesFull = errors.New("gateway: too many calls within the signature window to remember their nonces")

// NewMemoryNonces remembers at most limit nonces (1<<20 when limit ≤ 0).
func NewMemoryNonces(limit int) *MemoryNonces {
	if limit <= 0 {
		limit = 1 << 20
	}
	return &MemoryNonces{seen: map[string]time.Time{}, max: limit}
}

func (m *MemoryNonces) Claim(_ context.Context, nonce string, now, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, dup := m.seen[nonce]; dup && now.Before(exp) {
		return false, nil
	}
	if len(m.seen) >= m.max/2 {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
	}
	if len(m.seen) >= m.max {
		return false, ErrNoncesFull
	}
	m.seen[nonce] = expires
	return true, nil
}
