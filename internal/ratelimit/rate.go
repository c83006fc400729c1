package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxRateLen bounds the input of ParseRate; the longest sensible rate
// ("10000/23h59m59s") is far shorter.
const maxRateLen = 64

// ParseRate parses a rate such as "5/min", "120/1m", "60/s" or "1000/24h":
// a decimal count from 1 to MaxLimit, a slash, and either a unit (s, sec,
// second, m, min, minute, h, hr, hour, d, day; any case) or a Go duration of
// whole seconds from 1s to 24h. Surrounding spaces are ignored.
func ParseRate(s string) (limit int, window time.Duration, err error) {
	if len(s) > maxRateLen {
		return 0, 0, fmt.Errorf("rate is longer than %d characters", maxRateLen)
	}
	s = strings.TrimSpace(s)
	count, per, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: want COUNT/PERIOD, such as 5/min or 120/1m", s)
	}
	count, per = strings.TrimSpace(count), strings.TrimSpace(per)
	limit, err = parseCount(count)
	if err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	window, err = parsePeriod(per)
	if err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return limit, window, nil
}

func parseCount(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing count before '/'")
	}
	// strconv.Atoi alone would accept "+5" and "-5"; a count is plain digits.
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("count %q is not a whole number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("count %q is not between 1 and %d", s, MaxLimit)
	}
	return n, nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch strings.ToLower(s) {
	case "s", "sec", "second":
		return time.Second, nil
	case "m", "min", "minute":
		return time.Minute, nil
	case "h", "hr", "hour":
		return time.Hour, nil
	case "d", "day":
		return 24 * time.Hour, nil
	case "":
		return 0, fmt.Errorf("missing period after '/'")
	}
	// Only a duration starting with a digit: time.ParseDuration would also
	// take a sign, and a negative or signed window makes no sense.
	if s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("unknown period %q (use s, min, h, d or a duration such as 30s)", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q is neither a unit nor a duration such as 30s", s)
	}
	if d < MinWindow || d > MaxWindow {
		return 0, fmt.Errorf("period %q is not between %v and %v", s, MinWindow, MaxWindow)
	}
	// The RateLimit-Policy header states the window in whole seconds.
	if d%time.Second != 0 {
		return 0, fmt.Errorf("period %q is not a whole number of seconds", s)
	}
	return d, nil
}

// FormatRate is the inverse of ParseRate: "5/min", "60/s", "10/h", "100/d",
// or the count and a Go duration such as "5/30s" for other windows.
func FormatRate(limit int, window time.Duration) string {
	n := strconv.Itoa(limit)
	switch window {
	case time.Second:
		return n + "/s"
	case time.Minute:
		return n + "/min"
	case time.Hour:
		return n + "/h"
	case 24 * time.Hour:
		return n + "/d"
	}
	return n + "/" + window.String()
}
