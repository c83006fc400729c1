package llm

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts   = 3
	DefaultBaseDelay     = 500 * time.Millisecond
	DefaultMaxDelay      = 8 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// maxStatedWait bounds a Retry-After we report, so an absurd header cannot
// overflow a Duration.
const maxStatedWait = 24 * time.Hour

// RetryPolicy says when and how long to wait before sending a request again.
// Only errors marked Retryable are retried (429, 5xx including Anthropic's
// 529, broken connections, in-stream overload errors), and never once a
// stream has delivered text. The zero value is usable: every zero field
// takes its default.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first backoff; each retry doubles it, up to MaxDelay,
	// and jitter picks a wait between half and all of it.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps how long we wait when the provider says how long to
	// wait. Asked to wait longer, we give up at once and return the error with
	// its RetryAfter, so a job queue can come back later.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx is done. Tests inject one that records d
	// and returns at once. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock used for Retry-After dates. Default: time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1). Default: math/rand/v2.
	Jitter func() float64
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Jitter == nil {
		p.Jitter = rand.Float64
	}
	return p
}

// Backoff is the wait before attempt number attempt+1 when the provider did
// not say how long to wait: exponential, capped, with jitter.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	j := p.Jitter()
	if j < 0 || j >= 1 {
		j = 0
	}
	return d/2 + time.Duration(float64(d/2)*j)
}

// wait decides how long to wait after a failed attempt, and whether to retry
// at all.
func (p RetryPolicy) wait(attempt int, e *Error) (time.Duration, bool) {
	if !e.Retryable || attempt >= p.MaxAttempts {
		return 0, false
	}
	if e.RetryAfter > 0 {
		if e.RetryAfter > p.MaxRetryAfter {
			return 0, false
		}
		return e.RetryAfter, true
	}
	return p.Backoff(attempt), true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ParseRetryAfter reads how long a response asks us to wait: the
// retry-after-ms header (sent by OpenAI), else Retry-After in seconds or as
// an HTTP date. It returns 0 when there is no usable value. The result is
// bounded to a day.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < float64(maxStatedWait/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return parseRetryAfterValue(h.Get("Retry-After"), now)
}

func parseRetryAfterValue(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0) { // also false for NaN
			return 0
		}
		if secs >= maxStatedWait.Seconds() {
			return maxStatedWait
		}
		return time.Duration(secs * float64(time.Second))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxStatedWait)
}
