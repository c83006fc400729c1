package httpx

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// testSurface is a small surface behind the full Edge, as the server
// mounts each surface: routes that succeed, fail, panic, and delete headers.
func testSurface(t *testing.T, format ErrorFormat) (http.Handler, *logBuffer) {
	t.Helper()
	log, logs := newTestLogger()
	mux := http.NewServeMux()
	mux.Handle("GET /ok", Handle(func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.WriteString(w, "ok")
		return err
	}))
	mux.Handle("POST /echo", Handle(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}))
	mux.Handle("GET /fail", Handle(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("db: connection refused at 10.0.0.3:5432")
	}))
	mux.Handle("GET /invalid", Handle(func(w http.ResponseWriter, r *http.Request) error {
		return palisade.FieldError("name", "name must not be empty")
	}))
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "half=done")
		w.Header().Set("Content-Type", "application/octet-stream")
		panic("nil map write in /srv/palisade/internal/secret.go")
	})
	mux.HandleFunc("GET /strip", func(w http.ResponseWriter, r *http.Request) {
		// A careless handler cannot remove the policy.
		for _, k := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy"} {
			w.Header().Del(k)
		}
		w.Header().Set("Server", "nginx/1.0")
		w.Header().Set("Content-Security-Policy", "default-src *")
		_, _ = io.WriteString(w, "stripped")
	})
	mux.HandleFunc("GET /silent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Del("X-Frame-Options") // and writes nothing at all
	})
	mux.HandleFunc("GET /widget/frame", func(w http.ResponseWriter, r *http.Request) {
		if err := AllowFraming(r.Context(), []string{"https://shop.example", "shop2.example:8443"}); err != nil {
			WriteError(w, r, err)
			return
		}
		_, _ = io.WriteString(w, "<p>frame</p>")
	})
	mux.HandleFunc("GET /widget.js", func(w http.ResponseWriter, r *http.Request) {
		_ = AllowCrossOriginResource(r.Context())
		_, _ = io.WriteString(w, "/* widget */")
	})
	mux.HandleFunc("/any", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "any") })
	return Edge(EdgeConfig{Logger: log, Format: format, MaxBody: 1 << 20}, Mux(mux)), logs
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestEdgeHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	h, logs := testSurface(t, FormatJSON)
	for _, tlsOn := range []bool{false, true} {
		var srv *httptest.Server
		if tlsOn {
			srv = httptest.NewTLSServer(h)
		} else {
			srv = httptest.NewServer(h)
		}
		defer srv.Close()
		c := srv.Client()
		tests := []struct {
			method, path string
			status       int
		}{
			{"GET", "/ok", 200},
			{"HEAD", "/ok", 200},
			{"GET", "/nope", 404},
			{"POST", "/ok", 405},
			{"DELETE", "/ok", 405},
			{"GET", "/fail", 500},
			{"GET", "/invalid", 400},
			{"GET", "/panic", 500},
			{"GET", "/strip", 200},
			{"GET", "/silent", 200},
			{"TRACE", "/any", 405},
			{"PROPFIND", "/any", 405},
			{"BREW", "/ok", 405},
			{"GET", "/any", 200},
		}
		for _, tt := range tests {
			resp, body := do(t, c, tt.method, srv.URL+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s: status %d, want %d (%s)", tt.method, tt.path, resp.StatusCode, tt.status, body)
				continue
			}
			checkSecurityHeaders(t, resp.Header, tlsOn)
			if tt.status >= 400 && tt.method != "HEAD" {
				e := decodeError(t, body)
				if e.Error.RequestID != resp.Header.Get(HeaderRequestID) {
					t.Errorf("%s %s: body request id %q != header", tt.method, tt.path, e.Error.RequestID)
				}
				if resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s: error Content-Type %q", tt.method, tt.path, resp.Header.Get("Content-Type"))
				}
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
			}
			if tt.status == 500 {
				if e := decodeError(t, body); !strings.HasPrefix(e.Error.ErrorID, "err_") || strings.Contains(string(body), "10.0.0.3") || strings.Contains(string(body), "secret.go") {
					t.Errorf("%s: 500 body %s", tt.path, body)
				}
			}
		}
		// The mux's 405 lists the route's methods (GET implies HEAD).
		resp, _ := do(t, c, "POST", srv.URL+"/ok", nil)
		if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("Allow from the mux = %q", got)
		}
		// The edge's 405 lists the methods it accepts at all.
		resp, _ = do(t, c, "TRACE", srv.URL+"/any", nil)
		if got := resp.Header.Get("Allow"); strings.Contains(got, "TRACE") || !strings.Contains(got, "GET") {
			t.Errorf("Allow from Methods = %q", got)
		}
	}
	// The panic's value and stack are logged, with the error id.
	if s := logs.String(); !strings.Contains(s, "secret.go") || !strings.Contains(s, "goroutine") {
		t.Errorf("panic not logged with its stack")
	}
}

func TestEdgePanicDropsHandlerHeaders(t *testing.T) {
	t.Parallel()
	h, _ := testSurface(t, FormatJSON)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != 500 || rec.Header().Get("Set-Cookie") != "" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("panic response: %d %v", rec.Code, rec.Header())
	}
	checkSecurityHeaders(t, rec.Header(), false)
}

func TestEdgeHTMLSurface(t *testing.T) {
	t.Parallel()
	h, _ := testSurface(t, FormatHTML)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/nope", "/fail", "/panic", "/invalid"} {
		resp, body := do(t, srv.Client(), "GET", srv.URL+path, nil)
		if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.HasPrefix(string(body), "<!doctype html>") {
			t.Errorf("%s: %q %q", path, resp.Header.Get("Content-Type"), body)
		}
		checkSecurityHeaders(t, resp.Header, false)
	}
}

func TestEdgeFramingAndCrossOriginOverrides(t *testing.T) {
	t.Parallel()
	h, _ := testSurface(t, FormatJSON)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, _ := do(t, srv.Client(), "GET", srv.URL+"/widget/frame", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors https://shop.example shop2.example:8443") || strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("frame CSP %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("X-Frame-Options DENY on the widget frame")
	}
	resp, _ = do(t, srv.Client(), "GET", srv.URL+"/widget.js", nil)
	if resp.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
		t.Errorf("widget script CORP %q", resp.Header.Get("Cross-Origin-Resource-Policy"))
	}
	// The relaxation is per response: the next one is strict again.
	resp, _ = do(t, srv.Client(), "GET", srv.URL+"/ok", nil)
	checkSecurityHeaders(t, resp.Header, false)
}

func TestAllowFramingRefusesInjection(t *testing.T) {
	t.Parallel()
	var got error
	h := SecurityHeaders(SecurityOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, bad := range []string{"https://a.example; script-src *", "*", "https://*.example", "'unsafe-inline'", "http://a.example", "a.example b.example", "https://a.example/path", "", "data:", "https://A.example", "https://a.example:99999x"} {
			if err := AllowFraming(r.Context(), []string{"https://ok.example", bad}); err == nil {
				got = errors.New("accepted " + bad)
				return
			}
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got != nil {
		t.Fatal(got)
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("a refused AllowFraming still relaxed the policy: %v", rec.Header())
	}
	if err := AllowFraming(httptest.NewRequest("GET", "/", nil).Context(), []string{"https://a.example"}); !errors.Is(err, ErrNoSecurityHeaders) {
		t.Fatalf("AllowFraming without the middleware: %v", err)
	}
}

func TestNonceFreshPerRequest(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	h := SecurityHeaders(SecurityOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, Nonce(r.Context()))
	}))
	for range 50 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		n := rec.Body.String()
		if len(n) < 22 || seen[n] {
			t.Fatalf("nonce %q short or repeated", n)
		}
		seen[n] = true
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self' 'nonce-"+n+"'") {
			t.Fatalf("nonce %q not in CSP", n)
		}
	}
	if Nonce(httptest.NewRequest("GET", "/", nil).Context()) != "" {
		t.Fatal("a nonce outside the middleware")
	}
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	t.Parallel()
	proxies, err := NewTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	h := SecurityHeaders(SecurityOptions{Proxies: proxies})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tests := []struct {
		name   string
		tls    bool
		remote string
		proto  string
		want   bool
	}{
		{"plain", false, "203.0.113.5:1234", "", false},
		{"tls", true, "203.0.113.5:1234", "", true},
		{"untrusted forwarded", false, "203.0.113.5:1234", "https", false},
		{"trusted forwarded https", false, "10.1.2.3:1234", "https", true},
		{"trusted forwarded http", false, "10.1.2.3:1234", "http", false},
		{"trusted forwarded, client prepended https", false, "10.1.2.3:1234", "https, http", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Get("Strict-Transport-Security") == HSTSValue; got != tt.want {
			t.Errorf("%s: HSTS %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNoStore(t *testing.T) {
	t.Parallel()
	h := NoStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = io.WriteString(w, "secret dashboard")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}
}

func TestMuxRedirectsAndStarTarget(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "dir") })
	log, _ := newTestLogger()
	srv := httptest.NewUnstartedServer(Edge(EdgeConfig{Logger: log}, Mux(mux)))
	// Otherwise net/http answers "OPTIONS *" itself, past every middleware;
	// internal/server must set this too.
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := do(t, c, "GET", srv.URL+"/dir", nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/dir/" {
		t.Errorf("trailing-slash redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	checkSecurityHeaders(t, resp.Header, false)
	for _, method := range []string{"OPTIONS", "GET"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, method+" * HTTP/1.1\r\nHost: x\r\n\r\n")
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 400 {
			t.Errorf("%s * = %d", method, r.StatusCode)
		}
		checkSecurityHeaders(t, r.Header, false)
	}
}

func TestPanicAfterResponseStartedAborts(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		panic("mid-stream")
	})
	srv := httptest.NewServer(Edge(EdgeConfig{Logger: log}, Mux(mux)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a panicking stream looked complete: %q", b)
	}
}

func TestFlushStreams(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		if f, ok := w.(http.Flusher); !ok {
			panic("writer hides Flush")
		} else {
			f.Flush()
		}
		<-release
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	srv := httptest.NewServer(Edge(EdgeConfig{Logger: log}, Mux(mux)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	checkSecurityHeaders(t, resp.Header, false)
	buf := make([]byte, len("data: one\n\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "data: one\n\n" {
		t.Fatalf("first event not flushed through the edge: %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "data: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// TestSharedHeaderValuesStayConstant: the constant security header values
// are shared between responses, so a handler that appends to them, sets
// them or deletes them, before or after writing, must change only its own
// response; the next one carries exactly the policy. A CSP with a fresh
// nonce goes out on a JSON response that never asked for one, and a nonce
// read after the headers were written is the one they carry.
func TestSharedHeaderValuesStayConstant(t *testing.T) {
	t.Parallel()
	keys := []string{"X-Frame-Options", "X-Content-Type-Options", "Strict-Transport-Security", "Referrer-Policy",
		"Permissions-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Content-Security-Policy"}
	h := Edge(EdgeConfig{Logger: slog.New(slog.DiscardHandler)}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/meddle":
			for _, k := range keys {
				w.Header().Add(k, "before")
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			for _, k := range keys {
				w.Header().Add(k, "after")
				if vs := w.Header()[k]; len(vs) > 0 {
					w.Header()[k] = append(vs, "appended")
				}
			}
			_, _ = io.WriteString(w, `{}`)
		case "/late-nonce":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, Nonce(r.Context()))
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	want := map[string]string{
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Strict-Transport-Security": HSTSValue,
		"Referrer-Policy": ReferrerPolicy, "Permissions-Policy": PermissionsPolicy,
		"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
	}
	csps := map[string]bool{}
	for i := range 20 {
		path := "/plain"
		if i%2 == 0 {
			path = "/meddle"
		}
		resp, _ := get(path)
		if path == "/meddle" {
			continue
		}
		for k, v := range want {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Fatalf("response %d: %s = %q, want only %q", i, k, got, v)
			}
		}
		csp := resp.Header.Values("Content-Security-Policy")
		if len(csp) != 1 || !strings.Contains(csp[0], "script-src 'self' 'nonce-") || csps[csp[0]] {
			t.Fatalf("response %d: CSP %q missing, doubled or repeated", i, csp)
		}
		csps[csp[0]] = true
	}
	resp, nonce := get("/late-nonce")
	if len(nonce) != 24 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "'nonce-"+nonce+"'") {
		t.Fatalf("nonce %q read after writing is not the header's: %q", nonce, resp.Header.Get("Content-Security-Policy"))
	}
}

// BenchmarkSecurityHeaders measures the security header block on an empty
// response against the same response without it, as a ratio.
func BenchmarkSecurityHeaders(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	sec := SecurityHeaders(SecurityOptions{})(bare)
	req := httptest.NewRequest("GET", "/", nil)
	var bareTotal, secTotal time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		bare.ServeHTTP(httptest.NewRecorder(), req)
		mid := time.Now()
		sec.ServeHTTP(httptest.NewRecorder(), req)
		secTotal += time.Since(mid)
		bareTotal += mid.Sub(start)
		n++
	}
	b.ReportMetric(float64(secTotal.Nanoseconds())/float64(n), "headers-ns/req")
	b.ReportMetric(float64(secTotal)/float64(bareTotal), "headers/bare")
}
