package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		limit  int
		window time.Duration
	}{
		{"5/min", 5, time.Minute},
		{"120/1m", 120, time.Minute},
		{"60/s", 60, time.Second},
		{"60/sec", 60, time.Second},
		{"1/second", 1, time.Second},
		{"20/m", 20, time.Minute},
		{"20/minute", 20, time.Minute},
		{"20/MIN", 20, time.Minute},
		{"10/h", 10, time.Hour},
		{"10/hr", 10, time.Hour},
		{"10/hour", 10, time.Hour},
		{"100/d", 100, 24 * time.Hour},
		{"100/day", 100, 24 * time.Hour},
		{"5/30s", 5, 30 * time.Second},
		{"5/1h30m", 5, 90 * time.Minute},
		{"10000/24h", 10000, 24 * time.Hour},
		{" 5 / min ", 5, time.Minute},
		{"007/min", 7, time.Minute},
	} {
		limit, window, err := ratelimit.ParseRate(tc.in)
		if err != nil || limit != tc.limit || window != tc.window {
			t.Errorf("ParseRate(%q) = %d, %v, %v; want %d, %v", tc.in, limit, window, err, tc.limit, tc.window)
		}
	}
}

func TestParseRateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, mention string }{
		{"", "COUNT/PERIOD"},
		{"5", "COUNT/PERIOD"},
		{"5 per min", "COUNT/PERIOD"},
		{"/min", "missing count"},
		{"5/", "missing period"},
		{"0/min", "between 1 and"},
		{"10001/min", "between 1 and"},
		{"99999999999999999999/min", "between 1 and"},
		{"-5/min", "whole number"},
		{"+5/min", "whole number"},
		{"5.5/min", "whole number"},
		{"５/min", "whole number"},
		{"5/fortnight", "unknown period"},
		{"5/-1m", "unknown period"},
		{"5/+1m", "unknown period"},
		{"5/1x", "neither a unit nor a duration"},
		{"5/500ms", "between"},
		{"5/25h", "between"},
		{"5/1500ms", "whole number of seconds"},
		{"5/min/h", "unknown period"},
		{"5/1m/", "neither"},
		{strings.Repeat("9", 100) + "/min", "longer than"},
	} {
		_, _, err := ratelimit.ParseRate(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseRate(%q) error %v, want one mentioning %q", tc.in, err, tc.mention)
		}
	}
}

func TestFormatRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit  int
		window time.Duration
		want   string
	}{
		{5, time.Minute, "5/min"},
		{60, time.Second, "60/s"},
		{10, time.Hour, "10/h"},
		{100, 24 * time.Hour, "100/d"},
		{5, 30 * time.Second, "5/30s"},
		{5, 90 * time.Minute, "5/1h30m0s"},
	} {
		got := ratelimit.FormatRate(tc.limit, tc.window)
		if got != tc.want {
			t.Errorf("FormatRate(%d, %v) = %q, want %q", tc.limit, tc.window, got, tc.want)
		}
		if l, w, err := ratelimit.ParseRate(got); err != nil || l != tc.limit || w != tc.window {
			t.Errorf("ParseRate(FormatRate) = %d, %v, %v", l, w, err)
		}
	}
}

// FuzzParseRate: any input is either refused or gives a rate that is a valid
// policy and survives formatting and parsing again unchanged.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"5/min", "120/1m", "60/s", "1/1h0m1s", "0/min", "5/-1s", "5/1e9h", " 9 / d "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		limit, window, err := ratelimit.ParseRate(s)
		if err != nil {
			return
		}
		if err := (ratelimit.Policy{Name: "fuzz", Limit: limit, Window: window}).Validate(); err != nil {
			t.Fatalf("ParseRate(%q) = %d, %v: not a valid policy: %v", s, limit, window, err)
		}
		if window%time.Second != 0 {
			t.Fatalf("ParseRate(%q) window %v is not whole seconds", s, window)
		}
		l2, w2, err := ratelimit.ParseRate(ratelimit.FormatRate(limit, window))
		if err != nil || l2 != limit || w2 != window {
			t.Fatalf("round trip of %q: %d, %v, %v", s, l2, w2, err)
		}
	})
}
