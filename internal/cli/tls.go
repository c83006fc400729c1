package cli

import (
	"crypto/tls"
	"path/filepath"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/server"
)

// tlsConfig returns the public listener's TLS settings, or nil without TLS.
// ACME talks to the CA through out, like every other outbound request.
func tlsConfig(cfg config.Config, out *egress.Client) (*tls.Config, error) {
	switch {
	case cfg.TLSCert != "":
		return server.CertTLSConfig(cfg.TLSCert, cfg.TLSKey)
	case cfg.ACMEDomain != "":
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(cfg.ACMEDomain),
			Cache:      autocert.DirCache(filepath.Join(cfg.DataDir, "acme")),
			Client:     &acme.Client{DirectoryURL: autocert.DefaultACMEDirectory, HTTPClient: out.HTTPClient()},
		}
		c := server.TLSConfig()
		c.GetCertificate = m.GetCertificate
		c.NextProtos = append(c.NextProtos, "acme-tls/1")
		return c, nil
	}
	return nil, nil
}
