package faulttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Figures are what one scenario measured.
type Figures struct {
	Scenario   string
	Store      string
	Deliveries int // distinct deliveries the harness made (acknowledged)
	Refused    int // attempts refused or unanswered, retried as the platform would
	Replies    int // replies the fake platform received
	Duplicates int // replies beyond one per delivery
	Lost       int // acknowledged deliveries never answered
	Faults     int // kills, restarts or outages injected
	Recovery   time.Duration
	P99        time.Duration
	Note       string
}

// Print writes the figures as a table with its header to standard output,
// so `go test` shows it with or without -v.
func Print(t testing.TB, rows ...Figures) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-31s %-8s %10s %8s %8s %6s %5s %6s %10s %10s  %s\n", "scenario", "store", "deliveries", "retried", "replies", "dups", "lost", "faults", "recovery", "p99", "note")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-31s %-8s %10d %8d %8d %6d %5d %6d %10s %10s  %s\n", r.Scenario, r.Store, r.Deliveries, r.Refused, r.Replies, r.Duplicates, r.Lost,
			r.Faults, dur(r.Recovery), dur(r.P99), r.Note)
	}
	fmt.Print(b.String())
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// P99 is the 99th percentile of ds (0 for none).
func P99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*99 + 99) / 100
	if i > len(s) {
		i = len(s)
	}
	return s[i-1]
}
