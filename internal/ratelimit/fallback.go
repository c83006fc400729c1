package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// FallbackOptions configure NewFallback.
type FallbackOptions struct {
	// Logger receives one warning when the primary fails and one notice when
	// it recovers. Required: an outage must never go unreported.
	Logger *slog.Logger
	// Clock is the time source; time.Now by default.
	Clock func() time.Time
	// RetryInterval is how long to use the backup alone after a failure
	// before letting one request try the primary again (default 5s). It keeps
	// an unreachable Redis from adding its time-out to every request.
	RetryInterval time.Duration
	// Timeout bounds each call to the primary (default 250ms).
	Timeout time.Duration
}

// Fallback takes decisions from a primary limiter (Redis) and, whenever that
// fails, from a per-process backup (Memory). While degraded it says so: once
// in the log per outage and through Degraded for /readyz. It never returns a
// backend error: the only error Allow returns is ErrInvalidPolicy.
type Fallback struct {
	primary, backup Limiter
	log             *slog.Logger
	clock           func() time.Time
	retry           time.Duration
	timeout         time.Duration

	mu        sync.Mutex
	degraded  bool
	since     time.Time
	nextProbe time.Time
	probing   bool
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback over primary and backup. The backup should
// be a Memory limiter with the same clock.
func NewFallback(primary, backup Limiter, opts FallbackOptions) (*Fallback, error) {
	if primary == nil || backup == nil {
		return nil, errors.New("ratelimit: NewFallback needs a primary and a backup limiter")
	}
	if opts.Logger == nil {
		return nil, errors.New("ratelimit: NewFallback needs a logger, so that an outage is reported")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 250 * time.Millisecond
	}
	return &Fallback{
		primary: primary,
		backup:  backup,
		log:     opts.Logger,
		clock:   opts.Clock,
		retry:   opts.RetryInterval,
		timeout: opts.Timeout,
	}, nil
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, p Policy, key string) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	if f.usePrimary() {
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		d, err := f.primary.Allow(pctx, p, key)
		cancel()
		if err == nil {
			f.succeeded()
			return d, nil
		}
		if ctx.Err() != nil {
			// The caller gave up (a client hung up): that says nothing about
			// the primary, so it must not start an outage.
			f.abandoned()
		} else {
			f.failed(err)
		}
	}
	d, err := f.backup.Allow(context.WithoutCancel(ctx), p, key)
	if err != nil {
		// Cannot happen with Memory; if it does, refuse rather than admit.
		f.log.LogAttrs(ctx, slog.LevelError, "rate limiter backup failed; refusing the request",
			slog.String("policy", p.Name), slog.String("error", err.Error()))
		return Decision{Policy: p, Limit: p.Limit, RetryAfter: time.Second, Reset: p.Window}, nil
	}
	return d, nil
}

// Refund implements Limiter: it refunds on the primary while that is
// healthy, and on the backup while degraded or when the primary fails. A
// request admitted by one and refunded on the other (the switch happened in
// between) frees one more unit there than it used, once per switch.
func (f *Fallback) Refund(ctx context.Context, p Policy, key string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	degraded := f.degraded
	f.mu.Unlock()
	if !degraded {
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		err := f.primary.Refund(pctx, p, key)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil {
			f.failed(err)
		}
	}
	return f.backup.Refund(context.WithoutCancel(ctx), p, key)
}

// usePrimary reports whether this request should try the primary: always
// when healthy, and while degraded only one request at a time, once per
// RetryInterval.
func (f *Fallback) usePrimary() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return true
	}
	if f.probing || f.clock().Before(f.nextProbe) {
		return false
	}
	f.probing = true
	return true
}

func (f *Fallback) succeeded() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
	if !f.degraded {
		return
	}
	f.degraded = false
	f.log.LogAttrs(context.Background(), slog.LevelInfo, "rate limiter recovered: decisions are shared through Redis again",
		slog.Time("degraded_since", f.since), slog.Duration("outage", f.clock().Sub(f.since)))
}

func (f *Fallback) abandoned() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
}

func (f *Fallback) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock()
	f.probing = false
	f.nextProbe = now.Add(f.retry)
	if f.degraded {
		return
	}
	f.degraded = true
	f.since = now
	f.log.LogAttrs(context.Background(), slog.LevelWarn,
		"rate limiter degraded: Redis failed, limits are now enforced per process until it recovers",
		slog.String("error", err.Error()), slog.Duration("retry_interval", f.retry))
}

// Probe lets a health check, rather than a request, find out that the
// primary is back: while degraded and once the retry interval has passed
// (and no request is probing), it calls ping with the primary's time-out
// and returns to the primary when ping succeeds. Without it an idle
// process would stay degraded, and /readyz say so, until the next limited
// request after the outage. It reports Degraded afterwards.
func (f *Fallback) Probe(ctx context.Context, ping func(context.Context) error) (bool, string) {
	if f.probeDue() {
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		err := ping(pctx)
		cancel()
		switch {
		case err == nil:
			f.succeeded()
		case ctx.Err() != nil:
			f.abandoned()
		default:
			f.failed(err)
		}
	}
	return f.Degraded()
}

// probeDue claims the probe of a degraded limiter whose retry interval has
// passed; unlike usePrimary it never claims one while healthy.
func (f *Fallback) probeDue() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded || f.probing || f.clock().Before(f.nextProbe) {
		return false
	}
	f.probing = true
	return true
}

// Degraded reports whether decisions are currently taken by the per-process
// backup, with a client-safe explanation for /readyz. The error that caused
// it is only in the log.
func (f *Fallback) Degraded() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return false, ""
	}
	return true, "rate limiter: Redis unavailable since " + f.since.UTC().Format(time.RFC3339) +
		"; limits are enforced per process"
}
