package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// TestNoncesAreShared: two gateway processes over one Redis or one
// database are one memory: a nonce claimed through one is refused through
// the other until it expires.
func TestNoncesAreShared(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	backends := map[string]func(t *testing.T) (a, b gateway.Nonces){
		"memory": func(*testing.T) (gateway.Nonces, gateway.Nonces) {
			m := gateway.NewMemoryNonces(0)
			return m, m
		},
		"redis": func(t *testing.T) (gateway.Nonces, gateway.Nonces) {
			rdb, prefix := servicetest.Redis(t)
			return gateway.NewRedisNonces(rdb, prefix), gateway.NewRedisNonces(rdb, prefix)
		},
	}
	for name, open := range openers {
		backends[name] = func(t *testing.T) (gateway.Nonces, gateway.Nonces) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			return gateway.NewStoreNonces(s), gateway.NewStoreNonces(s)
		}
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			ctx := t.Context()
			claim := func(n gateway.Nonces, nonce string, now time.Time) bool {
				t.Helper()
				ok, err := n.Claim(ctx, nonce, now, now.Add(2*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			// Redis keeps its own clock: use now, so its expiry is real.
			now := t0
			if name == "redis" {
				now = time.Now()
			}
			if !claim(a, "00112233445566778899aabbccddeeff", now) {
				t.Fatal("a fresh nonce was refused")
			}
			if claim(b, "00112233445566778899aabbccddeeff", now.Add(time.Second)) || claim(a, "00112233445566778899aabbccddeeff", now.Add(time.Second)) {
				t.Fatal("a nonce was accepted twice")
			}
			if !claim(b, "ffeeddccbbaa99887766554433221100", now) {
				t.Fatal("another nonce was refused")
			}
			if name == "redis" {
				return
			}
			// After its expiry the first may be claimed again (its
			// signature's window closed long before).
			if !claim(b, "00112233445566778899aabbccddeeff", now.Add(3*time.Minute)) {
				t.Fatal("an expired nonce stays claimed")
			}
		})
	}
}

// TestStoreNoncesPrune: the database's expired nonces are deleted as calls
// come in, at most once a minute, besides the prune job.
func TestStoreNoncesPrune(t *testing.T) {
	t.Parallel()
	s := openers["sqlite"](t)
	t.Cleanup(func() { s.Close() })
	n := gateway.NewStoreNonces(s)
	now := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	for i, nonce := range []string{"a", "b", "c"} {
		at := now.Add(time.Duration(i) * 10 * time.Second)
		if ok, err := n.Claim(t.Context(), nonce, at, at.Add(gateway.PruneEvery)); !ok || err != nil {
			t.Fatalf("claim %s = %v, %v", nonce, ok, err)
		}
	}
	// At now+65s a has expired (b and c have not): the claim prunes it.
	if ok, err := n.Claim(t.Context(), "d", now.Add(65*time.Second), now.Add(3*time.Minute)); !ok || err != nil {
		t.Fatalf("claim d = %v, %v", ok, err)
	}
	if left, err := s.PruneGatewayNonces(t.Context(), now.Add(65*time.Second)); err != nil || left != 0 {
		t.Fatalf("expired nonces left after a claim = %d, %v", left, err)
	}
	if ok, _ := s.ClaimGatewayNonce(t.Context(), "c", now.Add(65*time.Second), now.Add(3*time.Minute)); ok {
		t.Fatal("an unexpired nonce was pruned")
	}
}

// TestMemoryNoncesRefuseWhenFull: the per-process memory never forgets a
// nonce early; when full of unexpired ones it refuses calls.
func TestMemoryNoncesRefuseWhenFull(t *testing.T) {
	t.Parallel()
	m := gateway.NewMemoryNonces(2)
	now := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	for _, n := range []string{"a", "b"} {
		if ok, err := m.Claim(context.Background(), n, now, now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("claim %s = %v, %v", n, ok, err)
		}
	}
	if ok, err := m.Claim(context.Background(), "c", now, now.Add(time.Minute)); ok || err == nil {
		t.Fatalf("claim past the limit = %v, %v", ok, err)
	}
	if ok, err := m.Claim(context.Background(), "c", now.Add(time.Minute), now.Add(2*time.Minute)); !ok || err != nil {
		t.Fatalf("claim after the others expired = %v, %v", ok, err)
	}
}
