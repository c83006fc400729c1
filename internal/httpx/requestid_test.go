package httpx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/redact"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	proxies, _ := NewTrustedProxies([]string{"10.0.0.0/8"})
	log, logs := newTestLogger()
	h := RequestID(log, proxies)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).InfoContext(r.Context(), "handler says hi")
		_, _ = io.WriteString(w, RequestIDFrom(r.Context()))
	}))
	tests := []struct {
		name, remote, sent string
		keep               bool
	}{
		{"none sent", "203.0.113.1:1", "", false},
		{"client's own ignored", "203.0.113.1:1", "attacker-chosen-id", false},
		{"trusted proxy's kept", "10.0.0.1:1", "3f2c9a10-7b1e-4d2a-9c55-0e1f2a3b4c5d", true},
		{"trusted proxy's malformed refused", "10.0.0.1:1", "id with spaces\r\nX-Evil: 1", false},
		{"trusted proxy's too short refused", "10.0.0.1:1", "abc", false},
		{"trusted proxy's too long refused", "10.0.0.1:1", strings.Repeat("a", 65), false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.sent != "" {
			r.Header.Set(HeaderRequestID, tt.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		id := rec.Header().Get(HeaderRequestID)
		if id != rec.Body.String() || !ValidRequestID(id) {
			t.Errorf("%s: header %q context %q", tt.name, id, rec.Body.String())
		}
		if (id == tt.sent) != tt.keep {
			t.Errorf("%s: id %q (sent %q)", tt.name, id, tt.sent)
		}
		if !tt.keep && (!strings.HasPrefix(id, "req_") || seen[id]) {
			t.Errorf("%s: generated id %q not fresh", tt.name, id)
		}
		seen[id] = true
		found := false
		for _, l := range logs.lines(t) {
			if l["msg"] == "handler says hi" && l["request_id"] == id {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: handler's log line lacks request id %s", tt.name, id)
		}
	}
}

func TestLogHandlerAddsRequestID(t *testing.T) {
	t.Parallel()
	buf := &logBuffer{}
	base := slog.New(LogHandler(slog.NewJSONHandler(buf, nil)))
	h := RequestID(base, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A component's own logger, not the request's, still tags the line.
		base.With("component", "store").InfoContext(r.Context(), "query ran")
		// The request logger does not get the id twice.
		Logger(r.Context()).InfoContext(r.Context(), "once")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	id := rec.Header().Get(HeaderRequestID)
	out := buf.String()
	if !strings.Contains(out, `"msg":"query ran","component":"store","request_id":"`+id+`"`) {
		t.Errorf("component line: %s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, `"once"`) && strings.Count(line, "request_id") != 1 {
			t.Errorf("request id repeated: %s", line)
		}
	}
	base.InfoContext(context.Background(), "outside")
	if strings.Contains(buf.String()[len(out):], "request_id") {
		t.Errorf("request id outside a request")
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	proxies, _ := NewTrustedProxies([]string{"10.0.0.0/8"})
	log, logs := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bots/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
	h := Edge(EdgeConfig{Logger: log, Proxies: proxies}, Mux(mux))
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/bots/bot_secretpathpart?token=query-secret-123", nil)
	req.Header.Set("Authorization", "Bearer pal_supersecretkey")
	req.Header.Set("Cookie", "__Host-session=cookie-secret-456")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, _ = do(t, srv.Client(), "GET", srv.URL+"/missing?x=query-secret-789", nil)
	_ = resp

	out := logs.String()
	for _, secret := range []string{"query-secret", "pal_supersecretkey", "cookie-secret", "secretpathpart", "Bearer"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log leaks %q: %s", secret, out)
		}
	}
	var access []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "http request" {
			access = append(access, l)
		}
	}
	if len(access) != 2 {
		t.Fatalf("%d access lines: %s", len(access), out)
	}
	want := []struct {
		pattern string
		status  float64
		bytes   float64
	}{{"GET /bots/{id}", 200, 5}, {"", 404, -1}}
	for i, w := range want {
		l := access[i]
		if l["method"] != "GET" || l["pattern"] != w.pattern || l["status"] != w.status || l["client_ip"] != "127.0.0.1" ||
			!strings.HasPrefix(fmt.Sprint(l["request_id"]), "req_") || l["duration"] == nil || w.bytes >= 0 && l["bytes"] != w.bytes {
			t.Errorf("access line %d: %v", i, l)
		}
	}
}

func TestAccessLogClientIPBehindProxy(t *testing.T) {
	t.Parallel()
	proxies, _ := NewTrustedProxies([]string{"10.0.0.0/8"})
	log, logs := newTestLogger()
	h := AccessLog(log, proxies)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if l := logs.lines(t); len(l) != 1 || l[0]["client_ip"] != "198.51.100.7" || l[0]["status"] != float64(200) {
		t.Fatalf("%v", l)
	}
}

// TestAccessLogRedactsThroughFastPath: with the real redacting handler, a
// request carrying secrets in its path, query, user agent and headers
// leaves an access line whose values that skip the scan (pattern, request
// id, client IP) are exact and in which no secret appears.
func TestAccessLogRedactsThroughFastPath(t *testing.T) {
	t.Parallel()
	tok := "sk-proj-" + strings.Repeat("Zq9xW", 10)
	logs := &logBuffer{}
	r := redact.New(redact.Options{Secrets: []string{"registered-secret-value"}})
	log := slog.New(LogHandler(r.Handler(slog.NewJSONHandler(logs, nil))))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bots/{id}", func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).InfoContext(r.Context(), "handled", "path", r.URL.Path, "query", r.URL.RawQuery, "ua", r.UserAgent())
		_, _ = io.WriteString(w, "hello")
	})
	srv := httptest.NewServer(Edge(EdgeConfig{Logger: log}, Mux(mux)))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/bots/"+tok+"?token=registered-secret-value&k="+tok, nil)
	req.Header.Set("User-Agent", "agent "+tok)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := logs.String()
	for _, leak := range []string{tok, "registered-secret-value"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	var access, handled map[string]any
	for _, l := range logs.lines(t) {
		switch l["msg"] {
		case "http request":
			access = l
		case "handled":
			handled = l
		}
	}
	if access == nil || handled == nil {
		t.Fatalf("lines missing: %s", out)
	}
	if access["pattern"] != "GET /bots/{id}" || access["client_ip"] != "127.0.0.1" ||
		access["request_id"] != resp.Header.Get(HeaderRequestID) || access["status"] != float64(200) {
		t.Errorf("access line: %v", access)
	}
	if !strings.Contains(fmt.Sprint(handled["path"]), "/bots/") || !strings.Contains(fmt.Sprint(handled["ua"]), "agent") {
		t.Errorf("free text lost more than its secrets: %v", handled)
	}
}
