package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// TestObserveAndAnnotate: the edge reports each request with its surface
// and innermost matched pattern (none for a path an inner mux does not
// know, even under a matched mount), and attributes a handler annotates
// reach its own log lines and the access line.
func TestObserveAndAnnotate(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger()
	log = slog.New(LogHandler(log.Handler()))
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/bots/{id}", func(w http.ResponseWriter, r *http.Request) {
		Annotate(r.Context(), slog.String("workspace_id", "ws_one"))
		log.InfoContext(r.Context(), "handler line")
		_, _ = io.WriteString(w, "ok")
	})
	outer := http.NewServeMux()
	outer.Handle("/api/", Surface("api", Mux(inner)))
	var mu sync.Mutex
	var seen []RequestStats
	h := Edge(EdgeConfig{Logger: log, Observe: func(s RequestStats) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, s)
	}}, Mux(outer))
	for _, p := range []string{"/api/bots/bot_abc", "/api/nothing/bot_abc", "/elsewhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	want := []RequestStats{{Surface: "api", Method: "GET", Pattern: "GET /api/bots/{id}", Status: 200},
		{Surface: "api", Method: "GET", Pattern: "", Status: 404}, {Surface: "", Method: "GET", Pattern: "", Status: 404}}
	if len(seen) != len(want) {
		t.Fatalf("observed %d requests, want %d", len(seen), len(want))
	}
	for i, w := range want {
		s := seen[i]
		s.Duration = 0
		if s != w {
			t.Errorf("request %d observed as %+v, want %+v", i, s, w)
		}
	}
	var annotated []string
	for _, l := range logs.lines(t) {
		if l["workspace_id"] == "ws_one" {
			annotated = append(annotated, l["msg"].(string))
		}
	}
	slices.Sort(annotated)
	if !slices.Equal(annotated, []string{"handler line", "http request"}) {
		t.Errorf("lines with the workspace: %v\n%s", annotated, logs.String())
	}
}
