package cli

import (
	"testing"

	"github.com/palisadehq/palisade/internal/config"
)

// serve warns at start exactly when browsers would reach the UI over plain
// HTTP by a name that is not a secure context, where its Secure cookies
// are dropped and nobody can sign in.
func TestPlainHTTPWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, publicURL string
		tls, warn       bool
	}{
		{"127.0.0.1:8080", "", false, false},
		{"[::1]:8080", "", false, false},
		{"localhost:8080", "", false, false},
		{"0.0.0.0:8080", "", false, true},
		{":8080", "", false, true},
		{"192.0.2.7:8080", "", false, true},
		{"0.0.0.0:8443", "", true, false},
		{"0.0.0.0:8080", "https://chat.example.com", false, false},
		{"0.0.0.0:8080", "http://chat.example.com", false, true},
		{"127.0.0.1:8080", "http://chat.example.com", false, true},
		{"0.0.0.0:8080", "http://localhost:8080", false, false},
	}
	for _, tt := range tests {
		cfg := config.Config{Addr: tt.addr, PublicURL: tt.publicURL}
		if got := plainHTTPWarning(cfg, tt.tls) != ""; got != tt.warn {
			t.Errorf("addr %s, public URL %q, TLS %v: warns %v, want %v", tt.addr, tt.publicURL, tt.tls, got, tt.warn)
		}
	}
}
