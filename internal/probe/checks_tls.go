package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CatTLS holds the checks of the HTTPS endpoint itself: protocol versions,
// cipher suites, the certificate, and what plain HTTP on the same host
// does. Over a plain http:// URL they are skipped.
const CatTLS = "tls"

// skipPlain is the reason every TLS check gives over plain HTTP.
const skipPlain = "the target is plain HTTP: TLS checks apply to https:// URLs"

// handshake dials the target and runs a TLS handshake with cfg, counted
// against the budget. A dial error is returned as is; a refused handshake
// is errHandshake wrapping the cause.
func (t *Target) handshake(ctx context.Context, cfg *tls.Config) (*tls.ConnectionState, error) {
	if t.used.Add(1) > t.budget {
		return nil, ErrBudget
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.hostPort(""))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", t.hostPort(""), err)
	}
	defer conn.Close()
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = t.Base.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errHandshake, err)
	}
	st := tc.ConnectionState()
	return &st, nil
}

var errHandshake = errors.New("the TLS handshake failed")

// hostPort is the target's host with port (the scheme's default when the
// URL names none), or with port when one is given.
func (t *Target) hostPort(port string) string {
	if port != "" {
		return net.JoinHostPort(t.Base.Hostname(), port)
	}
	if t.Base.Port() != "" {
		return t.Base.Host
	}
	if t.HTTPS() {
		return net.JoinHostPort(t.Base.Hostname(), "443")
	}
	return net.JoinHostPort(t.Base.Hostname(), "80")
}

// inspect is a handshake that verifies nothing, to look at what the
// server offers whoever its certificate is for.
func inspect() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the probe inspects, it sends nothing over it
}

func tlsCheck(name string, sev Severity, ref, desc string, f func(ctx context.Context, t *Target) Outcome) Check {
	return Check{Category: CatTLS, Name: name, Severity: sev, Reference: ref, Description: desc, Run: func(ctx context.Context, t *Target) Outcome {
		if !t.HTTPS() {
			return Skipf(skipPlain)
		}
		return f(ctx, t)
	}}
}

// refusedHandshake builds a check that a client offering only cfg gets no
// connection.
func refusedHandshake(name string, sev Severity, ref, desc, what string, cfg func() *tls.Config) Check {
	return tlsCheck(name, sev, ref, desc, func(ctx context.Context, t *Target) Outcome {
		st, err := t.handshake(ctx, cfg())
		switch {
		case errors.Is(err, errHandshake):
			return Passf("a client offering only %s is refused: %v", what, err)
		case err != nil:
			return requestFailed(ctx, err)
		}
		return Failf("a client offering only %s connected: %s with %s", what, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	})
}

func onlySuites(version uint16, suites ...uint16) func() *tls.Config {
	return func() *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: tls.VersionTLS12, CipherSuites: suites} //nolint:gosec // inspecting only
	}
}

// leaf is the certificate the target presents, read without verifying.
func leaf(ctx context.Context, t *Target) (*x509.Certificate, Outcome, bool) {
	st, err := t.handshake(ctx, inspect())
	if err != nil {
		if errors.Is(err, errHandshake) {
			return nil, Failf("no TLS 1.2 or 1.3 handshake: %v", err), false
		}
		return nil, requestFailed(ctx, err), false
	}
	if len(st.PeerCertificates) == 0 {
		return nil, Failf("the server presented no certificate"), false
	}
	return st.PeerCertificates[0], Outcome{}, true
}

func certCheck(name string, sev Severity, ref, desc string, f func(t *Target, c *x509.Certificate) Outcome) Check {
	return tlsCheck(name, sev, ref, desc, func(ctx context.Context, t *Target) Outcome {
		c, out, ok := leaf(ctx, t)
		if !ok {
			return out
		}
		return f(t, c)
	})
}

// maxCertLifetime is the longest validity a publicly trusted certificate
// may have (CA/Browser Forum baseline requirements: 398 days).
const maxCertLifetime = 398 * 24 * time.Hour

// minCertRemaining is the warning margin before expiry.
const minCertRemaining = 7 * 24 * time.Hour

func tlsChecks() []Check {
	cbc := []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	}
	rsaKex := []uint16{
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	}
	des := []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
	rc4 := []uint16{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA}
	version := func(v uint16) func() *tls.Config {
		return func() *tls.Config {
			return &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v} //nolint:gosec // inspecting only
		}
	}
	return []Check{
		refusedHandshake("refuses-tls-1.0", High, "V12.1.1", "a client offering only TLS 1.0 is refused", "TLS 1.0", version(tls.VersionTLS10)),
		refusedHandshake("refuses-tls-1.1", High, "V12.1.1", "a client offering only TLS 1.1 is refused", "TLS 1.1", version(tls.VersionTLS11)),
		tlsCheck("offers-tls-1.3", Medium, "V12.1.1", "TLS 1.3 is offered and preferred", func(ctx context.Context, t *Target) Outcome {
			st, err := t.handshake(ctx, inspect())
			if err != nil {
				if errors.Is(err, errHandshake) {
					return Failf("no TLS 1.2 or 1.3 handshake: %v", err)
				}
				return requestFailed(ctx, err)
			}
			if st.Version != tls.VersionTLS13 {
				return Failf("a client offering TLS 1.2 and 1.3 got %s", tls.VersionName(st.Version))
			}
			return Passf("TLS 1.3 with %s", tls.CipherSuiteName(st.CipherSuite))
		}),
		refusedHandshake("refuses-cbc-suites", Medium, "V12.1.2", "a TLS 1.2 client offering only CBC suites is refused (only AEAD suites)", "CBC suites", onlySuites(tls.VersionTLS10, cbc...)),
		refusedHandshake("refuses-rsa-key-exchange", Medium, "V12.1.2", "a TLS 1.2 client offering only RSA key exchange (no forward secrecy) is refused", "RSA key exchange", onlySuites(tls.VersionTLS10, rsaKex...)),
		refusedHandshake("refuses-3des", High, "V12.1.2", "a client offering only 3DES suites is refused", "3DES", onlySuites(tls.VersionTLS10, des...)),
		refusedHandshake("refuses-rc4", High, "V12.1.2", "a client offering only RC4 suites is refused", "RC4", onlySuites(tls.VersionTLS10, rc4...)),
		tlsCheck("certificate-trusted", High, "V12.2.2", "the certificate chains to a trusted root (the system's, or --insecure-ca) for the host", func(ctx context.Context, t *Target) Outcome {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if t.tls != nil {
				cfg = t.tls.Clone()
			}
			_, err := t.handshake(ctx, cfg)
			if errors.Is(err, errHandshake) {
				return Failf("the certificate does not verify: %v", err)
			}
			if err != nil {
				return requestFailed(ctx, err)
			}
			return Passf("the certificate verifies for %s", t.Base.Hostname())
		}),
		certCheck("certificate-hostname-matches", High, "V12.2.2", "the certificate names the host of the URL", func(t *Target, c *x509.Certificate) Outcome {
			if err := c.VerifyHostname(t.Base.Hostname()); err != nil {
				return Failf("%v", err)
			}
			return Passf("%s is among %v %v", t.Base.Hostname(), c.DNSNames, c.IPAddresses)
		}),
		certCheck("certificate-not-expired", Critical, "V12.2.2", "the certificate is within its validity period", func(_ *Target, c *x509.Certificate) Outcome {
			now := time.Now()
			switch {
			case now.After(c.NotAfter):
				return Failf("expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
			case now.Before(c.NotBefore):
				return Failf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
			}
			return Passf("valid until %s", c.NotAfter.UTC().Format(time.RFC3339))
		}),
		certCheck("certificate-not-expiring", Medium, "V12.2.2", "the certificate has more than 7 days left", func(_ *Target, c *x509.Certificate) Outcome {
			left := time.Until(c.NotAfter)
			if left < minCertRemaining {
				return Failf("%s left (until %s): renew it", left.Round(time.Minute), c.NotAfter.UTC().Format(time.RFC3339))
			}
			return Passf("%d days left", int(left.Hours()/24))
		}),
		certCheck("certificate-lifetime-sensible", Low, "V12.2.2", "the certificate's lifetime is at most 398 days", func(_ *Target, c *x509.Certificate) Outcome {
			life := c.NotAfter.Sub(c.NotBefore)
			if life > maxCertLifetime {
				return Failf("valid for %d days, over 398", int(life.Hours()/24))
			}
			return Passf("valid for %d days", int(life.Hours()/24))
		}),
		certCheck("certificate-key-strength", High, "V12.1.2", "the certificate's key is RSA of at least 2048 bits, ECDSA of at least 256 or Ed25519", func(_ *Target, c *x509.Certificate) Outcome {
			switch k := c.PublicKey.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < 2048 {
					return Failf("RSA key of %d bits", k.N.BitLen())
				}
				return Passf("RSA %d", k.N.BitLen())
			case *ecdsa.PublicKey:
				if k.Curve.Params().BitSize < 256 {
					return Failf("ECDSA key of %d bits", k.Curve.Params().BitSize)
				}
				return Passf("ECDSA %s", k.Curve.Params().Name)
			case ed25519.PublicKey:
				return Passf("Ed25519")
			}
			return Failf("an unknown key type %T", c.PublicKey)
		}),
		certCheck("certificate-signature-not-sha1", High, "CWE-328", "the certificate is not signed with SHA-1 or MD5", func(_ *Target, c *x509.Certificate) Outcome {
			switch c.SignatureAlgorithm {
			case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA, x509.DSAWithSHA1:
				return Failf("signed with %s", c.SignatureAlgorithm)
			}
			return Passf("signed with %s", c.SignatureAlgorithm)
		}),
		tlsCheck("plain-http-same-port-not-served", High, "V12.2.1", "plain HTTP sent to the HTTPS port is not served", func(ctx context.Context, t *Target) Outcome {
			return plainHTTP(ctx, t, t.hostPort(""))
		}),
		tlsCheck("plain-http-redirects-or-closed", Medium, "V12.2.1", "plain HTTP on the host's HTTP port redirects to HTTPS or is closed", func(ctx context.Context, t *Target) Outcome {
			return plainHTTP(ctx, t, t.hostPort(strconv.Itoa(t.httpPort)))
		}),
	}
}

// plainHTTP sends GET /login over plain HTTP to addr: closed, refused or a
// redirect to https:// on the same host passes; content served fails.
func plainHTTP(ctx context.Context, t *Target, addr string) Outcome {
	if t.used.Add(1) > t.budget {
		return requestFailed(ctx, ErrBudget)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return requestFailed(ctx, err)
		}
		return Passf("%s is closed: %v", addr, err)
	}
	conn.Close()
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/login", nil)
	if err != nil {
		return Failf("building a request: %v", err)
	}
	req.Host = t.Base.Hostname()
	resp, err := client.Do(req)
	if err != nil {
		return Passf("%s answers no HTTP: %v", addr, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		if !strings.HasPrefix(loc, "https://"+t.Base.Hostname()) {
			return Failf("http://%s/login = %d to %q, not to https on the same host", addr, resp.StatusCode, loc)
		}
		return Passf("http://%s/login = %d to %s", addr, resp.StatusCode, loc)
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode == http.StatusUpgradeRequired:
		return Passf("http://%s/login = %d: plain HTTP is refused", addr, resp.StatusCode)
	}
	return Failf("http://%s/login = %d: the page is served without TLS", addr, resp.StatusCode)
}
