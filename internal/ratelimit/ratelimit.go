package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Bounds on a policy. MaxLimit bounds the memory of one key's sliding log
// (8 bytes per admitted request in Memory, one sorted-set member in Redis);
// MaxWindow bounds how long that log is kept.
const (
	MaxLimit      = 10_000
	MinWindow     = time.Second
	MaxWindow     = 24 * time.Hour
	maxPolicyName = 64
)

// Policy is one limit: at most Limit requests per Window for each key. Name
// identifies the policy in the RateLimit headers and isolates its keys from
// those of every other policy.
type Policy struct {
	Name   string
	Limit  int
	Window time.Duration
}

// ErrInvalidPolicy is wrapped by every error about a malformed Policy. Such a
// policy is a programming or configuration error: it is never treated as
// "unlimited".
var ErrInvalidPolicy = errors.New("invalid rate-limit policy")

// Validate reports why p cannot be enforced, or nil. The name must be 1 to 64
// characters of [a-z0-9_.-] so it can be written verbatim into a header and a
// Redis key; the window must be whole milliseconds so both backends measure
// the same window.
func (p Policy) Validate() error {
	if p.Name == "" || len(p.Name) > maxPolicyName {
		return fmt.Errorf("%w: name must be 1 to %d characters", ErrInvalidPolicy, maxPolicyName)
	}
	for i := 0; i < len(p.Name); i++ {
		c := p.Name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: name %q may contain only a-z, 0-9, '_', '.' and '-'", ErrInvalidPolicy, p.Name)
		}
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		return fmt.Errorf("%w: %s: limit %d is not between 1 and %d", ErrInvalidPolicy, p.Name, p.Limit, MaxLimit)
	}
	if p.Window < MinWindow || p.Window > MaxWindow {
		return fmt.Errorf("%w: %s: window %v is not between %v and %v", ErrInvalidPolicy, p.Name, p.Window, MinWindow, MaxWindow)
	}
	if p.Window%time.Millisecond != 0 {
		return fmt.Errorf("%w: %s: window %v is not a whole number of milliseconds", ErrInvalidPolicy, p.Name, p.Window)
	}
	return nil
}

// String formats p as its name and rate, e.g. "webhook 120/1m0s".
func (p Policy) String() string {
	return p.Name + " " + FormatRate(p.Limit, p.Window)
}

// Decision is the outcome of one Allow call. Durations are relative to the
// moment of the decision.
type Decision struct {
	// Allowed reports whether the request was admitted (and counted).
	Allowed bool
	// Policy is the policy the decision was taken under.
	Policy Policy
	// Limit is Policy.Limit, repeated for the headers.
	Limit int
	// Remaining is how many more requests would be admitted right now.
	Remaining int
	// RetryAfter is zero when Allowed; on a refusal it is the time until the
	// oldest counted request leaves the window and one more would be admitted.
	RetryAfter time.Duration
	// Reset is the time until every request counted so far has left the
	// window, that is until the full Limit is available again.
	Reset time.Duration
}

// Limiter takes rate-limit decisions. Allow counts the request against key
// under p when it is admitted; a refused request is not counted. Keys of
// different policy names never share a count. An error means no decision was
// taken (the policy is invalid or the backend failed); callers must then
// refuse, or use Fallback, which turns backend failures into decisions.
//
// Refund takes back one admitted request of key under p: the most recent
// one still inside the window, or nothing when none is. It lets a caller
// reserve a unit of budget before an outcome is known and give it back when
// the outcome should not count (a correct password does not spend the
// budget of failed log-ins), so that concurrent requests can never all pass
// a check that only counts afterwards. A caller refunds at most once per
// admitted request; an error leaves the request counted, which only refuses
// more.
type Limiter interface {
	Allow(ctx context.Context, p Policy, key string) (Decision, error)
	Refund(ctx context.Context, p Policy, key string) error
}

// Key joins parts into one unambiguous key: each part is length-prefixed, so
// ("a:b", "c") and ("a", "b:c") give different keys. Use it for limits per
// several things at once, such as a bot and a channel.
func Key(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// IPKey returns the key for limits per client address. IPv4 addresses
// (including IPv4-mapped IPv6) are used whole; IPv6 addresses are reduced to
// their /64, because one client is routinely given a whole /64 and could
// otherwise rotate through 2^64 keys to escape the limit.
func IPKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, err := addr.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return addr.String()
}
