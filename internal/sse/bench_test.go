package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkReader parses a 1,000-event stream and reports its cost against
// splitting the same bytes into lines with bufio.Scanner, measured in the
// same run.
func BenchmarkReader(b *testing.B) {
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
		r := NewReader(bytes.NewReader(in), 0, 0)
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
