package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// denialOf extracts the DenialError of err or fails the test.
func denialOf(t *testing.T, err error) Denial {
	t.Helper()
	var de *DenialError
	if !errors.As(err, &de) {
		t.Fatalf("want a *DenialError, got %v", err)
	}
	return de.Denial
}

// assertReported checks that the one refusal reached both OnDeny and the
// log with the expected reason.
func assertReported(t *testing.T, rec *recorder, reason Reason) {
	t.Helper()
	ds := rec.got()
	if len(ds) != 1 || ds[0].Reason != reason {
		t.Fatalf("OnDeny got %+v, want one %s denial", ds, reason)
	}
	logs := rec.logs.String()
	if n := countLogReason(logs, string(reason)); n != 1 {
		t.Fatalf("log has %d %s denials, want 1:\n%s", n, reason, logs)
	}
	if !strings.Contains(logs, `"msg":"egress request denied"`) {
		t.Fatalf("log lacks the denial message:\n%s", logs)
	}
}

// A host, port, method, path or scheme outside the
// policy is refused before any name is resolved or connection made.
func TestRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	policy := mustPolicy(t, fmt.Sprintf(`
version: 1
rules:
  - name: fake
    host: allowed.test
    ports: [%[1]d]
    methods: [GET, POST]
    paths: [/ok, /v1/*]
    unsafe_allow_http: true
  - name: secure-only
    host: secure.test
    ports: [%[1]d]
    methods: [GET]
    paths: ["/**"]
  - name: other-port
    host: otherport.test
    ports: [1]
    methods: [GET]
    paths: ["/**"]
    unsafe_allow_http: true
`, srv.port))
	answers := map[string][]string{
		"allowed.test": {"127.0.0.1"}, "other.test": {"127.0.0.1"},
		"secure.test": {"127.0.0.1"}, "otherport.test": {"127.0.0.1"},
	}
	base := fmt.Sprintf("http://allowed.test:%d", srv.port)

	cases := []struct {
		name   string
		method string
		url    string
		host   string // Host header override
		want   Reason
	}{
		{"host", "GET", fmt.Sprintf("http://other.test:%d/ok", srv.port), "", ReasonNoRule},
		{"port", "GET", fmt.Sprintf("http://otherport.test:%d/ok", srv.port), "", ReasonPort},
		{"method", "DELETE", base + "/ok", "", ReasonMethod},
		{"path", "GET", base + "/admin", "", ReasonPath},
		{"path prefix only", "GET", base + "/ok/more", "", ReasonPath},
		{"dot segments", "GET", base + "/v1/../admin", "", ReasonPath},
		{"encoded dot segments", "GET", base + "/v1/%2e%2e/admin", "", ReasonPath},
		{"encoded slash", "GET", base + "/v1/a%2Fb", "", ReasonPath},
		{"double-encoded slash", "GET", base + "/v1/a%252fb", "", ReasonPath},
		{"scheme http on https-only rule", "GET", fmt.Sprintf("http://secure.test:%d/ok", srv.port), "", ReasonScheme},
		{"scheme ftp", "GET", fmt.Sprintf("ftp://allowed.test:%d/ok", srv.port), "", ReasonScheme},
		{"user info", "GET", fmt.Sprintf("http://u:p@allowed.test:%d/ok", srv.port), "", ReasonInvalidRequest},
		{"host header differs", "GET", base + "/ok", "other.test", ReasonInvalidRequest},
	}
	for _, tc := range cases {
		// Sequential on purpose: the listener's count proves no
		// connection was made, and it is read after all of them.
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			res := newFakeResolver(answers)
			c := mustClient(t, policy, func() Options {
				o := rec.options(res)
				o.UnsafeAllowLoopback = true
				return o
			}())
			req := newRequest(t, context.Background(), tc.method, tc.url)
			if tc.host != "" {
				req.Host = tc.host
			}
			_, err := send(c, req)
			if d := denialOf(t, err); d.Reason != tc.want {
				t.Fatalf("reason %s (%s), want %s", d.Reason, d.Detail, tc.want)
			}
			assertReported(t, rec, tc.want)
			if n := res.totalLookups(); n != 0 {
				t.Fatalf("resolver called %d times for a refused request", n)
			}
		})
	}

	// The positive control: an allowed request does reach the listener,
	// and it is the only connection the listener ever saw.
	rec := &recorder{}
	opts := rec.options(newFakeResolver(answers))
	opts.UnsafeAllowLoopback = true
	c := mustClient(t, policy, opts)
	body, err := send(c, newRequest(t, context.Background(), "POST", base+"/ok"))
	if err != nil || body != "ok POST" {
		t.Fatalf("allowed request: %q, %v", body, err)
	}
	if n := srv.accepts(); n != 1 {
		t.Fatalf("listener accepted %d connections, want exactly 1 (the allowed request)", n)
	}
	if len(rec.got()) != 0 {
		t.Fatalf("allowed request reported a denial: %+v", rec.got())
	}
}

// Names resolving to refused addresses are refused
// at dial time, before connect.
func TestRefusedAtDialTime(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	policy := mustPolicy(t, fmt.Sprintf(`
version: 1
rules:
  - name: evil
    host: evil.test
    ports: [%d]
    methods: [GET]
    paths: ["/**"]
    unsafe_allow_http: true
`, srv.port))
	cases := []struct {
		answer        []string
		loopbackOK    bool
		wantAddr, cat string
	}{
		{[]string{"127.0.0.1"}, false, "127.0.0.1", "loopback"},
		{[]string{"10.0.0.1"}, false, "10.0.0.1", "private"},
		{[]string{"169.254.169.254"}, false, "169.254.169.254", "metadata"},
		{[]string{"::ffff:127.0.0.1"}, false, "127.0.0.1", "loopback"},
		{[]string{"64:ff9b::a00:1"}, false, "64:ff9b::a00:1", "nat64"},
		{[]string{"fd00:ec2::254"}, false, "fd00:ec2::254", "metadata"},
		{[]string{"100.64.0.1"}, false, "100.64.0.1", "cgnat"},
		{[]string{"::1"}, false, "::1", "loopback"},
		{[]string{"fe80::1"}, false, "fe80::1", "link_local"},
		{[]string{"2002:7f00:1::"}, false, "2002:7f00:1::", "6to4"},
		// The test-only loopback switch loosens loopback and nothing else.
		{[]string{"10.0.0.1"}, true, "10.0.0.1", "private"},
		{[]string{"169.254.169.254"}, true, "169.254.169.254", "metadata"},
		{[]string{"64:ff9b::7f00:1"}, true, "64:ff9b::7f00:1", "nat64"},
		// One refused answer refuses the name, even if another would pass.
		{[]string{"127.0.0.1", "10.0.0.1"}, true, "10.0.0.1", "private"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v loopback=%v", tc.answer, tc.loopbackOK), func(t *testing.T) {
			rec := &recorder{}
			res := newFakeResolver(map[string][]string{"evil.test": tc.answer})
			opts := rec.options(res)
			opts.UnsafeAllowLoopback = tc.loopbackOK
			c := mustClient(t, policy, opts)
			_, err := send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("http://evil.test:%d/x", srv.port)))
			d := denialOf(t, err)
			if d.Reason != ReasonPrivateAddress || d.Detail != tc.cat || d.Address != netip.MustParseAddr(tc.wantAddr) {
				t.Fatalf("denial %+v, want private_address %s at %s", d, tc.cat, tc.wantAddr)
			}
			if d.Rule != "evil" || d.Method != "GET" || d.Host != "evil.test" {
				t.Fatalf("denial lacks request context: %+v", d)
			}
			assertReported(t, rec, ReasonPrivateAddress)
			if res.lookups("evil.test") != 1 {
				t.Fatalf("want exactly one lookup, got %d", res.lookups("evil.test"))
			}
		})
	}
	if n := srv.accepts(); n != 0 {
		t.Fatalf("listener accepted %d connections, want none", n)
	}
}

// A literal IP in the URL gets the same address check, without a lookup.
func TestLiteralAddresses(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	rule := func(host string, private bool) string {
		return fmt.Sprintf(`
version: 1
rules:
  - name: literal
    host: "%s"
    ports: [%d]
    methods: [GET]
    paths: ["/**"]
    unsafe_allow_http: true
    unsafe_allow_private_addresses: %v
`, host, srv.port, private)
	}
	cases := []struct {
		name       string
		host, url  string
		private    bool
		loopbackOK bool
		wantCat    string // "" means allowed
	}{
		{"loopback refused", "127.0.0.1", "127.0.0.1", false, false, "loopback"},
		{"mapped loopback refused even with the switch", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", false, true, "ipv4_mapped"},
		{"nat64 refused", "64:ff9b::a00:1", "[64:ff9b::a00:1]", false, false, "nat64"},
		{"metadata refused even with the rule flag", "169.254.169.254", "169.254.169.254", true, true, "metadata"},
		{"mapped metadata refused even with the rule flag", "::ffff:169.254.169.254", "[::ffff:169.254.169.254]", true, true, "metadata"},
		{"unspecified refused even with the rule flag", "0.0.0.0", "0.0.0.0", true, true, "unspecified"},
		{"rule flag does not unlock loopback", "127.0.0.1", "127.0.0.1", true, false, "loopback"},
		{"test switch allows loopback", "127.0.0.1", "127.0.0.1", false, true, ""},
		{"rule flag with the test switch allows loopback", "127.0.0.1", "127.0.0.1", true, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			res := newFakeResolver(nil)
			opts := rec.options(res)
			opts.UnsafeAllowLoopback = tc.loopbackOK
			c := mustClient(t, mustPolicy(t, rule(tc.host, tc.private)), opts)
			body, err := send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("http://%s:%d/ok", tc.url, srv.port)))
			if tc.wantCat == "" {
				if err != nil || body != "ok GET" {
					t.Fatalf("want success, got %q, %v", body, err)
				}
				return
			}
			d := denialOf(t, err)
			if d.Reason != ReasonPrivateAddress || d.Detail != tc.wantCat {
				t.Fatalf("denial %+v, want %s", d, tc.wantCat)
			}
			assertReported(t, rec, ReasonPrivateAddress)
			if res.totalLookups() != 0 {
				t.Fatal("a literal address must not be resolved")
			}
		})
	}
}

// The second layer: even if the first check were skipped, the Control hook
// of the dialer the transport uses refuses the socket address right before
// connect.
func TestDialControlRechecks(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	rec := &recorder{}
	c := mustClient(t, mustPolicy(t, "version: 1\n"), rec.options(newFakeResolver(nil)))
	for _, ad := range []*addrDialer{c.strictDial, c.privateDial} {
		// Straight to the net.Dialer, past the first check.
		conn, err := ad.dialer.DialContext(context.Background(), "tcp", fmt.Sprintf("0.0.0.0:%d", srv.port))
		if err == nil {
			conn.Close()
			t.Fatal("connect-time check let the unspecified address through")
		}
		if d := denialOf(t, err); d.Detail != "unspecified (at connect)" {
			t.Fatalf("%+v", d)
		}
	}
	conn, err := c.strictDial.dialer.DialContext(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", srv.port))
	if err == nil {
		conn.Close()
		t.Fatal("connect-time check let loopback through")
	}
	if srv.accepts() != 0 {
		t.Fatal("a refused dial reached the listener")
	}
	for _, addr := range []string{"10.0.0.1:443", "[::1]:443", "169.254.169.254:80", "[fd00:ec2::254]:80", "192.0.2.1:443"} {
		err := c.strictDial.control(context.Background(), "tcp", addr, nil)
		if d := denialOf(t, err); d.Reason != ReasonPrivateAddress || !strings.HasSuffix(d.Detail, "(at connect)") {
			t.Fatalf("%s: %+v", addr, d)
		}
	}
	if err := c.strictDial.control(context.Background(), "tcp", "8.8.8.8:443", nil); err != nil {
		t.Fatalf("public address refused at connect: %v", err)
	}
	if got := len(rec.got()); got != 8 {
		t.Fatalf("OnDeny saw %d connect-time refusals, want 8", got)
	}
}

// The client dials the address it checked: a name that rebinds to a private
// address after the first lookup is looked up once per connection, and the
// connection goes to the checked address.
func TestDialsCheckedAddressOnly(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	res := newFakeResolver(map[string][]string{"rebind.test": {"127.0.0.1"}})
	res.later["rebind.test"] = []string{"10.0.0.1"}
	rule, err := RuleForURL(fmt.Sprintf("http://rebind.test:%d", srv.port))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opts := rec.options(res)
	opts.UnsafeAllowLoopback = true
	c := mustClient(t, p, opts)
	for range 3 {
		if _, err := send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("http://rebind.test:%d/ok", srv.port))); err != nil {
			t.Fatal(err)
		}
	}
	if n := res.lookups("rebind.test"); n != 1 {
		t.Fatalf("%d lookups for one pooled connection, want 1", n)
	}
	// A fresh connection resolves again and meets the rebound address.
	c.CloseIdleConnections()
	_, err = send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("http://rebind.test:%d/ok", srv.port)))
	if d := denialOf(t, err); d.Reason != ReasonPrivateAddress || d.Address != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("rebound name: %+v", d)
	}
}

// A redirect from an allowed host to a refused one
// is refused, and the refused host sees no connection.
func TestRedirects(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	target := startFake(t, false)
	policy := mustPolicy(t, fmt.Sprintf(`
version: 1
rules:
  - name: fake
    host: allowed.test
    ports: [%d]
    methods: [GET]
    paths: [/ok, /redirect, /loop]
    unsafe_allow_http: true
`, srv.port))
	answers := map[string][]string{"allowed.test": {"127.0.0.1"}, "refused.test": {"127.0.0.1"}}
	base := fmt.Sprintf("http://allowed.test:%d", srv.port)
	cases := []struct {
		name         string
		path         string
		maxRedirects int
		wantDetail   string // "" means success
	}{
		{"to a host without a rule", "/redirect?to=" + fmt.Sprintf("http://refused.test:%d/ok", target.port), 0, "no_rule"},
		{"to a refused path", "/redirect?to=/admin", 0, "path: no path pattern matches"},
		{"to a downgraded scheme", "/redirect?to=" + fmt.Sprintf("ftp://allowed.test:%d/ok", srv.port), 0, "scheme: only https (or http where a rule allows it)"},
		{"loop", "/loop", 2, "too many redirects"},
		{"not followed at all", "/redirect?to=/ok", -1, "redirects are not followed"},
		{"to an allowed path", "/redirect?to=/ok", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			opts := rec.options(newFakeResolver(answers))
			opts.UnsafeAllowLoopback = true
			opts.MaxRedirects = tc.maxRedirects
			c := mustClient(t, policy, opts)
			body, err := send(c, newRequest(t, context.Background(), "GET", base+tc.path))
			if tc.wantDetail == "" {
				if err != nil || body != "ok GET" {
					t.Fatalf("want success, got %q, %v", body, err)
				}
				return
			}
			d := denialOf(t, err)
			if d.Reason != ReasonRedirect || d.Detail != tc.wantDetail {
				t.Fatalf("denial %+v, want redirect %q", d, tc.wantDetail)
			}
			assertReported(t, rec, ReasonRedirect)
		})
	}
	t.Cleanup(func() {
		if n := target.accepts(); n != 0 {
			t.Errorf("refused redirect target accepted %d connections", n)
		}
	})
}

func TestAllowedRequests(t *testing.T) {
	t.Parallel()
	t.Run("http with the loopback switch", func(t *testing.T) {
		t.Parallel()
		srv := startFake(t, false)
		rule, err := RuleForURL(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPolicy(rule)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		opts := rec.options(nil)
		opts.UnsafeAllowLoopback = true
		c := mustClient(t, p, opts)
		body, err := send(c, newRequest(t, context.Background(), "GET", srv.URL+"/ok"))
		if err != nil || body != "ok GET" {
			t.Fatalf("%q, %v", body, err)
		}
		if !strings.Contains(rec.logs.String(), `"msg":"egress request","rule":"`+rule.Name+`"`) {
			t.Fatalf("allowed request not logged at debug: %s", rec.logs.String())
		}
	})
	t.Run("https with a name, checked certificate", func(t *testing.T) {
		t.Parallel()
		srv := startFake(t, true)
		// httptest's certificate is valid for example.com; the fake
		// resolver sends it to the loopback server.
		res := newFakeResolver(map[string][]string{"example.com": {"127.0.0.1"}})
		p := mustPolicy(t, fmt.Sprintf(`
version: 1
rules:
  - name: tls
    host: example.com
    ports: [%d]
    methods: [GET]
    paths: [/ok]
`, srv.port))
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		rec := &recorder{}
		opts := rec.options(res)
		opts.UnsafeAllowLoopback = true
		opts.RootCAs = pool
		c := mustClient(t, p, opts)
		body, err := send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("https://example.com:%d/ok", srv.port)))
		if err != nil || body != "ok GET" {
			t.Fatalf("%q, %v", body, err)
		}
		// Without the test CA the certificate is not trusted: the name,
		// not the dialed address, is what TLS verifies.
		opts.RootCAs = x509.NewCertPool()
		c2 := mustClient(t, p, opts)
		if _, err := send(c2, newRequest(t, context.Background(), "GET", fmt.Sprintf("https://example.com:%d/ok", srv.port))); err == nil {
			t.Fatal("untrusted certificate accepted")
		}
	})
	t.Run("rule flag for a private model server", func(t *testing.T) {
		t.Parallel()
		srv := startFake(t, false)
		res := newFakeResolver(map[string][]string{"ollama.internal": {"127.0.0.1"}})
		p := mustPolicy(t, fmt.Sprintf(`
version: 1
rules:
  - name: ollama
    host: ollama.internal
    ports: [%d]
    methods: [POST]
    paths: [/v1/*]
    unsafe_allow_http: true
    unsafe_allow_private_addresses: true
  - name: strict-twin
    host: ollama.internal
    ports: [%d]
    methods: [GET]
    paths: [/ok]
    unsafe_allow_http: true
`, srv.port, srv.port))
		rec := &recorder{}
		// The fake listens on loopback, which only the test switch opens;
		// a rule's flag opens private ranges, never loopback.
		opts := rec.options(res)
		opts.UnsafeAllowLoopback = true
		c := mustClient(t, p, opts)
		body, err := send(c, newRequest(t, context.Background(), "POST", fmt.Sprintf("http://ollama.internal:%d/v1/chat", srv.port)))
		if err != nil || body != "v1" {
			t.Fatalf("%q, %v", body, err)
		}
		// The connection pooled under the unsafe rule is not reused by a
		// rule without the flag: that request dials anew, through the
		// strict address check.
		before := srv.accepts()
		if body, err := send(c, newRequest(t, context.Background(), "GET", fmt.Sprintf("http://ollama.internal:%d/ok", srv.port))); err != nil || body != "ok GET" {
			t.Fatalf("strict twin: %q, %v", body, err)
		}
		if srv.accepts() != before+1 {
			t.Fatalf("the strict rule reused the unsafe rule's connection (%d accepts before, %d after)", before, srv.accepts())
		}
	})
}

func TestResponseCap(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	rule, err := RuleForURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&recorder{}).options(nil)
	opts.UnsafeAllowLoopback = true
	opts.MaxResponseBytes = 100
	c := mustClient(t, p, opts)
	cases := []struct {
		path    string
		wantErr bool
	}{
		{"/stream?n=100", false},
		{"/stream?n=101", true},
		{"/stream?n=5000", true},
		{"/sized?n=100", false},
		{"/sized?n=101", true},
	}
	for _, tc := range cases {
		body, err := send(c, newRequest(t, context.Background(), "GET", srv.URL+tc.path))
		if tc.wantErr {
			if !errors.Is(err, ErrResponseTooLarge) {
				t.Fatalf("%s: want ErrResponseTooLarge, got %v (%d bytes)", tc.path, err, len(body))
			}
			continue
		}
		if err != nil || len(body) != 100 {
			t.Fatalf("%s: %d bytes, %v", tc.path, len(body), err)
		}
	}
}

func TestTotalTimeout(t *testing.T) {
	t.Parallel()
	srv := startFake(t, false)
	rule, err := RuleForURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&recorder{}).options(nil)
	opts.UnsafeAllowLoopback = true
	opts.Timeout = 50 * time.Millisecond
	c := mustClient(t, p, opts)
	_, err = send(c, newRequest(t, context.Background(), "GET", srv.URL+"/slow"))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a timeout error, got %v", err)
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	t.Parallel()
	c := mustClient(t, DefaultPolicy(), Options{})
	for _, tr := range []*http.Transport{c.strict, c.private} {
		if tr.Proxy != nil {
			t.Fatal("transport would use a proxy")
		}
		if tr.DialContext == nil || tr.DialTLSContext != nil {
			t.Fatal("transport can dial without the address check")
		}
	}
}

type ctxKey struct{}

// OnDeny gets the request's context (request id, workspace) for the audit
// log, for refusals by the policy and at dial time alike.
func TestOnDenyGetsRequestContext(t *testing.T) {
	t.Parallel()
	res := newFakeResolver(map[string][]string{"api.openai.com": {"10.1.2.3"}})
	rec := &recorder{}
	c := mustClient(t, DefaultPolicy(), rec.options(res))
	ctx := context.WithValue(context.Background(), ctxKey{}, "req-42")
	for _, u := range []string{"https://api.openai.com/v1/admin", "https://api.openai.com/v1/chat/completions"} {
		_, _ = send(c, newRequest(t, ctx, "POST", u))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ctxs) != 2 || rec.denials[0].Reason != ReasonPath || rec.denials[1].Reason != ReasonPrivateAddress {
		t.Fatalf("denials %+v", rec.denials)
	}
	for _, got := range rec.ctxs {
		if got.Value(ctxKey{}) != "req-42" {
			t.Fatal("OnDeny did not get the request context")
		}
	}
}

// The Telegram bot token travels in the path: no refusal, log line or error
// may carry it (protocols.md 0.6).
func TestSecretsInURLNeverLeak(t *testing.T) {
	t.Parallel()
	const token = "123456789:AAcanarySECRETtoken_abcdefghijklmnopq"
	const queryKey = "AIzacanaryQUERYkey0123456789"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	_ = closed.Close()
	srv := startFake(t, false)

	p := mustPolicy(t, string(DefaultPolicyYAML())+fmt.Sprintf(`
  - name: closed
    host: closed.test
    ports: [%d]
    methods: [POST]
    paths: ["/**"]
    unsafe_allow_http: true
  - name: bouncer
    host: bouncer.test
    ports: [%d]
    methods: [GET]
    paths: [/redirect]
    unsafe_allow_http: true
`, closedPort, srv.port))
	res := newFakeResolver(map[string][]string{
		"api.telegram.org": {"10.9.9.9"}, "closed.test": {"127.0.0.1"}, "bouncer.test": {"127.0.0.1"},
	})
	rec := &recorder{}
	opts := rec.options(res)
	opts.UnsafeAllowLoopback = true
	c := mustClient(t, p, opts)

	urls := []struct{ method, url string }{
		{"POST", "https://api.telegram.org/bot" + token + "/sendMessage?key=" + queryKey},                    // dial-time refusal
		{"POST", "https://api.telegram.org/bot" + token + "/exportEverything?key=" + queryKey},               // path refusal
		{"POST", "http://api.telegram.org/bot" + token + "/sendMessage"},                                     // scheme refusal
		{"POST", fmt.Sprintf("http://closed.test:%d/bot%s/sendMessage?key=%s", closedPort, token, queryKey)}, // transport error
		{"GET", fmt.Sprintf("http://bouncer.test:%d/redirect?to=https://elsewhere.test/bot%s/x", srv.port, token)},
	}
	var errs []string
	for _, u := range urls {
		_, err := send(c, newRequest(t, context.Background(), u.method, u.url))
		if err == nil {
			t.Fatalf("%s: want an error", u.url[:20])
		}
		errs = append(errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	all := strings.Join(errs, "\n") + rec.logs.String() + fmt.Sprintf("%+v", rec.got())
	for _, secret := range []string{token, "canarySECRET", queryKey, "canaryQUERY"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q leaked:\n%s", secret, all)
		}
	}
	if len(rec.got()) != 4 {
		t.Fatalf("want 4 refusals, got %+v", rec.got())
	}
	if !strings.Contains(all, "/*/sendMessage") {
		t.Fatalf("redacted path should still name the method:\n%s", all)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("nil policy accepted")
	}
	for _, o := range []Options{{Timeout: -1}, {DialTimeout: -1}, {MaxResponseBytes: -1}} {
		if _, err := New(DefaultPolicy(), o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
}

// Do closes a refused request's body, as a RoundTripper must.
func TestRefusedRequestBodyClosed(t *testing.T) {
	t.Parallel()
	c := mustClient(t, DefaultPolicy(), Options{})
	body := &closeRecorder{Reader: strings.NewReader("payload")}
	req, err := http.NewRequestWithContext(context.Background(), "POST", "https://evil.test/", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(req); err == nil {
		t.Fatal("want a refusal")
	}
	if !body.closed {
		t.Fatal("request body left open")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestHTTPClientGoesThroughPolicy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	rule, err := RuleForURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rule.Paths = []string{"/allowed"}
	p, err := NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(p, Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient()
	resp, err := hc.Get(srv.URL + "/allowed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("allowed path: %d", resp.StatusCode)
	}
	_, err = hc.Get(srv.URL + "/other")
	var de *DenialError
	if !errors.As(err, &de) || de.Denial.Reason != ReasonPath {
		t.Fatalf("path outside the policy through HTTPClient: %v", err)
	}
}
