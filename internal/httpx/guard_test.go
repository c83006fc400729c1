package httpx

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// feedAll runs data through a fresh framer in pieces of size step.
func feedAll(data []byte, step int) []byte {
	f := newFramer(0)
	var out []byte
	for i := 0; i < len(data); i += step {
		out = f.feed(out, data[i:min(i+step, len(data))])
	}
	return out
}

// wellFormed returns requests as Go's client writes them, of every framing.
func wellFormed(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	bodies := []io.Reader{nil, strings.NewReader("fixed body"), onlyReader{strings.NewReader(strings.Repeat("chunk", 3000))}, onlyReader{strings.NewReader("")}}
	for i, b := range bodies {
		req, err := http.NewRequest("POST", "http://x/p?q="+strings.Repeat("v", i), b)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(onlyReader); ok {
			req.ContentLength = -1
		}
		req.Header.Set("X-Body-Like", "Transfer-Encoding: chunked")
		if err := req.Write(&buf); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	return buf.Bytes()
}

func TestFramerPassesWellFormedStreams(t *testing.T) {
	t.Parallel()
	in := wellFormed(t)
	for _, step := range []int{1, 2, 3, 7, 64, 4096, len(in)} {
		if out := feedAll(in, step); !bytes.Equal(out, in) {
			t.Fatalf("step %d: the guard changed a well-formed stream:\n%q\n%q", step, in, out)
		}
	}
	// And net/http reads the same requests from it.
	br := bufio.NewReader(bytes.NewReader(feedAll(in, 5)))
	n := 0
	for {
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("request %d: %v", n, err)
		}
		_, _ = io.Copy(io.Discard, req.Body)
		n++
	}
	if n != 5 {
		t.Fatalf("read %d requests, want 5", n)
	}
}

func TestFramerVerdicts(t *testing.T) {
	t.Parallel()
	for _, tt := range ambiguousFraming {
		out := feedAll([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"+tt.raw+"GET /smuggled HTTP/1.1\r\n\r\n"), 3)
		want := "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + rejectedHead
		if string(out) != want {
			t.Errorf("%s: out %q", tt.name, out)
		}
	}
	pass := []string{
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00",               // HTTP/2 preface: not ours
		"GARBAGE\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", // net/http refuses the line
		"POST / HTTP/1.1\r\n folded: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", // a TLS hello: refused at its first line
	}
	for _, p := range pass {
		if out := feedAll([]byte(p), 4); string(out) != p {
			t.Errorf("%q was changed to %q", p, out)
		}
	}
	// A head over the limit is let through for net/http to answer 431.
	huge := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", http.DefaultMaxHeaderBytes+8192)
	if out := feedAll([]byte(huge), 1<<16); string(out) != huge {
		t.Errorf("oversized head held back (%d of %d bytes out)", len(out), len(huge))
	}
	// An incomplete head is held, not released half-judged.
	if out := feedAll([]byte("POST / HTTP/1.1\r\nContent-Length: 5\r\n"), 1); len(out) != 0 {
		t.Errorf("partial head released: %q", out)
	}
}

// FuzzFramer: for any byte stream and any way of splitting it into reads,
// the guard never panics, gives the same output, and that output is the
// input unchanged up to a point, then optionally the refusal line.
func FuzzFramer(f *testing.F) {
	for _, tt := range ambiguousFraming {
		f.Add([]byte(tt.raw), uint8(3))
	}
	f.Add(wellFormed(f), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole := feedAll(data, len(data)+1)
		split := feedAll(data, int(step)+1)
		if !bytes.Equal(whole, split) {
			t.Fatalf("output depends on read sizes:\n%q\n%q", whole, split)
		}
		out := whole
		if rejected := bytes.HasSuffix(out, []byte(rejectedHead)); rejected {
			out = out[:len(out)-len(rejectedHead)]
		}
		if !bytes.HasPrefix(data, out) {
			t.Fatalf("the guard altered bytes it let through:\n%q\n%q", data, whole)
		}
	})
}

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "palisade test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestGuardTLSListener(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	log, _ := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			WriteError(w, r, io.ErrUnexpectedEOF)
			return
		}
		_, _ = io.WriteString(w, r.Proto+" "+string(b))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := GuardTLSListener(ln, cfg, 0, 5*time.Second)
	srv := &http.Server{Handler: Edge(EdgeConfig{Logger: log}, Mux(mux)), TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(gl) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "https://" + ln.Addr().String() + "/echo"

	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, body := do(t, c, "POST", url, strings.NewReader("hi"))
		wantProto := "HTTP/1.1"
		if h2 {
			wantProto = "HTTP/2.0"
		}
		if resp.StatusCode != 200 || string(body) != wantProto+" hi" {
			t.Errorf("h2=%v: %d %q", h2, resp.StatusCode, body)
		}
		checkSecurityHeaders(t, resp.Header, true)
		tr.CloseIdleConnections()
	}

	// Ambiguous framing over TLS is refused like over plain text.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, strings.Replace(ambiguousFraming[0].raw, "/upload", "/echo", 1))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("CL+TE over TLS: %d", resp.StatusCode)
	}

	// Plain HTTP to the TLS port gets net/http's usual answer, and a
	// stalled handshake does not block other clients.
	stalled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	resp, _ = do(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "POST", url, strings.NewReader("x"))
	if resp.StatusCode != 200 {
		t.Fatalf("a stalled handshake blocked another client: %d", resp.StatusCode)
	}
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, _ = io.WriteString(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(plain)
	if !strings.HasPrefix(string(b), "HTTP/1.0 400") {
		t.Fatalf("plain HTTP to the TLS port: %q", b)
	}

	if err := gl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := gl.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

// The answers net/http writes itself, before any handler runs (431 for
// oversized headers, 400 for a malformed request or refused framing), carry
// the security headers too: the guard adds them as the response leaves.
func TestServerWrittenErrorsCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Edge(EdgeConfig{Logger: log}, Mux(mux)), MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(GuardListener(ln, 4<<10)) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"oversized headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
		{"malformed request line", "GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"ambiguous framing", ambiguousFraming[0].raw, 400},
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, tc.raw)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "Cache-Control": "no-store",
			"Referrer-Policy": ReferrerPolicy, "Cross-Origin-Resource-Policy": "same-origin"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
		}
	}
}
