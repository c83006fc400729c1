// Package idempotency answers a request sent again under the same
// Idempotency-Key once: the first answer is stored (sealed, by the store)
// per workspace and principal, and a repeat of the same request replays
// it, while a different request under the same key is refused. Records
// expire after TTL and are pruned with the store's other expired rows.
package idempotency

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TTL is how long an answer is kept for replay.
const TTL = 24 * time.Hour

// Keeper claims, completes and releases idempotency keys.
type Keeper struct {
	Store store.Idempotency
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Record is a request already seen under its key. Status zero means it
// is still being answered.
type Record struct {
	RequestHash []byte
	Status      int
	Response    []byte
}

// Claim records a request under key for principal and reports true, or
// returns the record already there and false.
func (k *Keeper) Claim(ctx context.Context, scope palisade.Scope, principal, key string, requestHash []byte) (Record, bool, error) {
	now := time.Now()
	if k.Now != nil {
		now = k.Now()
	}
	rec, claimed, err := k.Store.ClaimIdempotencyKey(ctx, scope, store.ClaimIdempotencyParams{Principal: principal, Key: key,
		RequestHash: requestHash, Now: now, ExpiresAt: now.Add(TTL)})
	if err != nil {
		return Record{}, false, err
	}
	return Record{RequestHash: rec.RequestHash, Status: rec.Status, Response: rec.Response}, claimed, nil
}

// Complete stores the answer of a claimed request.
func (k *Keeper) Complete(ctx context.Context, scope palisade.Scope, principal, key string, status int, response []byte) error {
	return k.Store.CompleteIdempotencyKey(ctx, scope, principal, key, status, response)
}

// Release forgets a claimed request that has no answer to replay.
func (k *Keeper) Release(ctx context.Context, scope palisade.Scope, principal, key string) error {
	return k.Store.ReleaseIdempotencyKey(ctx, scope, principal, key)
}
