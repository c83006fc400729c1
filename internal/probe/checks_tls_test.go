package probe_test

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/probe"
)

// certSpec shapes a self-signed test certificate.
type certSpec struct {
	notBefore, notAfter time.Time
	dns                 []string
	ips                 []net.IP
	rsaBits             int // 0: ECDSA P-256
	sigAlg              x509.SignatureAlgorithm
}

func goodCertSpec() certSpec {
	return certSpec{notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(90 * 24 * time.Hour), ips: []net.IP{net.IPv4(127, 0, 0, 1)}}
}

func makeCert(t *testing.T, s certSpec) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	var err error
	if s.rsaBits > 0 {
		key, err = rsa.GenerateKey(rand.Reader, s.rsaBits)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "probe test"},
		NotBefore: s.notBefore, NotAfter: s.notAfter, DNSNames: s.dns, IPAddresses: s.ips, SignatureAlgorithm: s.sigAlg,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, c
}

// strictTLS is Palisade's server configuration: TLS 1.2 and 1.3, AEAD
// suites with forward secrecy only.
func strictTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}
}

// tlsServer serves a 404 over TLS with cfg and cert; it returns the URL
// and client options that trust the certificate.
func tlsServer(t *testing.T, cfg *tls.Config, cert tls.Certificate, leaf *x509.Certificate) (string, probe.Options) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	cfg.Certificates = []tls.Certificate{cert}
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return srv.URL, probe.Options{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, HTTPPort: closedPort(t)}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// TestTLSChecks: every TLS check passes against a server configured like
// Palisade's with a sensible certificate, and fails against a server or
// certificate that breaks exactly it.
func TestTLSChecks(t *testing.T) {
	t.Parallel()
	goodCert, goodLeaf := makeCert(t, goodCertSpec())
	good, goodOpts := tlsServer(t, strictTLS(), goodCert, goodLeaf)
	rsaCert, rsaLeaf := makeCert(t, certSpec{notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(90 * 24 * time.Hour), ips: []net.IP{net.IPv4(127, 0, 0, 1)}, rsaBits: 2048})
	withCert := func(mut func(s *certSpec)) func(t *testing.T) (string, probe.Options) {
		return func(t *testing.T) (string, probe.Options) {
			s := goodCertSpec()
			mut(&s)
			c, l := makeCert(t, s)
			return tlsServer(t, strictTLS(), c, l)
		}
	}
	withConfig := func(mut func(c *tls.Config), useRSA bool) func(t *testing.T) (string, probe.Options) {
		return func(t *testing.T) (string, probe.Options) {
			cfg := strictTLS()
			mut(cfg)
			if useRSA {
				return tlsServer(t, cfg, rsaCert, rsaLeaf)
			}
			return tlsServer(t, cfg, goodCert, goodLeaf)
		}
	}
	cases := map[string]func(t *testing.T) (string, probe.Options){
		// TLS 1.0 and 1.1 have no AEAD suite: a server taking them takes CBC.
		"refuses-tls-1.0": withConfig(func(c *tls.Config) {
			c.MinVersion, c.CipherSuites = tls.VersionTLS10, append(c.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
		}, false),
		"refuses-tls-1.1": withConfig(func(c *tls.Config) {
			c.MinVersion, c.CipherSuites = tls.VersionTLS11, append(c.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
		}, false),
		"offers-tls-1.3": withConfig(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, false),
		"refuses-cbc-suites": withConfig(func(c *tls.Config) {
			c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
		}, false),
		"refuses-rsa-key-exchange": withConfig(func(c *tls.Config) { c.CipherSuites = append(c.CipherSuites, tls.TLS_RSA_WITH_AES_128_GCM_SHA256) }, true),
		"refuses-3des":             withConfig(func(c *tls.Config) { c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA) }, true),
		"refuses-rc4":              withConfig(func(c *tls.Config) { c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA) }, true),
		"certificate-trusted": func(t *testing.T) (string, probe.Options) {
			u, o := tlsServer(t, strictTLS(), goodCert, goodLeaf)
			o.TLS = &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
			return u, o
		},
		"certificate-hostname-matches":   withCert(func(s *certSpec) { s.ips, s.dns = nil, []string{"other.example"} }),
		"certificate-not-expired":        withCert(func(s *certSpec) { s.notBefore, s.notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour) }),
		"certificate-not-expiring":       withCert(func(s *certSpec) { s.notAfter = time.Now().Add(48 * time.Hour) }),
		"certificate-lifetime-sensible":  withCert(func(s *certSpec) { s.notAfter = time.Now().Add(3 * 365 * 24 * time.Hour) }),
		"certificate-key-strength":       withCert(func(s *certSpec) { s.rsaBits = 1024 }),
		"certificate-signature-not-sha1": withCert(func(s *certSpec) { s.rsaBits, s.sigAlg = 2048, x509.SHA1WithRSA }),
		"plain-http-same-port-not-served": func(t *testing.T) (string, probe.Options) {
			return muxedServer(t, goodCert, goodLeaf)
		},
		"plain-http-redirects-or-closed": func(t *testing.T) (string, probe.Options) {
			u, o := tlsServer(t, strictTLS(), goodCert, goodLeaf)
			plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("sign in here")) }))
			t.Cleanup(plain.Close)
			o.HTTPPort = plain.Listener.Addr().(*net.TCPAddr).Port
			return u, o
		},
	}
	for _, c := range category(t, probe.CatTLS) {
		bad, ok := cases[c.Name]
		if !ok {
			t.Errorf("no server breaks %s", c.Name)
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			if r := one(t, good, c, goodOpts); r.Status != probe.Pass {
				t.Errorf("against a correct server = %s (%s)", r.Status, r.Evidence)
			}
			u, o := bad(t)
			if r := one(t, u, c, o); r.Status != probe.Fail {
				t.Errorf("against a server that breaks it = %s (%s)", r.Status, r.Evidence)
			}
		})
	}
	// A plain-HTTP port that redirects to HTTPS passes too.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://127.0.0.1"+r.URL.Path, http.StatusPermanentRedirect)
	}))
	t.Cleanup(redirect.Close)
	o := goodOpts
	o.HTTPPort = redirect.Listener.Addr().(*net.TCPAddr).Port
	if r := one(t, good, check(t, probe.CatTLS, "plain-http-redirects-or-closed"), o); r.Status != probe.Pass {
		t.Errorf("a redirecting HTTP port = %s (%s)", r.Status, r.Evidence)
	}
	// Over plain HTTP every TLS check is skipped with the reason.
	for _, c := range category(t, probe.CatTLS) {
		if r := one(t, serveHTTP(t, http.NotFoundHandler()), c, probe.Options{}); r.Status != probe.Skip || r.Evidence == "" {
			t.Errorf("%s over plain HTTP = %s (%s)", c.Name, r.Status, r.Evidence)
		}
	}
}

// muxedServer serves TLS and, on the same port, plain HTTP pages: what a
// server that sniffs the protocol would do.
func muxedServer(t *testing.T, cert tls.Certificate, leaf *x509.Certificate) (string, probe.Options) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := strictTLS()
	cfg.Certificates = []tls.Certificate{cert}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				b, err := br.Peek(1)
				if err != nil {
					return
				}
				if b[0] == 0x16 {
					tc := tls.Server(&peeked{Conn: c, r: br}, cfg)
					if tc.Handshake() == nil {
						if _, err := http.ReadRequest(bufio.NewReader(tc)); err == nil {
							_, _ = tc.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
						}
					}
					return
				}
				if _, err := http.ReadRequest(br); err == nil {
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nsign in here"))
				}
			}()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return "https://" + l.Addr().String(), probe.Options{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, HTTPPort: closedPort(t)}
}

type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }
