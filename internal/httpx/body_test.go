package httpx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const twoMiB = 2 << 20

// bodySurface counts how often its handler ran.
func bodySurface(t *testing.T, guard bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	log, _ := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		fmt.Fprintf(w, "%d %d", len(b), r.ContentLength)
	})
	srv := httptest.NewUnstartedServer(Edge(EdgeConfig{Logger: log, MaxBody: 1 << 20}, Mux(mux)))
	if guard {
		srv.Listener = GuardListener(srv.Listener, 0)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &calls
}

// onlyReader hides bytes.Reader's length, so the client must send chunked.
type onlyReader struct{ io.Reader }

func TestBodyLimitOverRealServer(t *testing.T) {
	t.Parallel()
	for _, guard := range []bool{false, true} {
		srv, calls := bodySurface(t, guard)
		big := bytes.Repeat([]byte("a"), twoMiB)
		tests := []struct {
			name string
			body io.Reader
			cl   int64
		}{
			{"content-length", bytes.NewReader(big), twoMiB},
			{"chunked", onlyReader{bytes.NewReader(big)}, -1},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest("POST", srv.URL+"/upload", tt.body)
			req.ContentLength = tt.cl
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("guard=%v %s: %v", guard, tt.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("guard=%v %s: status %d (%s)", guard, tt.name, resp.StatusCode, b)
				continue
			}
			if e := decodeError(t, b); e.Error.Code != "too_large" {
				t.Errorf("guard=%v %s: %+v", guard, tt.name, e)
			}
			checkSecurityHeaders(t, resp.Header, false)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("guard=%v: handler ran %d times for refused bodies", guard, n)
		}
		// Within the limit both framings reach the handler whole; chunked
		// arrives with its length now known.
		small := bytes.Repeat([]byte("b"), 1<<20)
		for _, body := range []io.Reader{bytes.NewReader(small), onlyReader{bytes.NewReader(small)}} {
			resp, got := do(t, srv.Client(), "POST", srv.URL+"/upload", body)
			if resp.StatusCode != 200 || string(got) != "1048576 1048576" {
				t.Errorf("guard=%v: limit-sized body: %d %q", guard, resp.StatusCode, got)
			}
		}
	}
}

// rawExchange sends raw bytes on a new connection and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var ambiguousFraming = []struct{ name, raw string }{
	{"CL+TE", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"TE+CL", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"TE gzip", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{"TE gzip, chunked", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"TE twice", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"TE identity", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc"},
	{"HTTP/1.0 TE", "POST /upload HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"},
	{"TE lower-case name", "POST /upload HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
}

// TestGoServerFraming records what net/http does on its own with ambiguous
// framing, which is why GuardListener exists. If Go starts refusing these
// itself this test fails, and the guard can be reconsidered.
func TestGoServerFraming(t *testing.T) {
	t.Parallel()
	srv, calls := bodySurface(t, false)
	addr := srv.Listener.Addr().String()
	want := map[string]int{"CL+TE": 200, "TE+CL": 200, "TE gzip": 501, "TE gzip, chunked": 501, "TE twice": 501, "TE identity": 501, "HTTP/1.0 TE": 200, "TE lower-case name": 200}
	for _, tt := range ambiguousFraming {
		resp, body := rawExchange(t, addr, tt.raw)
		if resp.StatusCode != want[tt.name] {
			t.Errorf("%s: net/http alone answered %d (%s), recorded %d", tt.name, resp.StatusCode, body, want[tt.name])
		}
	}
	if calls.Load() == 0 {
		t.Errorf("net/http no longer passes CL+TE to handlers")
	}
}

func TestGuardRefusesAmbiguousFraming(t *testing.T) {
	t.Parallel()
	srv, calls := bodySurface(t, true)
	addr := srv.Listener.Addr().String()
	for _, tt := range ambiguousFraming {
		resp, body := rawExchange(t, addr, tt.raw)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d (%s), want 400", tt.name, resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("%s: connection kept open after refusing framing", tt.name)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler ran %d times for ambiguous requests", n)
	}
}

// TestGuardKeepsGoodConnectionsWorking sends many requests of every framing
// on one connection, pipelined, through the guard, then a smuggling attempt
// at the end, which must be refused after the good ones were answered.
func TestGuardKeepsGoodConnectionsWorking(t *testing.T) {
	t.Parallel()
	srv, calls := bodySurface(t, true)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	good := []struct{ raw, want string }{
		{"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "5 5"},
		{"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", "11 11"},
		{"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", "10 10"},
		{"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "0 0"},
		// A body that looks like a smuggled request is only a body.
		{"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 68\r\n\r\nPOST /upload HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked", "68 68"},
		{"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n", "3 3"},
	}
	var raw strings.Builder
	for _, g := range good {
		raw.WriteString(g.raw)
	}
	raw.WriteString(ambiguousFraming[0].raw)
	// Written in small pieces, so heads and bodies straddle reads.
	all := raw.String()
	go func() {
		for i := 0; i < len(all); i += 7 {
			_, _ = io.WriteString(conn, all[i:min(i+7, len(all))])
		}
	}()
	br := bufio.NewReader(conn)
	for i, g := range good {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != g.want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, b, g.want)
		}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("smuggling attempt after good requests: %d", resp.StatusCode)
	}
	if n := calls.Load(); n != int64(len(good)) {
		t.Fatalf("handler ran %d times, want %d", n, len(good))
	}
}

func TestLimitBodyFramingFromOtherPaths(t *testing.T) {
	t.Parallel()
	var ran bool
	h := LimitBody(1 << 10)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	tests := []struct {
		name   string
		mutate func(r *http.Request)
		status int
	}{
		{"te gzip", func(r *http.Request) { r.TransferEncoding = []string{"gzip"} }, 400},
		{"te twice", func(r *http.Request) { r.TransferEncoding = []string{"chunked", "chunked"} }, 400},
		{"te and cl header", func(r *http.Request) {
			r.Header.Set("Transfer-Encoding", "chunked")
			r.Header.Set("Content-Length", "3")
		}, 400},
		{"te header gzip", func(r *http.Request) { r.Header.Set("Transfer-Encoding", "gzip") }, 400},
		{"te with length", func(r *http.Request) {
			r.TransferEncoding = []string{"chunked"}
			r.ContentLength = 3
		}, 400},
		{"declared too large", func(r *http.Request) { r.ContentLength = 1<<10 + 1 }, 413},
		{"fine", func(r *http.Request) {}, 200},
	}
	for _, tt := range tests {
		ran = false
		r := httptest.NewRequest("POST", "/", strings.NewReader("abc"))
		tt.mutate(r)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.status || ran != (tt.status == 200) {
			t.Errorf("%s: status %d ran %v", tt.name, rec.Code, ran)
		}
	}
}

func TestLimitBodyUnknownLengthTooLarge(t *testing.T) {
	t.Parallel()
	var ran bool
	h := LimitBody(10)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	r := httptest.NewRequest("POST", "/", onlyReader{strings.NewReader(strings.Repeat("x", 11))})
	r.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 413 || ran {
		t.Fatalf("11 bytes over a 10-byte limit: %d, handler ran %v", rec.Code, ran)
	}
	r = httptest.NewRequest("POST", "/", onlyReader{strings.NewReader(strings.Repeat("x", 10))})
	r.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 || !ran {
		t.Fatalf("10 bytes at a 10-byte limit: %d", rec.Code)
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	h := Methods()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, m := range []string{"TRACE", "CONNECT", "TRACK", "PROPFIND", "get", "DEBUG"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = m
		h.ServeHTTP(rec, r)
		if rec.Code != 405 || strings.Contains(rec.Header().Get("Allow"), "TRACE") {
			t.Errorf("%s: %d Allow %q", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(m, "/", nil)
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Errorf("%s refused", m)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Methods allowed TRACE")
		}
	}()
	Methods("GET", "TRACE")
}

// TestLimitBodyRoutes: a route named by pattern gets its own limit, and
// only that method on that path: the same path with another method, a
// longer path and every other route keep the default, refused from the
// declared length before the handler runs.
func TestLimitBodyRoutes(t *testing.T) {
	t.Parallel()
	ran := false
	h := LimitBodyRoutes(1<<10, map[string]int64{"POST /docs/{id}/files": 8 << 10})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		method, path string
		size         int64
		want         int
	}{
		{http.MethodPost, "/docs/a1/files", 8 << 10, http.StatusNoContent},
		{http.MethodPost, "/docs/a1/files", 8<<10 + 1, http.StatusRequestEntityTooLarge},
		{http.MethodPut, "/docs/a1/files", 2 << 10, http.StatusRequestEntityTooLarge},
		{http.MethodPost, "/docs/a1/files/x", 2 << 10, http.StatusRequestEntityTooLarge},
		{http.MethodPost, "/other", 2 << 10, http.StatusRequestEntityTooLarge},
		{http.MethodPost, "/other", 1 << 10, http.StatusNoContent},
	} {
		ran = false
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(strings.Repeat("a", int(tc.size))))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || ran != (tc.want == http.StatusNoContent) {
			t.Errorf("%s %s with %d bytes = %d (handler ran %v), want %d", tc.method, tc.path, tc.size, rec.Code, ran, tc.want)
		}
	}
}
