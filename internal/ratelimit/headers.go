package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// WriteHeaders sets the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers for d, and Retry-After when d is a
// refusal, replacing any earlier values:
//
//	RateLimit-Policy: "webhook";q=120;w=60
//	RateLimit: "webhook";r=0;t=12
//	Retry-After: 12
//
// q is the limit, w the window in seconds, r the remaining quota and t the
// seconds until the full quota is back (Decision.Reset). Seconds are rounded
// up, and a refusal never says 0, so a client that waits as told is not
// refused again for having come back early.
func WriteHeaders(h http.Header, d Decision) {
	name := strconv.Quote(d.Policy.Name) // Validate restricts names to [a-z0-9_.-]: quoting is exact sf-string syntax.
	h.Set("RateLimit-Policy", name+";q="+strconv.Itoa(d.Limit)+";w="+strconv.FormatInt(ceilSeconds(d.Policy.Window), 10))
	reset := ceilSeconds(d.Reset)
	if !d.Allowed {
		retry := max(ceilSeconds(d.RetryAfter), 1)
		reset = max(reset, retry)
		h.Set("Retry-After", strconv.FormatInt(retry, 10))
	} else {
		h.Del("Retry-After")
	}
	h.Set("RateLimit", name+";r="+strconv.Itoa(max(d.Remaining, 0))+";t="+strconv.FormatInt(reset, 10))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Strictest picks the decision whose headers a response should carry when a
// request was checked against several policies (a log-in is limited per IP
// and per account): the refusal that lasts longest if any was refused,
// otherwise the one with the least remaining quota. It returns the zero
// Decision when given none.
func Strictest(ds ...Decision) Decision {
	var best Decision
	for i, d := range ds {
		switch {
		case i == 0:
			best = d
		case !d.Allowed && (best.Allowed || d.RetryAfter > best.RetryAfter):
			best = d
		case d.Allowed && best.Allowed && d.Remaining < best.Remaining:
			best = d
		}
	}
	return best
}
