// Package servicetest gives tests their real PostgreSQL and Redis: it reads
// PALISADE_TEST_POSTGRES_URL and PALISADE_TEST_REDIS_URL, skips with a clear
// message when one is not set, and fails instead when
// PALISADE_TEST_REQUIRE_SERVICES=1. Every call gets its own randomly named
// database or key prefix, dropped when the test ends, so runs never see each
// other's data.
//
// It must never be imported by non-test code.
package servicetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	EnvPostgres = "PALISADE_TEST_POSTGRES_URL"
	EnvRedis    = "PALISADE_TEST_REDIS_URL"
	EnvRequire  = "PALISADE_TEST_REQUIRE_SERVICES"
)

// Required reports whether missing services must fail the run.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// missing skips, or fails when services are required, naming the service.
func missing(t testing.TB, service, env, detail string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (%s=1) but not usable: %s (set %s)", service, EnvRequire, detail, env)
	}
	t.Skipf("skipping: %s not configured (%s); set it to run this test against real %s", service, detail, service)
}

// RandomName returns a short lowercase random name with the given prefix,
// suitable for a database, role or key prefix.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Redis returns a client to the test Redis and a fresh key prefix. Keys under
// the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv(EnvRedis)
	if url == "" {
		missing(t, "Redis", EnvRedis, EnvRedis+" is empty")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		missing(t, "Redis", EnvRedis, "cannot parse "+EnvRedis)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		missing(t, "Redis", EnvRedis, "ping failed: "+err.Error())
	}
	prefix := RandomName("palisadetest:") + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		_ = client.Close()
	})
	return client, prefix
}
