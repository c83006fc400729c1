package llm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkSSEReader parses a 1,000-event stream and reports its cost
// against splitting the same bytes into lines with bufio.Scanner, measured
// in the same run.
func BenchmarkSSEReader(b *testing.B) {
	var buf bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&buf, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token %d \"},\"finish_reason\":null}]}\r\n\r\n", i)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	var ref, sub time.Duration
	for b.Loop() {
		t0 := time.Now()
		sc := bufio.NewScanner(bytes.NewReader(in))
		for sc.Scan() {
		}
		t1 := time.Now()
		r := NewSSEReader(bytes.NewReader(in), 0, 0)
		for {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
		}
		ref += t1.Sub(t0)
		sub += time.Since(t1)
	}
	b.ReportMetric(float64(sub)/float64(ref), "x_bufio_lines")
}

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
