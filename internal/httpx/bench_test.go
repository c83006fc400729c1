package httpx

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkEdge measures the whole edge around a trivial handler and
// reports its cost as a ratio to the bare handler measured in the same run
// (these machines are too noisy for absolute numbers to mean much).
func BenchmarkEdge(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /ok", bare)
	log := slog.New(slog.DiscardHandler)
	edge := Edge(EdgeConfig{Logger: log}, Mux(mux))
	req := httptest.NewRequest("GET", "/ok", nil)
	run := func(h http.Handler, n int) time.Duration {
		start := time.Now()
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		return time.Since(start)
	}
	var bareTotal, edgeTotal time.Duration
	n := 0
	for b.Loop() {
		bareTotal += run(bare, 1)
		edgeTotal += run(edge, 1)
		n++
	}
	b.ReportMetric(float64(edgeTotal.Nanoseconds())/float64(n), "edge-ns/req")
	b.ReportMetric(float64(bareTotal.Nanoseconds())/float64(n), "bare-ns/req")
	b.ReportMetric(float64(edgeTotal)/float64(bareTotal), "edge/bare")
}

// BenchmarkGuard measures the framing guard on a stream of chunked 64 KiB
// uploads against copying the same bytes, as a ratio.
func BenchmarkGuard(b *testing.B) {
	var stream bytes.Buffer
	for range 16 {
		req, _ := http.NewRequest("POST", "http://x/upload", onlyReader{bytes.NewReader(bytes.Repeat([]byte("z"), 64<<10))})
		req.ContentLength = -1
		_ = req.Write(&stream)
	}
	data := stream.Bytes()
	out := make([]byte, 0, len(data)+1024)
	var copyTotal, guardTotal time.Duration
	for b.Loop() {
		start := time.Now()
		out = append(out[:0], data...)
		copyTotal += time.Since(start)
		start = time.Now()
		f := newFramer(0)
		out = out[:0]
		for i := 0; i < len(data); i += 32 << 10 {
			out = f.feed(out, data[i:min(i+32<<10, len(data))])
		}
		guardTotal += time.Since(start)
		if len(out) != len(data) {
			b.Fatalf("guard output %d bytes of %d", len(out), len(data))
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportMetric(float64(guardTotal)/float64(copyTotal), "guard/copy")
}
