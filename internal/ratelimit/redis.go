package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/secret"
)

// slidingLog is the whole decision, run atomically by Redis. The key is a
// sorted set of admission times in microseconds (scores) with unique members.
//
//	KEYS[1]  the key
//	ARGV[1]  now in microseconds, or "-1" to use the Redis server's clock
//	ARGV[2]  window in microseconds
//	ARGV[3]  limit
//	ARGV[4]  a member unique to this request
//
// It returns {allowed (0/1), count after the decision, retry after µs,
// reset µs}. Timestamps reach redis.call as Lua numbers, which Redis formats
// at full double precision; they must never go through tostring or "..",
// which keep only 14 significant digits of a 16-digit microsecond time.
const slidingLog = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > now then
  now = tonumber(last[2])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
  return {1, count + 1, 0, window}
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
return {0, count, tonumber(oldest[2]) + window - now, tonumber(newest[2]) + window - now}
`

// refundNewest is Refund, run atomically by Redis: it drops the newest
// admission of the key still inside the window.
//
//	KEYS[1]  the key
//	ARGV[1]  now in microseconds, or "-1" to use the Redis server's clock
//	ARGV[2]  window in microseconds
//
// It returns 1 when an admission was dropped, else 0.
const refundNewest = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if not last[1] then
  return 0
end
if tonumber(last[2]) > now then
  now = tonumber(last[2])
end
if tonumber(last[2]) <= now - window then
  return 0
end
redis.call('ZREM', key, last[1])
return 1
`

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// Prefix starts every key this limiter writes (default "palisade:ratelimit:").
	Prefix string
	// Clock is the time source. When nil, the Redis server's clock is used,
	// so that several processes share one notion of time and clock skew
	// between them cannot widen a window.
	Clock func() time.Time
	// HashKey keys the HMAC that names each sorted set, so that someone
	// who can read Redis cannot confirm a guessed e-mail address or IP by
	// hashing it. Required, at least MinHashKeyLen bytes; all processes
	// sharing limits must use the same one.
	HashKey secret.Secret
}

// MinHashKeyLen is the shortest HashKey NewRedis accepts.
const MinHashKeyLen = 32

// Redis is the Redis-backed sliding-log limiter. Each decision is one
// EVALSHA of one script touching one key (so it works on Redis Cluster too);
// every key expires one window after its latest admission, so Redis never
// holds more than the live logs.
//
// For a context deadline to bound a call, the client needs
// ContextTimeoutEnabled; Fallback relies on that.
type Redis struct {
	client   redis.Scripter
	script   *redis.Script
	refund   *redis.Script
	prefix   string
	clock    func() time.Time
	hashKey  []byte
	instance string
	seq      atomic.Uint64
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter using client, which may be a *redis.Client, a
// *redis.ClusterClient or a *redis.Ring.
func NewRedis(client redis.Scripter, opts RedisOptions) (*Redis, error) {
	if client == nil {
		return nil, errors.New("ratelimit: NewRedis needs a Redis client")
	}
	if len(opts.HashKey.Reveal()) < MinHashKeyLen {
		return nil, fmt.Errorf("ratelimit: NewRedis needs a hash key of at least %d bytes", MinHashKeyLen)
	}
	if opts.Prefix == "" {
		opts.Prefix = "palisade:ratelimit:"
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("ratelimit: making an instance id: %w", err)
	}
	r := &Redis{
		client:   client,
		script:   redis.NewScript(slidingLog),
		refund:   redis.NewScript(refundNewest),
		prefix:   opts.Prefix,
		clock:    opts.Clock,
		instance: hex.EncodeToString(id[:]),
	}
	r.hashKey = []byte(opts.HashKey.Reveal())
	return r, nil
}

// redisKey names the sorted set of (policy, key): the prefix, the policy name
// for operators, and 128 bits of a keyed hash of both, which keeps the raw key (an
// IP, an e-mail) out of Redis and bounds the name's length.
func (r *Redis) redisKey(policy, key string) string {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(policy)))
	mac := hmac.New(sha256.New, r.hashKey)
	mac.Write(n[:])
	mac.Write([]byte(policy))
	mac.Write([]byte(key))
	sum := mac.Sum(nil)
	return r.prefix + policy + ":" + hex.EncodeToString(sum[:16])
}

// Allow implements Limiter with one round trip to Redis (two only the first
// time after Redis lost its script cache, when EVALSHA falls back to EVAL).
func (r *Redis) Allow(ctx context.Context, p Policy, key string) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	now := "-1"
	if r.clock != nil {
		now = strconv.FormatInt(r.clock().UnixMicro(), 10)
	}
	member := r.instance + ":" + strconv.FormatUint(r.seq.Add(1), 36)
	res, err := r.script.Run(ctx, r.client, []string{r.redisKey(p.Name, key)},
		now, p.Window.Microseconds(), p.Limit, member).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis decision for policy %s: %w", p.Name, err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis decision for policy %s: script returned %d values, want 4", p.Name, len(res))
	}
	d := Decision{
		Allowed:    res[0] == 1,
		Policy:     p,
		Limit:      p.Limit,
		Remaining:  max(p.Limit-int(res[1]), 0),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		Reset:      time.Duration(res[3]) * time.Microsecond,
	}
	return d, nil
}

// Refund implements Limiter with one round trip to Redis.
func (r *Redis) Refund(ctx context.Context, p Policy, key string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	now := "-1"
	if r.clock != nil {
		now = strconv.FormatInt(r.clock().UnixMicro(), 10)
	}
	if err := r.refund.Run(ctx, r.client, []string{r.redisKey(p.Name, key)}, now, p.Window.Microseconds()).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis refund for policy %s: %w", p.Name, err)
	}
	return nil
}
