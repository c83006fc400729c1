package cli_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
)

// edgeApp is one running Palisade with a workspace and an API key holding
// every scope.
type edgeApp struct {
	base   string // http://… or https://…
	addr   string // host:port of the public listener
	client *http.Client
	key    string
	tls    bool
}

// startEdgeApp runs the whole app in-process, over TLS when withTLS (a
// self-signed certificate for 127.0.0.1 that only this client trusts).
// The management limits are raised so the keyed pass reaches every handler
// instead of stopping at 429: this test is about headers, not limits.
func startEdgeApp(t *testing.T, withTLS bool) edgeApp {
	t.Helper()
	dir := t.TempDir()
	limits := filepath.Join(dir, "limits.yaml")
	if err := os.WriteFile(limits, []byte("classes:\n  mgmt_write: 1000/min\n  mgmt_read: 1000/min\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "palisade-data")}
	ws := createWorkspace(t, env, "Edge")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "edge",
		"--scopes", auth.FormatScopes(auth.AllScopes())))
	if _, err := auth.ParseAPIKey(key); err != nil {
		t.Fatalf("apikey create printed %q: %v", key, err)
	}
	// Redirects are not followed: a 303 to /login is a response whose
	// headers count like any other.
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	args := []string{"--rate-limits", limits}
	if withTLS {
		certFile, keyFile, pool := selfSignedCert(t, dir)
		args = append(args, "--tls-cert", certFile, "--tls-key", keyFile)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	r := serve(t, env, args...)
	addr := strings.TrimPrefix(r.public, "http://")
	base := r.public
	if withTLS {
		base = "https://" + addr
	}
	return edgeApp{base: base, addr: addr, client: client, key: key, tls: withTLS}
}

// selfSignedCert writes a throw-away ECDSA certificate for 127.0.0.1.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "palisade edge test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// edgeRequest is one request of the walk and what its response must show
// beyond the headers every response carries.
type edgeRequest struct {
	method, path string
	bearer       bool
	noStore      bool  // Cache-Control: no-store required
	status       []int // allowed statuses; nil: anything below 500 but 405
}

var wildcardRE = regexp.MustCompile(`\{([A-Za-z$]+)\}`)

// fillPattern turns a mux pattern into a request path: {$} is dropped, ids
// become well-formed random ids of their prefix and {token} a well-formed
// random token, so each request passes path validation and reaches the
// route's guard or handler (a malformed id would stop at a 404 and prove
// less).
func fillPattern(t *testing.T, pattern string) string {
	t.Helper()
	return wildcardRE.ReplaceAllStringFunc(pattern, func(m string) string {
		name := m[1 : len(m)-1]
		switch name {
		case "$":
			return ""
		case "token":
			return auth.NewToken().Reveal()
		}
		p, ok := palisade.PathParamPrefix(name)
		if !ok {
			t.Fatalf("pattern %s: wildcard {%s} has no id prefix; teach this test its form", pattern, name)
		}
		return palisade.NewID(p)
	})
}

// edgeRequests lists every registered route of every surface of the
// public listener, plus health checks, a static asset, 404s and 405s.
func edgeRequests(t *testing.T) []edgeRequest {
	t.Helper()
	var reqs []edgeRequest
	for _, rt := range (&api.API{}).Routes() {
		// Anonymous: the guard answers 401, which also proves the pattern
		// matched (an unmatched path would be 404 or 405); a public route
		// answers.
		anonymous := []int{http.StatusUnauthorized}
		if rt.Perm == auth.PermPublic {
			anonymous = []int{http.StatusOK}
		}
		reqs = append(reqs, edgeRequest{method: rt.Method, path: fillPattern(t, rt.Pattern), noStore: true, status: anonymous})
		// With a key holding every scope: the handler itself answers.
		reqs = append(reqs, edgeRequest{method: rt.Method, path: fillPattern(t, rt.Pattern), bearer: true, noStore: true})
	}
	for _, rt := range (&api.API{}).OpenAIRoutes() {
		// Anonymous: 401, or 400 for a body refused before the key is read.
		reqs = append(reqs, edgeRequest{method: rt.Method, path: fillPattern(t, rt.Pattern), noStore: true, status: []int{http.StatusUnauthorized, http.StatusBadRequest}})
		reqs = append(reqs, edgeRequest{method: rt.Method, path: fillPattern(t, rt.Pattern), bearer: true, noStore: true})
	}
	reqs = append(reqs,
		edgeRequest{method: http.MethodGet, path: "/v1/nothing-here", bearer: true, noStore: true, status: []int{http.StatusNotFound}},
		edgeRequest{method: http.MethodDelete, path: "/v1/models", bearer: true, noStore: true, status: []int{http.StatusMethodNotAllowed}},
	)
	for _, rt := range (&admin.UI{}).Routes() {
		r := edgeRequest{method: rt.Method, path: fillPattern(t, rt.Pattern), noStore: true}
		if rt.Perm != auth.PermPublic {
			// Signed-out: a page redirects to the log-in, a form post is refused.
			r.status = []int{http.StatusSeeOther, http.StatusUnauthorized}
		}
		reqs = append(reqs, r)
	}
	reqs = append(reqs,
		edgeRequest{method: http.MethodGet, path: "/healthz", noStore: true, status: []int{http.StatusOK}},
		edgeRequest{method: http.MethodGet, path: "/readyz", noStore: true, status: []int{http.StatusOK}},
		edgeRequest{method: http.MethodGet, path: "/static/admin.css", status: []int{http.StatusOK}},
		edgeRequest{method: http.MethodGet, path: "/no/such/page", status: []int{http.StatusNotFound}},
		edgeRequest{method: http.MethodGet, path: "/api/v1/nothing-here", bearer: true, status: []int{http.StatusNotFound}},
		// The admin listener's endpoints do not exist on the public one.
		edgeRequest{method: http.MethodGet, path: "/metrics", status: []int{http.StatusNotFound}},
		edgeRequest{method: http.MethodGet, path: "/debug/pprof/", status: []int{http.StatusNotFound}},
		edgeRequest{method: http.MethodGet, path: "/debug/pprof/cmdline", status: []int{http.StatusNotFound}},
		edgeRequest{method: http.MethodDelete, path: "/healthz", status: []int{http.StatusMethodNotAllowed}},
		edgeRequest{method: http.MethodDelete, path: "/api/v1/bots", bearer: true, status: []int{http.StatusMethodNotAllowed}},
		edgeRequest{method: http.MethodPut, path: "/account", status: []int{http.StatusMethodNotAllowed}},
		edgeRequest{method: http.MethodTrace, path: "/", status: []int{http.StatusMethodNotAllowed}},
		edgeRequest{method: "BREW", path: "/api/v1/bots", status: []int{http.StatusMethodNotAllowed}},
	)
	return reqs
}

// edgeSeen collects values that must differ between responses.
type edgeSeen struct {
	nonces, requestIDs map[string]string
}

// checkEdgeHeaders asserts the headers of SPEC R4 on one response.
func checkEdgeHeaders(t *testing.T, label string, resp *http.Response, body []byte, overTLS, noStore bool, seen *edgeSeen) {
	t.Helper()
	h := resp.Header
	csp := map[string][]string{}
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			csp[strings.ToLower(f[0])] = f[1:]
		}
	}
	script := csp["script-src"]
	if script == nil {
		script = csp["default-src"]
	}
	nonce := ""
	for _, src := range script {
		switch strings.ToLower(src) {
		case "'unsafe-inline'", "'unsafe-eval'", "*", "'unsafe-hashes'", "data:":
			t.Errorf("%s: script-src allows %s: %q", label, src, h.Get("Content-Security-Policy"))
		}
		if v, ok := strings.CutPrefix(src, "'nonce-"); ok && len(v) > 1 && strings.HasSuffix(v, "'") {
			nonce = strings.TrimSuffix(v, "'")
		}
	}
	if len(nonce) < 16 {
		t.Errorf("%s: no per-request nonce of at least 16 characters in script-src: %q", label, h.Get("Content-Security-Policy"))
	} else if prev, dup := seen.nonces[nonce]; dup {
		t.Errorf("%s: CSP nonce reused from %s", label, prev)
	} else {
		seen.nonces[nonce] = label
	}
	for _, d := range []string{"object-src", "base-uri", "frame-ancestors"} {
		if got := strings.Join(csp[d], " "); got != "'none'" {
			t.Errorf("%s: CSP %s = %q, want 'none'", label, d, got)
		}
	}
	want := map[string]string{
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", label, k, got, v)
		}
	}
	for _, k := range []string{"Referrer-Policy", "Permissions-Policy"} {
		if h.Get(k) == "" {
			t.Errorf("%s: no %s", label, k)
		}
	}
	if strings.Contains(h.Get("Referrer-Policy"), "unsafe-url") {
		t.Errorf("%s: Referrer-Policy %q", label, h.Get("Referrer-Policy"))
	}
	if !strings.Contains(h.Get("Permissions-Policy"), "camera=()") {
		t.Errorf("%s: Permissions-Policy does not deny the camera: %q", label, h.Get("Permissions-Policy"))
	}
	id := h.Get("X-Request-Id")
	if id == "" {
		t.Errorf("%s: no X-Request-Id", label)
	} else if prev, dup := seen.requestIDs[id]; dup {
		t.Errorf("%s: X-Request-Id %s reused from %s", label, id, prev)
	} else {
		seen.requestIDs[id] = label
	}
	hsts := h.Values("Strict-Transport-Security")
	switch {
	case overTLS && (len(hsts) != 1 || hsts[0] != "max-age=63072000; includeSubDomains; preload"):
		t.Errorf("%s: over TLS, Strict-Transport-Security = %q", label, hsts)
	case !overTLS && len(hsts) != 0:
		t.Errorf("%s: over plain HTTP, Strict-Transport-Security = %q", label, hsts)
	}
	if noStore && !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("%s: Cache-Control = %q, want no-store", label, h.Get("Cache-Control"))
	}
	// No banner: no Server or X-Powered-By header, and no header or body
	// naming the Go version.
	for _, k := range []string{"Server", "X-Powered-By", "X-Aspnet-Version", "Via"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s: %s header %q", label, k, v)
		}
	}
	var raw bytes.Buffer
	_ = h.Write(&raw)
	for _, banner := range []string{runtime.Version(), "Go-http", "palisade/", "(devel)"} {
		if bytes.Contains(raw.Bytes(), []byte(banner)) || bytes.Contains(body, []byte(banner)) {
			t.Errorf("%s: response names %q", label, banner)
		}
	}
}

// walkEdge makes every request of edgeRequests against app.
func walkEdge(t *testing.T, app edgeApp) {
	seen := &edgeSeen{nonces: map[string]string{}, requestIDs: map[string]string{}}
	reqs := edgeRequests(t)
	if len(reqs) < 40 {
		t.Fatalf("only %d requests: the route lists look empty", len(reqs))
	}
	for _, rq := range reqs {
		label := rq.method + " " + rq.path
		var body io.Reader
		if rq.method == http.MethodPost || rq.method == http.MethodPatch {
			body = strings.NewReader("{}")
		}
		req, err := http.NewRequest(rq.method, app.base+rq.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if rq.bearer {
			label += " (API key)"
			req.Header.Set("Authorization", "Bearer "+app.key)
		}
		resp, err := app.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.TLS != nil) != app.tls {
			t.Fatalf("%s: TLS state %v, want %v", label, resp.TLS != nil, app.tls)
		}
		switch {
		case rq.status == nil && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusMethodNotAllowed):
			t.Errorf("%s = %d: a registered route must reach its handler without a server error", label, resp.StatusCode)
		case rq.status == nil && rq.bearer && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests):
			t.Errorf("%s = %d with a key holding every scope", label, resp.StatusCode)
		case rq.status != nil && !containsInt(rq.status, resp.StatusCode):
			t.Errorf("%s = %d, want one of %v (%.200s)", label, resp.StatusCode, rq.status, b)
		}
		checkEdgeHeaders(t, fmt.Sprintf("%s -> %d", label, resp.StatusCode), resp, b, app.tls, rq.noStore, seen)
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestEdgeHeadersOnEveryRoute, through the whole app: every registered route of the API and the UI (anonymous
// and, for the API, with a key), health checks, a static file, 404s and
// 405s carry the security headers, over plain HTTP (no HSTS) and over TLS
// (HSTS).
func TestEdgeHeadersOnEveryRoute(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		name := "http"
		if withTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			walkEdge(t, startEdgeApp(t, withTLS))
		})
	}
}

// rawPost sends a 2 MiB POST on its own connection, with Content-Length
// or chunked, and reads the answer while the body is still being written:
// the server answers before reading the body, so a client that waited to
// finish writing could see its connection closed under it instead.
func rawPost(t *testing.T, addr, path, bearer string, chunked bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	payload := bytes.Repeat([]byte("a"), 2<<20)
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", path, addr)
	if bearer != "" {
		fmt.Fprintf(&head, "Authorization: Bearer %s\r\n", bearer)
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(payload))
	}
	go func() {
		// Write errors are expected once the server refuses and closes.
		if _, err := io.WriteString(conn, head.String()); err != nil {
			return
		}
		if !chunked {
			_, _ = conn.Write(payload)
			return
		}
		cw := httputil.NewChunkedWriter(conn)
		for off := 0; off < len(payload); off += 32 << 10 {
			if _, err := cw.Write(payload[off : off+32<<10]); err != nil {
				return
			}
		}
		_ = cw.Close()
		_, _ = io.WriteString(conn, "\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s (chunked %v): reading the response: %v", path, chunked, err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, b
}

// TestEdgeRefusesLargeBodies: a 2 MiB body to an API route is refused with
// 413 by the real app, with and without Content-Length and with or without
// a key, and the refusal carries the edge's headers like any response.
func TestEdgeRefusesLargeBodies(t *testing.T) {
	t.Parallel()
	app := startEdgeApp(t, false)
	seen := &edgeSeen{nonces: map[string]string{}, requestIDs: map[string]string{}}
	for _, chunked := range []bool{false, true} {
		for _, bearer := range []string{"", app.key} {
			label := fmt.Sprintf("2 MiB POST /api/v1/bots (chunked %v, key %v)", chunked, bearer != "")
			resp, body := rawPost(t, app.addr, "/api/v1/bots", bearer, chunked)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%s = %d, want 413 (%.200s)", label, resp.StatusCode, body)
			}
			if !bytes.Contains(body, []byte("too large")) {
				t.Errorf("%s: body %.200q does not say why", label, body)
			}
			checkEdgeHeaders(t, label, resp, body, false, true, seen)
		}
	}
	// This app runs without --allow-signup: sign-up is closed by default.
	if code, _ := get(t, app.base+"/signup"); code != http.StatusNotFound {
		t.Errorf("GET /signup without --allow-signup = %d, want 404", code)
	}
	// The same route with a small body is not refused for its size, so
	// the 413 above is the size and not the route.
	req, _ := http.NewRequest(http.MethodPost, app.base+"/api/v1/bots", strings.NewReader(`{"name":"small"}`))
	req.Header.Set("Authorization", "Bearer "+app.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := app.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode >= 500 {
		t.Fatalf("small POST /api/v1/bots = %d", resp.StatusCode)
	}
}

// fakeSMTP is a minimal SMTP server on loopback: no STARTTLS (mail.SMTP
// allows clear text to loopback only), AUTH PLAIN, one message per
// connection, handed to the test on msgs.
type fakeSMTP struct {
	ln   net.Listener
	msgs chan smtpMessage
}

type smtpMessage struct {
	auth, from, to, data string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln, msgs: make(chan smtpMessage, 8)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.session(c)
		}
	}()
	return f
}

func (f *fakeSMTP) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	say("220 fake ESMTP")
	var m smtpMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			say("250-fake\r\n250 AUTH PLAIN")
		case verb == "AUTH":
			m.auth = line
			say("235 ok")
		case verb == "MAIL":
			m.from = line
			say("250 ok")
		case verb == "RCPT":
			m.to = line
			say("250 ok")
		case verb == "DATA":
			say("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			m.data = data.String()
			f.msgs <- m
			say("250 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// TestServeSMTPAndSignup: with --smtp-* set, account e-mail goes through
// SMTP (with the configured sender and credentials, the password read from
// its _FILE twin) and not into the log; --allow-signup=true opens sign-up.
func TestServeSMTPAndSignup(t *testing.T) {
	t.Parallel()
	const smtpPass = "Smtp-Canary-Passw0rd-7781"
	f := startFakeSMTP(t)
	host, port, _ := net.SplitHostPort(f.ln.Addr().String())
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pwFile, []byte(smtpPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "palisade-data"), "PALISADE_SMTP_PASSWORD_FILE": pwFile}
	r := serve(t, env, "--smtp-host", host, "--smtp-port", port, "--smtp-username", "palisade",
		"--smtp-from", "noreply@palisade.example", "--allow-signup=true")
	postSignup(t, r)

	var m smtpMessage
	select {
	case m = <-f.msgs:
	case <-time.After(15 * time.Second):
		t.Fatalf("no e-mail reached the SMTP server\nlog:\n%s", r.stderr.String())
	}
	if !strings.Contains(m.from, "noreply@palisade.example") || !strings.Contains(m.to, "newcomer@example.com") {
		t.Errorf("envelope: %q / %q", m.from, m.to)
	}
	link := regexp.MustCompile(`/verify/[A-Za-z0-9_-]{43}`).FindString(m.data)
	if link == "" {
		t.Errorf("the message carries no verification link:\n%s", m.data)
	}
	// AUTH PLAIN <base64("\x00user\x00password")>: the password from the
	// _FILE twin reached the server, and nowhere else.
	wantAuth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00palisade\x00"+smtpPass))
	if m.auth != wantAuth {
		t.Errorf("AUTH line %q, want the configured user and password", m.auth)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	logs := r.stderr.String() + r.stdout.String()
	if !strings.Contains(logs, "account e-mails go through SMTP") {
		t.Errorf("the log does not say mail goes through SMTP")
	}
	for what, s := range map[string]string{"SMTP password": smtpPass, "verification link": link, "e-mail not sent notice": "e-mail not sent"} {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the %s is in the log", what)
		}
	}
}

// postSignup signs up newcomer@example.com through the real form, with its
// form token and pre-session cookie.
func postSignup(t *testing.T, r running) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := client.Get(r.public + "/signup")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /signup with --allow-signup=true = %d", resp.StatusCode)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == admin.PreSessionCookie {
			cookie = c
		}
	}
	if csrf == nil || cookie == nil {
		t.Fatalf("sign-up page without a form token (%v) or pre-session cookie (%v)", csrf != nil, cookie != nil)
	}
	form := "csrf=" + string(csrf[1]) + "&name=Newcomer&email=newcomer%40example.com&password=a-long-enough-unusual-passphrase-42&workspace=New+Co"
	req, _ := http.NewRequest(http.MethodPost, r.public+"/signup", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Set by hand: the cookie is Secure and this listener is plain HTTP.
	req.Header.Set("Cookie", cookie.Name+"="+cookie.Value)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("POST /signup = %d: %.300s", resp.StatusCode, body)
	}
}

// TestEmbeddedMailOnConsole: without SMTP, account e-mails are printed on
// the console whole, so the operator can deliver the link, while the log
// records only that one was printed (the redacting log would blank the
// link, and logs are kept where a link must not be). The printed link works.
func TestEmbeddedMailOnConsole(t *testing.T) {
	t.Parallel()
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}, "--allow-signup")
	postSignup(t, r)
	deadline := time.Now().Add(10 * time.Second)
	link := ""
	for link == "" && time.Now().Before(deadline) {
		link = regexp.MustCompile(`http://[0-9.:]+/verify/[A-Za-z0-9_-]{43}`).FindString(r.stdout.String())
		time.Sleep(20 * time.Millisecond)
	}
	if link == "" {
		t.Fatalf("no verification link on the console:\n%s", r.stdout.String())
	}
	if strings.Contains(r.stderr.String(), link[strings.LastIndex(link, "/")+1:]) {
		t.Fatal("the verification token reached the log")
	}
	if !strings.Contains(r.stderr.String(), "e-mail printed to the console") {
		t.Fatal("the log does not say an e-mail was printed")
	}
	// The link names the configured address (:0 here); follow its path on
	// the bound one.
	resp, err := http.Get(r.public + link[strings.Index(link, "/verify/"):])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("following the printed link: %d", resp.StatusCode)
	}
}

// TestBodyLimitsPerSurface: each surface's body limit is configurable on
// its own; a body over the API's limit is refused with 413 while the same
// body to the UI is read.
func TestBodyLimitsPerSurface(t *testing.T) {
	t.Parallel()
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}, "--max-body-api", "4096", "--max-body-ui", "65536")
	body := strings.Repeat("a", 8192)
	resp, err := http.Post(r.public+"/api/v1/bots", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("8 KiB to the API with a 4 KiB limit: %d", resp.StatusCode)
	}
	resp, err = http.Post(r.public+"/login", "application/x-www-form-urlencoded", strings.NewReader("email=a%40b.example&password="+body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Fatal("8 KiB to the UI with a 64 KiB limit was refused as too large")
	}
	resp, err = http.Post(r.public+"/login", "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("a", 70000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("70 KB to the UI with a 64 KiB limit: %d", resp.StatusCode)
	}
}
