package probe_test

// Every check must be able to fail, or a green probe proves nothing. The
// tests here hold each check in probe.All() against a server that breaks
// exactly what that check looks for (the table in
// violations_table_test.go) and against a correct server that breaks
// nothing.
//
// A server here is a TLS listener the probe trusts, a small front that
// reads the head of each connection's first request (to refuse, or
// naively accept, the ambiguous framing the smuggling checks send, which
// Go's own server hides from handlers), and an http.Server over the
// correct application, optionally wrapped by a violation.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/probe"
	"github.com/palisadehq/palisade/internal/secret"
)

// labKey is the API key the correct server accepts and the probe is given:
// shaped like a Palisade key (pal_, 12 base32 characters, 43 base64url).
const labKey = "pal_abcdefghijkl_" + "Zm9yLXRoZS1wcm9iZS12aW9sYXRpb24tdGVzdHMtb25seQ"

// oneMiB is the body limit the correct server enforces.
const oneMiB = 1 << 20

// lab holds what every server of these tests shares: a certificate the
// probe trusts.
type lab struct {
	cert   tls.Certificate
	client *tls.Config
}

func newLab(t *testing.T) *lab {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "probe violations"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &lab{
		cert:   tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf},
		client: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
}

// options are the run options of every test here: the key (so the keyed
// checks run) and the lab's certificate. The timeouts are generous: the
// race detector on a loaded machine is slow, and a timeout would be a
// failure the server did not cause.
func (l *lab) options(withKey bool) probe.Options {
	o := probe.Options{TLS: l.client, Budget: 5000, Timeout: 30 * time.Second, Deadline: 2 * time.Minute}
	if withKey {
		o.APIKey = secret.New(labKey)
	}
	return o
}

// fixture is one server: the correct application, wrapped by a violation
// if wrap is set, behind a front that answers naive framing (see front).
type fixture struct {
	wrap  func(next http.Handler) http.Handler
	naive func(framing) bool
	plain bool // serve plain HTTP instead of HTTPS
}

// serve starts f and returns its base URL; it stops with the test.
func (l *lab) serve(t *testing.T, f fixture) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "https"
	inner := ln
	if f.plain {
		scheme = "http"
	} else {
		inner = tls.NewListener(ln, serverTLS(l.cert))
	}
	h := correctServer()
	if f.wrap != nil {
		h = f.wrap(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(&frontListener{Listener: inner, naive: f.naive}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return scheme + "://" + ln.Addr().String()
}

// serverTLS is a deployment's TLS configuration: TLS 1.2 and 1.3, AEAD
// suites with forward secrecy only.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// checksOf returns the checks of one category.
func checksOf(cat string) []probe.Check {
	var out []probe.Check
	for _, c := range probe.All() {
		if c.Category == cat {
			out = append(out, c)
		}
	}
	return out
}

func keyOf(cat, name string) string { return cat + "/" + name }

// framing is what the front reads of a request head: the values of every
// Content-Length and Transfer-Encoding line, in order.
type framing struct {
	contentLength    []string
	transferEncoding []string
}

func parseFraming(head []byte) framing {
	var f framing
	lines := strings.Split(string(head), "\r\n")
	for _, line := range lines[min(1, len(lines)):] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			f.contentLength = append(f.contentLength, strings.TrimSpace(value))
		case "transfer-encoding":
			f.transferEncoding = append(f.transferEncoding, strings.TrimSpace(value))
		}
	}
	return f
}

// frontListener puts a front on every connection: it reads the first
// request's head and, before net/http sees it,
//   - answers 200 and closes if naive accepts its framing (a server that
//     guessed a length where it should have refused);
//   - answers 400 and closes if it carries both Content-Length and
//     Transfer-Encoding, which net/http reads as chunked rather than
//     refusing (Palisade's own connection guard refuses it the same way);
//   - otherwise hands the bytes to net/http unchanged, which refuses every
//     other ambiguous framing itself.
//
// Only the first request of a connection is read: the probe sends each
// ambiguous request on a connection of its own.
type frontListener struct {
	net.Listener
	naive func(framing) bool
}

func (l *frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &frontConn{Conn: c, naive: l.naive}
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsFrontConn{frontConn: fc, tc: tc}, nil
	}
	return fc, nil
}

type frontConn struct {
	net.Conn
	naive   func(framing) bool
	judged  bool
	pending []byte
	refused bool
}

func (c *frontConn) Read(p []byte) (int, error) {
	if !c.judged {
		c.judged = true
		c.judge()
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.refused {
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

func (c *frontConn) judge() {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for !bytes.Contains(buf, []byte("\r\n\r\n")) && len(buf) < 64<<10 {
		n, err := c.Conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	head, _, complete := bytes.Cut(buf, []byte("\r\n\r\n"))
	f := parseFraming(head)
	switch {
	case !complete:
		c.pending = buf
	case c.naive != nil && c.naive(f):
		c.refused = true
		_, _ = io.WriteString(c.Conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	case len(f.contentLength) > 0 && len(f.transferEncoding) > 0:
		c.refused = true
		_, _ = io.WriteString(c.Conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	default:
		c.pending = buf
	}
}

// CloseWrite passes the half-close through, so a client whose upload was
// refused reads the refusal instead of a reset.
func (c *frontConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsFrontConn lets net/http fill r.TLS (it asks before the first read, so
// the handshake is finished here).
type tlsFrontConn struct {
	*frontConn
	tc *tls.Conn
}

func (c *tlsFrontConn) ConnectionState() tls.ConnectionState {
	_ = c.tc.SetDeadline(time.Now().Add(10 * time.Second))
	_ = c.tc.Handshake()
	_ = c.tc.SetDeadline(time.Time{})
	return c.tc.ConnectionState()
}

// botID matches a well-formed bot id.
var botID = regexp.MustCompile(`^bot_[a-z2-7]{26}$`)

// correctServer answers like a deployment that passes every check: the
// real security headers middleware over every answer, no-store, only the
// methods it serves, a 1 MiB body limit before anything else, a sign-in
// page with a hardened cookie, an API that wants labKey, rate limits on
// keyed API reads and on sign-in attempts, webhooks that know no bot, and
// 404 everywhere else, without echoing anything it was sent.
func correctServer() http.Handler {
	var mu sync.Mutex
	used := map[string]int{}
	// limit counts a request against policy for identity and says so in
	// the RateLimit fields; past q requests it answers 429 and returns
	// false. The window never resets: a test's run is shorter than it.
	limit := func(w http.ResponseWriter, policy, identity string, q int) bool {
		mu.Lock()
		used[policy+" "+identity]++
		n := used[policy+" "+identity]
		mu.Unlock()
		w.Header().Set("RateLimit", fmt.Sprintf(`"%s";r=%d;t=60`, policy, max(0, q-n)))
		w.Header().Set("RateLimit-Policy", fmt.Sprintf(`"%s";q=%d;w=60`, policy, q))
		if n > q {
			w.Header().Set("Retry-After", "60")
			jsonError(w, http.StatusTooManyRequests, "rate_limited", "", "too many requests")
			return false
		}
		return true
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete:
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			h.Set("Allow", "GET, HEAD, POST, DELETE, OPTIONS")
			jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "method not allowed")
			return
		}
		if r.ContentLength > oneMiB {
			// Refused by its length alone; a body of the size the checks
			// send is still drained, because closing on a client still
			// writing it resets the connection before it reads the 413
			// when the race detector makes the upload slow.
			if r.ContentLength <= 2*oneMiB {
				_, _ = io.Copy(io.Discard, r.Body)
			} else {
				h.Set("Connection", "close")
			}
			jsonError(w, http.StatusRequestEntityTooLarge, "too_large", "", "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, oneMiB)
		p := r.URL.Path
		switch {
		case p == "/":
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "method not allowed")
				return
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!doctype html><title>Palisade</title><p>Sign in to continue.</p>")
		case p == "/login":
			peer, _, _ := net.SplitHostPort(r.RemoteAddr)
			if r.Method == http.MethodPost && !limit(w, "login", peer, 10) {
				return
			}
			login(w, r)
		case p == "/healthz":
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "method not allowed")
				return
			}
			_, _ = io.WriteString(w, "ok")
		case p == "/static/admin.css" && r.Method == http.MethodGet:
			h.Set("Content-Type", "text/css")
			_, _ = io.WriteString(w, "body { margin: 0 }")
		case p == "/api/v1/openapi.json" && r.Method == http.MethodGet:
			h.Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"openapi":"3.1.0","info":{"title":"Palisade API","version":"1"},"paths":{}}`)
		case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/v1/"):
			// Keyed reads are limited per key, everything else per peer
			// (generously: the checks send many anonymous requests).
			ok := false
			if authorized(r) && r.Method == http.MethodGet {
				ok = limit(w, "api", "key", 30)
			} else {
				peer, _, _ := net.SplitHostPort(r.RemoteAddr)
				ok = limit(w, "anonymous", peer, 1000000)
			}
			if ok {
				api(w, r)
			}
		case strings.HasPrefix(p, "/hooks/"):
			jsonError(w, http.StatusNotFound, "not_found", "", "no such bot")
		default:
			http.NotFound(w, r)
		}
	})
	return httpx.SecurityHeaders(httpx.SecurityOptions{})(app)
}

func jsonError(w http.ResponseWriter, status int, code, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "field": field, "message": msg}})
}

func login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		var b [18]byte
		_, _ = rand.Read(b[:])
		http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_csrf", Value: fmt.Sprintf("%x", b), Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>Sign in</title><form method="post"><input name="email"><input name="password" type="password"></form>`)
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			jsonError(w, http.StatusUnsupportedMediaType, "invalid", "", "the sign-in form is urlencoded")
			return
		}
		if err := r.ParseForm(); err != nil {
			jsonError(w, http.StatusBadRequest, "invalid", "", "the form could not be read")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "<!doctype html><title>Sign in</title><p>Wrong email or password.</p>")
	default:
		jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "method not allowed")
	}
}

// authorized reports whether r carries labKey as a bearer token.
func authorized(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+labKey)) == 1
}

func api(w http.ResponseWriter, r *http.Request) {
	if !authorized(r) {
		jsonError(w, http.StatusUnauthorized, "unauthenticated", "", "a valid API key is required")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/api/v1/bots" && r.Method == http.MethodGet, p == "/v1/models" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":[]}`)
	case p == "/api/v1/bots" && r.Method == http.MethodPost:
		var in struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			jsonError(w, http.StatusBadRequest, "invalid", "", "the body is not a bot")
			return
		}
		if in.Name == "" || strings.ContainsFunc(in.Name, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			jsonError(w, http.StatusBadRequest, "invalid", "name", "a name is printable text")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`)
	case strings.HasPrefix(p, "/api/v1/bots/"):
		jsonError(w, http.StatusNotFound, "not_found", "", "no such bot")
	default:
		jsonError(w, http.StatusNotFound, "not_found", "", "no such route")
	}
}

// matcher picks the checks a violation covers; for a family it also
// returns the part of the name that varies (a route, a platform), which
// the violation is built for.
type matcher struct {
	desc  string
	match func(cat, name string) (arg string, ok bool)
}

// is matches the one check "category/name".
func is(key string) matcher {
	return matcher{key, func(cat, name string) (string, bool) { return "", keyOf(cat, name) == key }}
}

// each matches the family "category/name <arg>".
func each(prefix string) matcher {
	return matcher{prefix + " <arg>", func(cat, name string) (string, bool) {
		return strings.CutPrefix(keyOf(cat, name), prefix+" ")
	}}
}

// kinds matches the family "category/<arg>suffix".
func kinds(cat, suffix string) matcher {
	return matcher{cat + "/<arg>" + suffix, func(c, name string) (string, bool) {
		arg, ok := strings.CutSuffix(name, suffix)
		return arg, ok && c == cat && arg != "" && !strings.Contains(arg, " ")
	}}
}

// where matches what f accepts; the argument is the whole name.
func where(desc string, f func(cat, name string) bool) matcher {
	return matcher{desc, func(cat, name string) (string, bool) { return name, f(cat, name) }}
}

// violation is one entry of the table: the checks it covers and the
// server that breaks them, one check at a time.
type violation struct {
	match matcher
	// how says what the server does wrong.
	how string
	// build returns the violating server for one check c of the family;
	// arg is what the matcher returned.
	build func(x subject) fixture
	// alsoFails lists the other checks of the category the violation
	// cannot help failing too (the same request, judged twice).
	alsoFails []string
}

// subject is what a violation is built for.
type subject struct {
	t     *testing.T
	lab   *lab
	check probe.Check
	arg   string
}

// wrap is a fixture that only wraps the correct application.
func wrap(f func(x subject) func(http.Handler) http.Handler) func(subject) fixture {
	return func(x subject) fixture { return fixture{wrap: f(x)} }
}

// lookup returns the entry covering c, if exactly one does.
func lookup(c probe.Check) (violation, string, int) {
	var (
		found violation
		arg   string
		n     int
	)
	for _, v := range violations {
		if a, ok := v.match.match(c.Category, c.Name); ok {
			found, arg = v, a
			n++
		}
	}
	return found, arg, n
}

// TestEveryCheckHasAViolation: each check in probe.All() is covered by
// exactly one entry of the violations table or is listed in provedElsewhere
// with the reason; every entry and every exception names a check.
func TestEveryCheckHasAViolation(t *testing.T) {
	t.Parallel()
	all := probe.All()
	var missing []string
	names := map[string]bool{}
	for _, c := range all {
		key := keyOf(c.Category, c.Name)
		names[key] = true
		_, _, n := lookup(c)
		reason, excepted := provedElsewhere[key]
		switch {
		case excepted && n > 0:
			t.Errorf("%s is listed as proved elsewhere (%s) but has a violation: drop one", key, reason)
		case excepted:
		case n == 0:
			missing = append(missing, key)
		case n > 1:
			t.Errorf("%s is covered by %d violations, want one", key, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d checks have no violation; add an entry to the violations table that breaks each:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	for _, v := range violations {
		if !slices.ContainsFunc(all, func(c probe.Check) bool { _, ok := v.match.match(c.Category, c.Name); return ok }) {
			t.Errorf("the violation for %s covers no check", v.match.desc)
		}
		for _, k := range v.alsoFails {
			if !names[k] {
				t.Errorf("the violation for %s names an unknown check %s in alsoFails", v.match.desc, k)
			}
		}
	}
	// Each reason names the test that fails the check; that test must
	// exist in this package, so an exception cannot outlive its proof.
	var sources strings.Builder
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources.Write(b)
	}
	testName := regexp.MustCompile(`Test[A-Za-z0-9_]+`)
	for k, reason := range provedElsewhere {
		if !names[k] {
			t.Errorf("provedElsewhere names %s, which is not a check", k)
		}
		proof := testName.FindString(reason)
		if proof == "" || !strings.Contains(sources.String(), "func "+proof+"(") {
			t.Errorf("provedElsewhere gives %s the reason %q, which names no test of this package", k, reason)
		}
	}
}

// TestEachViolationFailsItsCheck: for each check, the whole category is
// run against the server that breaks that check: the check fails, and no
// other check of the category does (but those the entry names in
// alsoFails), so each violation is what its check detects, not a broken
// server.
func TestEachViolationFailsItsCheck(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sem := make(chan struct{}, 12)
	var wg sync.WaitGroup
	for _, c := range probe.All() {
		v, arg, n := lookup(c)
		if n != 1 {
			continue // TestEveryCheckHasAViolation reports it
		}
		key := keyOf(c.Category, c.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Subtests called from goroutines run concurrently without
			// waiting for -parallel slots: the checks mostly wait on
			// the network.
			t.Run(key, func(t *testing.T) {
				f := v.build(subject{t: t, lab: l, check: c, arg: arg})
				base := l.serve(t, f)
				rep, err := probe.Run(t.Context(), base, checksOf(c.Category), l.options(true))
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rep.Results {
					k := keyOf(r.Category, r.Name)
					switch {
					case k == key && r.Status != probe.Fail:
						t.Errorf("against a server that %s, %s = %s (%s), want fail", v.how, k, r.Status, r.Evidence)
					case k != key && r.Status == probe.Fail && !slices.Contains(v.alsoFails, k):
						t.Errorf("the server that %s also fails %s (%s): break only the check", v.how, k, r.Evidence)
					}
				}
			})
		}()
	}
	wg.Wait()
}

// covered reports whether exactly one violation covers r's check.
func covered(r probe.Result) bool {
	_, _, n := lookup(probe.Check{Category: r.Category, Name: r.Name})
	return n == 1
}

// TestCorrectServerPassesEveryCheck: no check fails against the correct
// server, and a check that cannot run says why. Over HTTPS with the key,
// every check the violations table covers passes: its violation is the
// correct server plus one flaw, so the flaw alone is what fails it.
func TestCorrectServerPassesEveryCheck(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	for _, tc := range []struct {
		name      string
		plain     bool
		key       bool
		mustPass  bool
		minPassed int
	}{
		{"https with a key", false, true, true, 0},
		{"plain http without a key", true, false, false, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := l.serve(t, fixture{plain: tc.plain})
			all := probe.All()
			rep, err := probe.Run(t.Context(), base, all, l.options(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != len(all) {
				t.Fatalf("%d results for %d checks", len(rep.Results), len(all))
			}
			for _, r := range rep.Results {
				k := keyOf(r.Category, r.Name)
				switch {
				case r.Status == probe.Fail:
					t.Errorf("%s failed against the correct server: %s", k, r.Evidence)
				case r.Status == probe.Skip && tc.mustPass && covered(r):
					t.Errorf("%s skipped against the correct server over HTTPS with a key: %s", k, r.Evidence)
				case r.Status == probe.Skip && strings.TrimSpace(r.Evidence) == "":
					t.Errorf("%s skipped without a reason", k)
				case r.Status == probe.Skip && (strings.Contains(r.Evidence, "budget") || strings.Contains(r.Evidence, "deadline")):
					t.Errorf("%s skipped for the run's limits, not for the target: %s", k, r.Evidence)
				}
			}
			if rep.Passed < tc.minPassed {
				t.Errorf("only %d checks passed", rep.Passed)
			}
		})
	}
}
