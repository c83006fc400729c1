package llm

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fraction", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"spaces", map[string]string{"Retry-After": " 3 "}, 3 * time.Second},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"zero", map[string]string{"Retry-After": "0"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"huge", map[string]string{"Retry-After": "99999999999999999999"}, maxStatedWait},
		{"far date", map[string]string{"Retry-After": now.AddDate(5, 0, 0).Format(http.TimeFormat)}, maxStatedWait},
		{"ms wins", map[string]string{"Retry-After": "9", "Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{"bad ms falls back", map[string]string{"Retry-After": "9", "Retry-After-Ms": "x"}, 9 * time.Second},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := ParseRetryAfter(h, now); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 250 * time.Millisecond},
		{1, 0.5, 375 * time.Millisecond},
		{2, 0, 500 * time.Millisecond},
		{3, 0, time.Second},
		{10, 0, 4 * time.Second},                           // capped at MaxDelay 8s, then halved
		{10, 0.999999, 8*time.Second - 4*time.Microsecond}, // never above the cap
		{1, 7, 250 * time.Millisecond},                     // a broken jitter source counts as 0
	}
	for _, tc := range cases {
		p := RetryPolicy{Jitter: func() float64 { return tc.jitter }}
		if got := p.Backoff(tc.attempt); got != tc.want {
			t.Errorf("attempt %d jitter %v: got %v, want %v", tc.attempt, tc.jitter, got, tc.want)
		}
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Jitter: func() float64 { return 0 }}.withDefaults()
	cases := []struct {
		name    string
		attempt int
		e       Error
		want    time.Duration
		retry   bool
	}{
		{"not retryable", 1, Error{Status: 400}, 0, false},
		{"backoff", 1, Error{Status: 500, Retryable: true}, 250 * time.Millisecond, true},
		{"stated wait", 1, Error{Status: 429, Retryable: true, RetryAfter: 7 * time.Second}, 7 * time.Second, true},
		{"stated wait over the cap", 1, Error{Status: 429, Retryable: true, RetryAfter: 61 * time.Second}, 0, false},
		{"attempts spent", DefaultMaxAttempts, Error{Status: 500, Retryable: true}, 0, false},
	}
	for _, tc := range cases {
		d, ok := p.wait(tc.attempt, &tc.e)
		if d != tc.want || ok != tc.retry {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, d, ok, tc.want, tc.retry)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("7", "")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "")
	f.Add("", "1500")
	f.Fuzz(func(t *testing.T, ra, ms string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("Retry-After-Ms", ms)
		if d := ParseRetryAfter(h, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); d < 0 || d > maxStatedWait {
			t.Fatalf("wait %v out of bounds for %q / %q", d, ra, ms)
		}
	})
}
