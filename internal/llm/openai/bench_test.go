package openai

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/secret"
)

// BenchmarkStream streams a 200-word answer from the local fake (zero
// latency) through the adapter, and reports its cost against a bare HTTP
// POST that reads the same stream without parsing it, in the same run.
func BenchmarkStream(b *testing.B) {
	text := strings.Repeat("word ", 200)
	s := llmtest.NewOpenAI(b, llmtest.Options{Text: text})
	c, err := New(Config{BaseURL: s.URL, APIKey: secret.New("k"), HTTPClient: s.Client()})
	if err != nil {
		b.Fatal(err)
	}
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
	raw := func() {
		r, _ := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer k")
		resp, err := s.Client().Do(r)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var ref, sub time.Duration
	for b.Loop() {
		t0 := time.Now()
		raw()
		t1 := time.Now()
		res, err := c.Stream(b.Context(), req, func(string) error { return nil })
		if err != nil || res.Text != text {
			b.Fatalf("stream: %v", err)
		}
		ref += t1.Sub(t0)
		sub += time.Since(t1)
	}
	b.ReportMetric(float64(sub)/float64(ref), "x_raw_http")
	b.ReportMetric(float64(sub.Nanoseconds())/float64(b.N), "adapter_ns/op")
}
