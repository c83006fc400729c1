package probe

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxPause bounds how long the probe waits for a rate-limit window to
// reset before it sends anyway (and the check sees the 429).
const maxPause = 70 * time.Second

// pacer keeps the probe under the deployment's rate limits: it learns from
// the RateLimit header (or the earlier draft's RateLimit-Remaining and
// RateLimit-Reset) which policy a route falls under and, once an
// answer says that policy's window is spent (r=0, or a 429 with
// Retry-After), holds further requests to the route until it resets.
type pacer struct {
	mu     sync.Mutex
	policy map[string]string    // route key -> policy name
	until  map[string]time.Time // policy name -> when its window resets
}

func newPacer() *pacer {
	return &pacer{policy: map[string]string{}, until: map[string]time.Time{}}
}

var (
	anyID       = regexp.MustCompile(`[a-z]{2,4}_[a-z2-7]{26}`)
	rateLimitRe = regexp.MustCompile(`^\s*"?([^";]+)"?\s*;(.*)$`)
	rateParamRe = regexp.MustCompile(`(?:^|;)\s*([rt])=(\d+)`)
)

// routeKey is a request's method and path with ids blanked: requests that
// share a key share a policy.
func routeKey(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	return method + " " + anyID.ReplaceAllString(path, "{id}")
}

// parseRateLimit reads `name;r=N;t=S` (draft-ietf-httpapi-ratelimit-headers).
func parseRateLimit(v string) (name string, remaining, reset int, ok bool) {
	m := rateLimitRe.FindStringSubmatch(v)
	if m == nil {
		return "", 0, 0, false
	}
	remaining, reset = -1, 0
	for _, p := range rateParamRe.FindAllStringSubmatch(m[2], -1) {
		n, err := strconv.Atoi(p[2])
		if err != nil {
			continue
		}
		if p[1] == "r" {
			remaining = n
		} else {
			reset = n
		}
	}
	return strings.TrimSpace(m[1]), remaining, reset, remaining >= 0
}

// wait holds a request to key until its policy's window resets, within
// maxPause and the context.
func (p *pacer) wait(ctx context.Context, key string) error {
	p.mu.Lock()
	until := p.until[p.policy[key]]
	p.mu.Unlock()
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	d = min(d, maxPause)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// observe learns from an answer to key.
func (p *pacer) observe(key string, status int, h http.Header) {
	name, remaining, reset, ok := parseRateLimit(h.Get("RateLimit"))
	if !ok {
		// The earlier draft's separate fields name no policy: the route
		// is its own.
		r, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining")))
		if err != nil {
			return
		}
		reset, _ = strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Reset")))
		name, remaining = "route "+key, r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.policy[key] = name
	if status == http.StatusTooManyRequests {
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err == nil && ra > reset {
			reset = ra
		}
	}
	if remaining == 0 || status == http.StatusTooManyRequests {
		// One second more: the window's reset is rounded to seconds.
		p.until[name] = time.Now().Add(time.Duration(reset+1) * time.Second)
	}
}
