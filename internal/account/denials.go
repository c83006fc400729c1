package account

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Refusals by the rate limiter are security events (SPEC R7) but must not
// become a way to make the platform chain's single writer append on every
// unauthenticated request. So refusals are recorded per refusing limit and
// key (an address, an account, a device) and per window of that limit:
//
//   - the first refusal of a window writes one entry, through a gate that is
//     itself a limit of one per window (in the shared limiter, so processes
//     sharing Redis share the gate);
//   - later refusals of that window only add to a count in this process's
//     memory;
//   - that count rides on the key's next entry, as "refusals_not_written",
//     when a later window is refused again.
//
// Writes per key and window are thus at most one (one per process while
// the limiter is per process), whatever the flood. The count is a lower
// bound: it is kept per process, is lost when the process stops, and stops
// growing for new keys once maxDenialKeys are being counted.

// maxDenialKeys bounds the keys whose unwritten refusals are counted.
const maxDenialKeys = 16384

// denialGate is the policy of the gate for refusals under p: one written
// entry per key and window of p.
func denialGate(p ratelimit.Policy) ratelimit.Policy {
	return ratelimit.Policy{Name: "denial_audit." + p.Name, Limit: 1, Window: p.Window}
}

// denials counts the refusals not written, per gate key.
type denials struct {
	mu     sync.Mutex
	counts map[string]int
}

func (d *denials) add(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counts == nil {
		d.counts = make(map[string]int)
	}
	if _, ok := d.counts[key]; ok || len(d.counts) < maxDenialKeys {
		d.counts[key]++
	}
}

func (d *denials) take(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.counts[key]
	delete(d.counts, key)
	return n
}

// recordDenial records a refusal of e's action by the limiter, as decided
// by err (a *RateLimitError), aggregated as described above. e is the
// entry the first refusal of the window writes; its outcome is set here.
func (s *Service) recordDenial(ctx context.Context, c Client, err error, e audit.Entry) {
	var rl *RateLimitError
	if !errors.As(err, &rl) || s.o.Audit == nil {
		return
	}
	p := rl.Decision.Policy
	gateKey := ratelimit.Key(p.Name, rl.key)
	d, gerr := s.o.Limiter.Allow(ctx, denialGate(p), gateKey)
	if gerr == nil && !d.Allowed {
		s.denials.add(gateKey)
		return
	}
	// Admitted, or the gate failed: write (a failing limiter must not
	// silence the audit log; the refusal it guards is limited already).
	e.Outcome = audit.OutcomeDenied
	detail := map[string]string{"limit": p.Name}
	for k, v := range e.Detail {
		detail[k] = v
	}
	if n := s.denials.take(gateKey); n > 0 {
		detail["refusals_not_written"] = strconv.Itoa(n)
	}
	e.Detail = detail
	s.recordAccount(ctx, c, e)
}
