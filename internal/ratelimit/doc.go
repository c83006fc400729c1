// Package ratelimit decides whether a request may proceed under a sliding
// window policy ("at most Limit requests per Window for this key"), with two
// interchangeable backends: Memory for embedded, single-process deployments
// and Redis (one atomic Lua script, one round trip per decision) for several
// processes sharing limits. Fallback puts Memory behind Redis so an outage
// degrades to per-process limits that are logged and reported, never to no
// limits at all. It also holds the route classes of SPEC R4 with their
// defaults, the rate syntax ("5/min") and the RateLimit response headers.
//
// # Exactness
//
// Both backends keep a sliding log: the time of every admitted request that
// is still inside the window. A request at time t is admitted if and only if
// fewer than Limit admitted requests lie in the half-open interval
// (t-Window, t]; an admitted request therefore stops counting exactly Window
// after it was admitted. It follows that no interval of length Window ever
// contains more than Limit admitted requests of one key and policy. Memory
// works in nanoseconds; Redis stores times as whole microseconds (a score is
// a float64 and microseconds since 1970 stay below 2^53), so there the
// guarantee holds on a clock truncated to the microsecond. Time for one key
// never runs backwards: a clock that steps back is treated as standing still
// at the latest admitted request, which can only refuse more, never admit more.
//
// The stated approximations, all of which only ever refuse more or apply
// only while degraded, are: a Redis command that go-redis retries after a
// network error may be counted twice; Memory forgets a live key only when
// MaxKeys is reached (counted in Stats); and while Fallback is degraded each
// process enforces the limits on its own, so N processes admit up to N×Limit
// cluster-wide, and a window straddling the switch back to Redis may admit up
// to Limit more per process. Refund takes back the newest admission of a key,
// which under concurrency may be another caller's newer one than the
// refunder's own: the unit left counting is then the older one, which leaves
// the window earlier by the time between the two admissions.
//
// It must never fail open silently: an invalid policy is an error, not an
// allowance; an unreachable Redis is a logged, reported degradation; and no
// key, address or account name it is given ever appears in a log line, an
// error or a Redis key name (Redis keys carry a hash of the key).
package ratelimit
