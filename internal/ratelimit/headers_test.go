package ratelimit_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
)

func TestWriteHeaders(t *testing.T) {
	t.Parallel()
	webhook := ratelimit.Policy{Name: "webhook", Limit: 120, Window: time.Minute}
	odd := ratelimit.Policy{Name: "odd", Limit: 5, Window: 1500 * time.Millisecond}
	for _, tc := range []struct {
		name                   string
		d                      ratelimit.Decision
		policy, limit, retryAt string
	}{
		{"admitted", ratelimit.Decision{Allowed: true, Policy: webhook, Limit: 120, Remaining: 119, Reset: time.Minute},
			`"webhook";q=120;w=60`, `"webhook";r=119;t=60`, ""},
		{"refused 12s", ratelimit.Decision{Policy: webhook, Limit: 120, RetryAfter: 12 * time.Second, Reset: 30 * time.Second},
			`"webhook";q=120;w=60`, `"webhook";r=0;t=30`, "12"},
		{"refused rounds up", ratelimit.Decision{Policy: webhook, Limit: 120, RetryAfter: 11*time.Second + time.Nanosecond, Reset: 11*time.Second + time.Nanosecond},
			`"webhook";q=120;w=60`, `"webhook";r=0;t=12`, "12"},
		{"refused for 1ms is 1s, never 0", ratelimit.Decision{Policy: webhook, Limit: 120, RetryAfter: time.Millisecond, Reset: time.Millisecond},
			`"webhook";q=120;w=60`, `"webhook";r=0;t=1`, "1"},
		{"refusal with no RetryAfter still waits", ratelimit.Decision{Policy: webhook, Limit: 120},
			`"webhook";q=120;w=60`, `"webhook";r=0;t=1`, "1"},
		{"window rounds up", ratelimit.Decision{Allowed: true, Policy: odd, Limit: 5, Remaining: 4, Reset: odd.Window},
			`"odd";q=5;w=2`, `"odd";r=4;t=2`, ""},
	} {
		h := http.Header{}
		h.Set("Retry-After", "999") // a stale value must not survive an admission
		ratelimit.WriteHeaders(h, tc.d)
		if got := h.Get("RateLimit-Policy"); got != tc.policy {
			t.Errorf("%s: RateLimit-Policy %q, want %q", tc.name, got, tc.policy)
		}
		if got := h.Get("RateLimit"); got != tc.limit {
			t.Errorf("%s: RateLimit %q, want %q", tc.name, got, tc.limit)
		}
		if got := h.Get("Retry-After"); got != tc.retryAt {
			t.Errorf("%s: Retry-After %q, want %q", tc.name, got, tc.retryAt)
		}
		if n := len(h.Values("RateLimit")); n != 1 {
			t.Errorf("%s: %d RateLimit fields", tc.name, n)
		}
	}
}

func TestStrictest(t *testing.T) {
	t.Parallel()
	ok5 := ratelimit.Decision{Allowed: true, Remaining: 5}
	ok1 := ratelimit.Decision{Allowed: true, Remaining: 1}
	no10 := ratelimit.Decision{RetryAfter: 10 * time.Second}
	no30 := ratelimit.Decision{RetryAfter: 30 * time.Second}
	for _, tc := range []struct {
		name string
		in   []ratelimit.Decision
		want ratelimit.Decision
	}{
		{"none", nil, ratelimit.Decision{}},
		{"one", []ratelimit.Decision{ok5}, ok5},
		{"least remaining", []ratelimit.Decision{ok5, ok1}, ok1},
		{"refusal beats admission", []ratelimit.Decision{ok1, no10, ok5}, no10},
		{"refusal first", []ratelimit.Decision{no10, ok1}, no10},
		{"longest refusal", []ratelimit.Decision{no10, no30, ok1}, no30},
	} {
		if got := ratelimit.Strictest(tc.in...); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	distinct := [][]string{{"a:b", "c"}, {"a", "b:c"}, {"a", "b", "c"}, {"abc"}, {"1:a"}, {""}, {}, {"", ""}}
	seen := map[string][]string{}
	for _, parts := range distinct {
		k := ratelimit.Key(parts...)
		if prev, dup := seen[k]; dup {
			t.Errorf("Key(%q) == Key(%q) == %q", parts, prev, k)
		}
		seen[k] = parts
	}
}

func TestIPKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	} {
		if got := ratelimit.IPKey(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("IPKey(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
