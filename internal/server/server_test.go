package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/server"
)

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func start(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := server.New(opts)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
		s.Stop(ctx) // idempotent
	})
	return s
}

// TestTLSVersionsAndSuites: with a
// self-signed certificate, TLS 1.1 and a CBC suite are refused, TLS 1.2
// with an AEAD suite and TLS 1.3 are accepted.
func TestTLSVersionsAndSuites(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	cfg := server.TLSConfig()
	cfg.Certificates = []tls.Certificate{cert}
	s := start(t, server.Options{TLS: cfg})
	addr := s.Addr().String()

	dial := func(c *tls.Config) error {
		c.RootCAs, c.ServerName = pool, "localhost"
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(&tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}); err == nil { //nolint:gosec // the refusal is the point
		t.Error("TLS 1.1 client accepted")
	}
	if err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		t.Error("TLS 1.2 with a CBC suite accepted")
	}
	if err := dial(&tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}); err != nil {
		t.Errorf("TLS 1.2 with AES-GCM refused: %v", err)
	}
	if err := dial(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil {
		t.Errorf("TLS 1.3 refused: %v", err)
	}
	// Over TLS the response carries HSTS.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains; preload" {
		t.Errorf("TLS healthz: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

// TestPublicAndAdminListeners: metrics and profiling answer on the admin
// listener only; the public one has none of them.
func TestPublicAndAdminListeners(t *testing.T) {
	t.Parallel()
	s := start(t, server.Options{AdminAddr: "127.0.0.1:0"})
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		resp, err := http.Get("http://" + s.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s = %d, want 404", path, resp.StatusCode)
		}
		resp, err = http.Get("http://" + s.AdminAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// The admin listener never prints the process's command line, where a
// secret given as a flag would show.
func TestAdminListenerHidesCommandLine(t *testing.T) {
	t.Parallel()
	s := start(t, server.Options{AdminAddr: "127.0.0.1:0"})
	resp, err := http.Get("http://" + s.AdminAddr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin /debug/pprof/cmdline = %d, want 404", resp.StatusCode)
	}
}

func TestReadinessReportsFailingCheck(t *testing.T) {
	t.Parallel()
	fail := true
	s := start(t, server.Options{Ready: []server.Check{{Name: "database", Check: func(context.Context) (string, error) {
		if fail {
			return "", io.ErrUnexpectedEOF
		}
		return "", nil
	}}}})
	resp, err := http.Get("http://" + s.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(b) == "" {
		t.Fatalf("readyz = %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "unexpected EOF") {
		t.Fatalf("readyz leaks the internal error: %s", b)
	}
}

func TestRedirectOnlyListener(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(server.RedirectHandler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/login?next=%2Fbots")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://127.0.0.1/login?next=%2Fbots" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "evil.example/<script>"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad host: %d", resp.StatusCode)
	}
}

// TestHealthOtherMethods: /healthz and /readyz answer 405 to other methods
// even with a surface mounted at "/".
func TestHealthOtherMethods(t *testing.T) {
	t.Parallel()
	catchAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	s := start(t, server.Options{Mounts: map[string]http.Handler{"/": catchAll}})
	for _, path := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+s.Addr().String()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("DELETE %s = %d, Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestHealthzBody: the liveness check answers the same JSON the other
// status answers are encoded as, uncached, with the security headers, on
// the public and the admin listener.
func TestHealthzBody(t *testing.T) {
	t.Parallel()
	s := start(t, server.Options{AdminAddr: "127.0.0.1:0"})
	want, _ := json.Marshal(map[string]any{"status": "ok"})
	for _, base := range []string{"http://" + s.Addr().String(), "http://" + s.AdminAddr().String()} {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != string(want)+"\n" ||
			resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "'nonce-") {
			t.Errorf("%s/healthz: %d %q %v", base, resp.StatusCode, body, resp.Header)
		}
	}
}
