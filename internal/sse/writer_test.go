package sse_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/sse"
)

func TestWriterStartsLazily(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := sse.NewWriter(rec)
	if w.Started() || rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "" || rec.Flushed {
		t.Fatalf("a new writer touched the response: started %v, headers %v", w.Started(), rec.Header())
	}
	// Nothing that fails before the first write commits the response.
	if err := w.Send("bad\nname", 1); err == nil || w.Started() {
		t.Fatalf("a name with a line break: err %v, started %v", err, w.Started())
	}
	if err := w.Send("x", func() {}); err == nil || w.Started() {
		t.Fatalf("data that cannot be encoded: err %v, started %v", err, w.Started())
	}
	if rec.Header().Get("Content-Type") != "" {
		t.Fatal("a failed send set headers")
	}

	if err := w.Send("delta", map[string]string{"text": "a\nb"}); err != nil {
		t.Fatal(err)
	}
	if !w.Started() || !rec.Flushed || rec.Code != http.StatusOK {
		t.Fatalf("after the first event: started %v, flushed %v, status %d", w.Started(), rec.Flushed, rec.Code)
	}
	if ct, xab := rec.Header().Get("Content-Type"), rec.Header().Get("X-Accel-Buffering"); ct != "text/event-stream" || xab != "no" {
		t.Fatalf("headers: Content-Type %q, X-Accel-Buffering %q", ct, xab)
	}
	if err := w.Send("done", struct {
		N int `json:"n"`
	}{2}); err != nil {
		t.Fatal(err)
	}
	const want = "event: delta\ndata: {\"text\":\"a\\nb\"}\n\nevent: done\ndata: {\"n\":2}\n\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	// What the Writer writes, the Reader reads back.
	r := sse.NewReader(strings.NewReader(rec.Body.String()), 0, 0)
	for _, want := range []sse.Event{{Type: "delta", Data: `{"text":"a\nb"}`}, {Type: "done", Data: `{"n":2}`}} {
		if ev, err := r.Next(); err != nil || ev != want {
			t.Fatalf("read back %+v, %v; want %+v", ev, err, want)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v", err)
	}
}

// TestWriterFlushesEachEvent reads the first event while the handler is
// still blocked before the second, through a real server.
func TestWriterFlushesEachEvent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := sse.NewWriter(rw)
		_ = w.Send("one", 1)
		<-release
		_ = w.Send("two", 2)
	}))
	defer srv.Close()
	defer close(release)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ev, err := sse.NewReader(resp.Body, 0, 0).Next()
	if err != nil || ev.Type != "one" || ev.Data != "1" {
		t.Fatalf("first event: %+v, %v", ev, err)
	}
}

// TestWriterUnnamedEvents: SendData and SendLiteral frame events with data
// only, as OpenAI-style streams do, and refuse data that would span lines.
func TestWriterUnnamedEvents(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := sse.NewWriter(rec)
	if err := w.SendLiteral("[DONE]\n\ndata: forged"); err == nil || w.Started() {
		t.Fatalf("literal with line breaks: err %v, started %v", err, w.Started())
	}
	if err := w.SendData(func() {}); err == nil || w.Started() {
		t.Fatalf("data that cannot be encoded: err %v, started %v", err, w.Started())
	}
	if err := w.SendData(map[string]string{"content": "a\nb"}); err != nil {
		t.Fatal(err)
	}
	if err := w.SendLiteral("[DONE]"); err != nil {
		t.Fatal(err)
	}
	const want = "data: {\"content\":\"a\\nb\"}\n\ndata: [DONE]\n\n"
	if got := rec.Body.String(); got != want || rec.Header().Get("Content-Type") != "text/event-stream" || !rec.Flushed {
		t.Fatalf("body %q (want %q), headers %v", got, want, rec.Header())
	}
	r := sse.NewReader(strings.NewReader(rec.Body.String()), 0, 0)
	for _, want := range []sse.Event{{Data: `{"content":"a\nb"}`}, {Data: "[DONE]"}} {
		if ev, err := r.Next(); err != nil || ev.Data != want.Data || ev.Type != "" && ev.Type != "message" {
			t.Fatalf("read back %+v, %v; want %+v", ev, err, want)
		}
	}
}
