package ratelimit_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/ratelimit/ratelimittest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// testHashKey keys the tests' key names, as the master-derived key does in
// a deployment.
var testHashKey = secret.New("ratelimit-test-hash-key-0123456789abcdef")

func newRedis(t *testing.T, client redis.Scripter, opts ratelimit.RedisOptions) *ratelimit.Redis {
	t.Helper()
	if opts.HashKey.IsZero() {
		opts.HashKey = testHashKey
	}
	l, err := ratelimit.NewRedis(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T, clock func() time.Time) ratelimit.Limiter {
		client, prefix := servicetest.Redis(t)
		return newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix, Clock: clock})
	})
}

// Redis keeps microseconds: a request admitted at t is refused again at
// t+Window-1µs and admitted at t+Window.
func TestRedisMicrosecondEdge(t *testing.T) {
	t.Parallel()
	client, prefix := servicetest.Redis(t)
	clk := ratelimittest.NewClock(ratelimittest.Start().Add(123456 * time.Microsecond))
	l := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix, Clock: clk.Now})
	p := ratelimit.Policy{Name: "micro", Limit: 1, Window: time.Minute}
	ctx := context.Background()
	if d, err := l.Allow(ctx, p, "k"); err != nil || !d.Allowed {
		t.Fatalf("first: %+v, %v", d, err)
	}
	clk.Advance(time.Minute - time.Microsecond)
	if d, err := l.Allow(ctx, p, "k"); err != nil || d.Allowed || d.RetryAfter != time.Microsecond {
		t.Fatalf("1µs before the edge: %+v, %v; want a refusal with RetryAfter 1µs", d, err)
	}
	clk.Advance(time.Microsecond)
	if d, err := l.Allow(ctx, p, "k"); err != nil || !d.Allowed {
		t.Fatalf("at the edge: %+v, %v; want admitted", d, err)
	}
}

// countingHook counts the commands a client sends, to prove one round trip
// per decision.
type countingHook struct{ cmds atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestRedisOneRoundTripPerDecision(t *testing.T) {
	t.Parallel()
	client, prefix := servicetest.Redis(t)
	hook := &countingHook{}
	client.AddHook(hook)
	l := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix})
	p := ratelimit.Policy{Name: "rtt", Limit: 5, Window: time.Minute}
	ctx := context.Background()
	if _, err := l.Allow(ctx, p, "warm-up"); err != nil { // may need EVAL once to load the script
		t.Fatal(err)
	}
	before := hook.cmds.Load()
	for range 20 { // both admissions and refusals
		if _, err := l.Allow(ctx, p, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := hook.cmds.Load() - before; n != 20 {
		t.Fatalf("20 decisions sent %d commands, want 20", n)
	}
}

func TestRedisKeysArePrefixedHashedAndExpire(t *testing.T) {
	t.Parallel()
	client, prefix := servicetest.Redis(t)
	l := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix})
	p := ratelimit.Policy{Name: "login_account", Limit: 2, Window: 90 * time.Second}
	ctx := context.Background()
	const account = "alice@example.com"
	for range 3 { // the last is a refusal, which must not drop the expiry
		if _, err := l.Allow(ctx, p, account); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("keys under the prefix: %q, want exactly one", keys)
	}
	k := keys[0]
	if !strings.HasPrefix(k, prefix+"login_account:") {
		t.Errorf("key %q does not start with the prefix and the policy name", k)
	}
	if strings.Contains(k, "alice") || strings.Contains(k, "example") {
		t.Errorf("key %q reveals the account it counts", k)
	}
	ttl, err := client.PTTL(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > p.Window {
		t.Errorf("key TTL %v, want in (0, %v]: a key without expiry would stay in Redis forever", ttl, p.Window)
	}

	keyed := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix + "hmac:", HashKey: secret.New("another-deployment-key-0123456789")})
	if _, err := keyed.Allow(ctx, p, account); err != nil {
		t.Fatal(err)
	}
	hk, err := client.Keys(ctx, prefix+"hmac:*").Result()
	if err != nil || len(hk) != 1 {
		t.Fatalf("HMAC keys: %q, %v", hk, err)
	}
	if strings.TrimPrefix(hk[0], prefix+"hmac:") == strings.TrimPrefix(k, prefix) {
		t.Errorf("under another hash key the key name %q is the same", hk[0])
	}
}

// Without an injected clock the Redis server's clock decides.
func TestRedisServerClock(t *testing.T) {
	t.Parallel()
	client, prefix := servicetest.Redis(t)
	l := newRedis(t, client, ratelimit.RedisOptions{Prefix: prefix})
	p := ratelimit.Policy{Name: "server", Limit: 2, Window: time.Hour}
	ctx := context.Background()
	for i := range 2 {
		if d, err := l.Allow(ctx, p, "k"); err != nil || !d.Allowed || d.Remaining != 1-i {
			t.Fatalf("request %d: %+v, %v", i+1, d, err)
		}
	}
	d, err := l.Allow(ctx, p, "k")
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Hour || d.Reset < d.RetryAfter || d.Reset > time.Hour {
		t.Fatalf("third request: %+v, want a refusal with 0 < RetryAfter <= Reset <= 1h", d)
	}
}

func TestRedisErrorIsReturnedNotPanicked(t *testing.T) {
	t.Parallel()
	client, prefix := servicetest.Redis(t)
	opts := *client.Options()
	opts.MaxRetries = -1
	dead := redis.NewClient(&opts)
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	l := newRedis(t, dead, ratelimit.RedisOptions{Prefix: prefix})
	d, err := l.Allow(context.Background(), ratelimit.Policy{Name: "dead", Limit: 1, Window: time.Minute}, "secret-key-value")
	if err == nil || d.Allowed {
		t.Fatalf("closed client: %+v, %v; want an error and no admission", d, err)
	}
	if strings.Contains(err.Error(), "secret-key-value") {
		t.Fatalf("error %q contains the key", err)
	}
}

func TestNewRedisNeedsClient(t *testing.T) {
	t.Parallel()
	if _, err := ratelimit.NewRedis(nil, ratelimit.RedisOptions{HashKey: testHashKey}); err == nil {
		t.Fatal("NewRedis(nil) succeeded")
	}
}

// Key names in Redis are always keyed hashes: without a hash key (or with a
// short one) the limiter refuses to start, so someone who can read Redis
// can never confirm a guessed e-mail address or IP by hashing it.
func TestNewRedisNeedsKeyedHash(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, k := range []secret.Secret{{}, secret.New("short")} {
		if _, err := ratelimit.NewRedis(client, ratelimit.RedisOptions{HashKey: k}); err == nil {
			t.Errorf("NewRedis with a %d-byte hash key succeeded", len(k.Reveal()))
		}
	}
}
