package cli

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/crypto/acme/autocert"

	"github.com/palisadehq/palisade/internal/egress"
)

// TestACMEDirectoryAllowedByDefault: certificates from --acme-domain come
// through the egress client, so the default policy must allow the CA that
// autocert talks to.
func TestACMEDirectoryAllowedByDefault(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(autocert.DefaultACMEDirectory)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if err := egress.DefaultPolicy().Allows(method, u); err != nil {
			t.Errorf("%s %s: %v", method, u, err)
		}
	}
}
