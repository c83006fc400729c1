package llm

import (
	"testing"
	"time"
)

// BenchmarkScrub cleans a provider error message of a key, against copying it.
func BenchmarkScrub(b *testing.B) {
	s := NewScrubber(testKey)
	msg := "Incorrect API key provided: sk-proj-****************************9876. You can find your API key at https://platform.openai.com/account/api-keys."
	var ref, sub time.Duration
	var copied, cleaned string
	for b.Loop() {
		t0 := time.Now()
		copied = string([]byte(msg))
		t1 := time.Now()
		cleaned = s.Clean(msg)
		ref += t1.Sub(t0)
		sub += time.Since(t1)
	}
	_, _ = copied, cleaned
	b.ReportMetric(float64(sub)/float64(max(ref, 1)), "x_copy")
}
