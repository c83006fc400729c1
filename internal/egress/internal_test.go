package egress

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestForInternalService: the client reaches the one origin the operator
// named, loopback and private addresses included, and nothing else; its
// refusals reach the parent's OnDeny and log.
func TestForInternalService(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	other := startFake(t, false)
	answers := map[string][]string{"gateway": {"127.0.0.1"}, "gateway.internal": {"10.1.2.3"}}
	// The parent allows nothing of the internal service and no loopback:
	// the internal client owes nothing to either.
	parent := func(rec *recorder) *Client {
		return mustClient(t, mustPolicy(t, "version: 1\nrules: []\n"), rec.options(newFakeResolver(answers)))
	}

	for _, base := range []string{srv.URL, fmt.Sprintf("http://gateway:%d", srv.port), fmt.Sprintf("http://gateway:%d/", srv.port)} {
		rec := &recorder{}
		c, err := parent(rec).ForInternalService(base)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		t.Cleanup(c.CloseIdleConnections)
		for _, method := range []string{"GET", "POST", "DELETE"} {
			if body, err := send(c, newRequest(t, context.Background(), method, strings.TrimSuffix(base, "/")+"/ok")); err != nil || body != "ok "+method {
				t.Fatalf("%s %s/ok: %q, %v", method, base, body, err)
			}
		}
		if d := rec.got(); len(d) != 0 {
			t.Fatalf("%s: denials %+v", base, d)
		}
	}

	refused := []struct {
		name, service, url string
		want               Reason
		detail             string
	}{
		{"another port", srv.URL, other.URL + "/ok", ReasonPort, ""},
		{"another host", fmt.Sprintf("http://gateway:%d", srv.port), srv.URL + "/ok", ReasonNoRule, ""},
		{"plain http to an https service", "https://gateway.internal:8443", "http://gateway.internal:8443/ok", ReasonScheme, ""},
		{"a redirect, even to the same origin", srv.URL, srv.URL + "/redirect?to=/ok", ReasonRedirect, "redirects are not followed"},
		{"the metadata address, even when named", "http://169.254.169.254", "http://169.254.169.254/latest/meta-data/", ReasonPrivateAddress, "metadata"},
	}
	for _, tc := range refused {
		rec := &recorder{}
		c, err := parent(rec).ForInternalService(tc.service)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Cleanup(c.CloseIdleConnections)
		_, err = send(c, newRequest(t, context.Background(), "GET", tc.url))
		d := denialOf(t, err)
		if d.Reason != tc.want || (tc.detail != "" && d.Detail != tc.detail) {
			t.Errorf("%s: denial %+v, want %s %q", tc.name, d, tc.want, tc.detail)
			continue
		}
		assertReported(t, rec, tc.want)
	}
	if n := other.accepts(); n != 0 {
		t.Errorf("another port accepted %d connections", n)
	}

	for _, bad := range []string{"", "gateway:8081", "ftp://gateway", "http://user:pass@gateway:8081", "http://gateway:8081/?x=1",
		"http://gateway:8081/#f", "http://", "http://gateway:99999", "http://*.gateway.internal"} {
		if _, err := parent(&recorder{}).ForInternalService(bad); err == nil {
			t.Errorf("ForInternalService(%q) accepted", bad)
		}
	}
	// Only the unsafe switches of the rule loosen anything, and they say so.
	c, err := parent(&recorder{}).ForInternalService("https://gateway.internal:8443")
	if err != nil {
		t.Fatal(err)
	}
	rules := c.policy.Rules()
	if len(rules) != 1 || rules[0].Name != InternalServiceRule || rules[0].Host != "gateway.internal" || rules[0].Ports[0] != 8443 ||
		rules[0].UnsafeAllowHTTP || !rules[0].UnsafeAllowPrivateAddresses {
		t.Fatalf("rule = %+v", rules)
	}
}
