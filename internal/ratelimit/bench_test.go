package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// noop admits everything. It exists only as the benchmarks' reference and
// lives in a test file so that it can never be wired into a server.
type noop struct{}

func (noop) Allow(_ context.Context, p ratelimit.Policy, _ string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: true, Policy: p, Limit: p.Limit, Remaining: p.Limit - 1, Reset: p.Window}, nil
}

func (noop) Refund(context.Context, ratelimit.Policy, string) error { return nil }

// BenchmarkDecisions is B5: limiter decisions per second on each backend,
// from parallel callers over 1,024 keys with a 100/min policy (a mix of
// admissions and refusals, like a busy server), each reported with its ratio
// to the no-op limiter timed for the same number of decisions in the same
// run (x_noop).
func BenchmarkDecisions(b *testing.B) {
	b.Run("noop", func(b *testing.B) { benchDecisions(b, noop{}) })
	b.Run("memory", func(b *testing.B) {
		benchDecisions(b, ratelimit.NewMemory(ratelimit.MemoryOptions{}))
	})
	b.Run("redis", func(b *testing.B) {
		client, prefix := servicetest.Redis(b) // skips when Redis is not configured
		l, err := ratelimit.NewRedis(client, ratelimit.RedisOptions{Prefix: prefix, HashKey: secret.New("ratelimit-bench-hash-key-0123456789abcdef")})
		if err != nil {
			b.Fatal(err)
		}
		benchDecisions(b, l)
	})
}

func benchDecisions(b *testing.B, l ratelimit.Limiter) {
	const nKeys = 1024
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = ratelimit.Key(fmt.Sprint("bot_", i), "ch_1")
	}
	p := ratelimit.Policy{Name: "bench", Limit: 100, Window: time.Minute}
	ctx := context.Background()
	// Many callers per CPU, as on a server with many requests in flight:
	// a Redis round trip waits on the network, not the CPU.
	b.SetParallelism(8)
	loop := func(l ratelimit.Limiter) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := l.Allow(ctx, p, keys[i%nKeys]); err != nil {
					b.Error(err)
					return
				}
				i += 7 // spreads each goroutine over all keys
			}
		})
	}
	if _, err := l.Allow(ctx, p, "warm-up"); err != nil { // loads the Redis script
		b.Fatal(err)
	}
	b.ResetTimer()
	loop(noop{})
	reference := b.Elapsed()
	b.ResetTimer()
	loop(l)
	elapsed := b.Elapsed()
	b.StopTimer()
	if elapsed > 0 && reference > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
		b.ReportMetric(float64(elapsed)/float64(reference), "x_noop")
	}
}
