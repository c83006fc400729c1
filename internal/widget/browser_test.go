package widget_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// testPKI is a throw-away CA and one leaf for the test host names, so the
// browser talks HTTPS to the site and to Palisade, as allowed domains
// require.
type testPKI struct {
	leaf tls.Certificate
	// spki is the base64 SHA-256 of the leaf's public key, which Chromium
	// is told to trust (--ignore-certificate-errors-spki-list).
	spki string
}

func newTestPKI(t *testing.T, hosts ...string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Palisade widget test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: hosts, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return testPKI{
		leaf: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey, Leaf: leaf},
		spki: base64.StdEncoding.EncodeToString(sum[:]),
	}
}

func (p testPKI) config() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.leaf}, MinVersion: tls.VersionTLS12}
}

// answered is one response of the widget surface, as the test saw it.
type answered struct {
	method, path, origin string
	status               int
}

type answers struct {
	mu   sync.Mutex
	list []answered
}

func (a *answers) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.mu.Lock()
		a.list = append(a.list, answered{r.Method, r.URL.Path, r.Header.Get("Origin"), sw.status})
		a.mu.Unlock()
	})
}

func (a *answers) find(f func(answered) bool) []answered {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []answered
	for _, x := range a.list {
		if f(x) {
			out = append(out, x)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBrowserWidget embeds the widget in a real headless Chromium. A shop
// page at https://shop.test (allowed) and the same page at
// https://other.test (not allowed) paste the snippet under a strict CSP of
// their own; Palisade serves the widget at https://palisade.test. The host
// names are mapped to loopback with --host-resolver-rules, and the browser
// trusts the test leaf by its key. From the shop, a question gets the
// streamed answer with its source; from the other site the frame is refused
// and no session starts; the shop's token replayed from the other site, or
// sent for another bot, is refused.
func TestBrowserWidget(t *testing.T) {
	t.Parallel()
	bin := servicetest.Chromium(t)
	pki := newTestPKI(t, "palisade.test", "shop.test", "other.test")

	// The site: one page that pastes the snippet, reachable under both
	// names.
	var widgetBase, botID string
	ready := make(chan struct{})
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		// The site's own strict policy: nothing inline, scripts, frames
		// and fetches only from Palisade.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+widgetBase+"; frame-src "+widgetBase+"; connect-src "+widgetBase+"; style-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>The shop</h1><script src="%s/widget.js" data-bot="%s" async></script></body></html>`, widgetBase, botID)
	}))
	site.TLS = pki.config()
	site.StartTLS()
	t.Cleanup(site.Close)
	sitePort := site.Listener.Addr().(*net.TCPAddr).Port
	shopOrigin := fmt.Sprintf("https://shop.test:%d", sitePort)
	otherOrigin := fmt.Sprintf("https://other.test:%d", sitePort)

	var seen answers
	e := setup(t, envOptions{domains: []string{shopOrigin}, tls: pki.config(), wrap: seen.wrap})
	palisadePort := e.srv.Listener.Addr().(*net.TCPAddr).Port
	widgetBase = fmt.Sprintf("https://palisade.test:%d", palisadePort)
	botID = string(e.bot.ID)
	close(ready)

	// A hang guard, not a performance assertion: the flow takes seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	var browserOut, chromedpLog syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.CombinedOutput(&browserOut),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("site-per-process", true),
		chromedp.Flag("host-resolver-rules", "MAP palisade.test 127.0.0.1, MAP shop.test 127.0.0.1, MAP other.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", pki.spki),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(allocCancel)
	logf := func(format string, args ...any) { fmt.Fprintf(&chromedpLog, format+"\n", args...) }
	bctx, bcancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx)
		bcancel()
		if t.Failed() {
			t.Logf("browser output:\n%s\nchromedp log:\n%s\nwidget answers: %+v", browserOut.String(), chromedpLog.String(), seen.find(func(answered) bool { return true }))
		}
	})
	fail := func(format string, args ...any) {
		t.Helper()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("the browser flow ran out of time: "+format, args...)
		}
		t.Fatalf(format, args...)
	}

	console := listenConsole(bctx)

	// The shop: the launcher appears, opens the frame, and a question gets
	// its answer with the source.
	if _, err := chromedp.RunResponse(bctx, chromedp.Navigate(shopOrigin+"/")); err != nil {
		fail("opening the shop: %v", err)
	}
	frameCtx := openWidget(t, bctx, fail, nil)
	if err := chromedp.Do(frameCtx,
		chromedp.WaitVisible(chromedp.CSS(`main[data-session="ready"]`)),
		chromedp.SendKeys(chromedp.CSS(`#message`), "When does the shop open?"),
		chromedp.Click(chromedp.CSS(`#ask button`)),
		chromedp.WaitVisible(chromedp.CSS(`#log li.assistant[data-done="true"] .sources`)),
	); err != nil {
		status, _ := chromedp.Run(frameCtx, chromedp.Evaluate[string](`document.body.innerText`))
		fail("asking in the widget: %v; the frame says:\n%s", err, status)
	}
	answer, err := chromedp.Run(frameCtx, chromedp.Text(chromedp.CSS(`#log li.assistant[data-done="true"]`)))
	if err != nil {
		fail("reading the answer: %v", err)
	}
	if !strings.Contains(answer, "opens at nine") || !strings.Contains(answer, "Sources") || !strings.Contains(answer, "Opening hours") {
		t.Fatalf("the answer lacks the passage or its source:\n%s", answer)
	}
	streamed := seen.find(func(a answered) bool {
		return a.method == "POST" && a.path == "/widget/"+botID+"/messages" && a.origin == widgetBase && a.status == 200
	})
	if len(streamed) != 1 {
		t.Fatalf("the frame's message requests: %+v", streamed)
	}
	// The shop's strict policy blocked nothing of the widget: it adds no
	// inline script or style. (The frame page's own markup is checked in
	// TestFramePageCSP.)
	isCSP := func(m string) bool { return strings.Contains(m, "Content Security Policy") }
	if slices.ContainsFunc(console.all(), isCSP) {
		t.Fatalf("CSP violations on the shop: %q", console.all())
	}
	tokenKey := "palisade.widget." + botID + ".token"
	token, err := chromedp.Run(frameCtx, chromedp.Evaluate[string](`localStorage.getItem(`+jsString(tokenKey)+`) || ''`))
	if err != nil || token == "" {
		fail("no session token in the frame's storage: %q %v", token, err)
	}

	// The token sent from the shop for another bot (which allows the shop
	// too, so CORS lets the page read the answer): refused.
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](replay(widgetBase, e.other.ID, token), chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		fail("the token sent for another bot: status %d, %v; want 401", status, err)
	}

	// The other site: the same page gets no widget. The frame is refused by
	// its frame-ancestors, so no session is ever asked for.
	if _, err := chromedp.RunResponse(bctx, chromedp.Navigate(otherOrigin+"/")); err != nil {
		fail("opening the other site: %v", err)
	}
	openWidget(t, bctx, fail, func(frameURL string) {
		// Give a refused frame the time a working one needs to start.
		time.Sleep(time.Second)
	})
	// The browser says why: the frame's policy names only the shop.
	if !console.waitFor(ctx, func(m string) bool {
		return strings.Contains(m, "Framing '"+widgetBase+"/'") && strings.Contains(m, "violates") &&
			strings.Contains(m, `"frame-ancestors `+shopOrigin+`"`) && strings.Contains(m, "blocked")
	}) {
		fail("the browser did not report refusing the frame on the other site; console: %q", console.all())
	}
	// Frame loads from the other site were refused a ticket, and no session
	// started anywhere but from the shop's frame.
	frames := seen.find(func(a answered) bool { return a.method == "GET" && a.path == "/widget/"+botID })
	if len(frames) != 2 || frames[0].status != 200 || frames[1].status != 403 {
		t.Fatalf("frame page loads: %+v; want the shop's 200 then the other site's 403", frames)
	}
	sessions := seen.find(func(a answered) bool { return a.path == "/widget/"+botID+"/session" })
	if len(sessions) != 1 || sessions[0].status != 200 {
		t.Fatalf("session requests: %+v; want only the shop frame's", sessions)
	}

	// The shop's token replayed from the other site: the preflight is
	// refused, so the page gets nothing, and a simple request would be
	// refused by the Origin check as well.
	outcome, err := chromedp.Run(bctx, chromedp.Evaluate[string](replayOutcome(widgetBase, e.bot.ID, token), chromedp.EvalAwaitPromise))
	if err != nil || outcome != "blocked" {
		fail("the token replayed from the other site: %q, %v; want the browser to block it", outcome, err)
	}
	refused := seen.find(func(a answered) bool {
		return a.path == "/widget/"+botID+"/messages" && a.origin == otherOrigin
	})
	if len(refused) == 0 || slices.ContainsFunc(refused, func(a answered) bool { return a.status < 400 }) {
		t.Fatalf("requests from the other site with the shop's token: %+v; want every one refused", refused)
	}

	// Back on the shop, a new page load keeps the conversation: the frame
	// shows it and continues the same session.
	if _, err := chromedp.RunResponse(bctx, chromedp.Navigate(shopOrigin+"/")); err != nil {
		fail("reopening the shop: %v", err)
	}
	frameCtx = openWidget(t, bctx, fail, nil)
	if err := chromedp.Do(frameCtx, chromedp.WaitVisible(chromedp.CSS(`main[data-session="ready"]`))); err != nil {
		fail("the widget did not start again: %v", err)
	}
	again, err := chromedp.Run(frameCtx, chromedp.Text(chromedp.CSS(`#log`)))
	if err != nil || !strings.Contains(again, "When does the shop open?") || !strings.Contains(again, "opens at nine") {
		fail("the reopened widget lost the conversation: %q %v", again, err)
	}
	same, err := chromedp.Run(frameCtx, chromedp.Evaluate[string](`localStorage.getItem(`+jsString(tokenKey)+`) || ''`))
	if err != nil || same == "" || sessionOf(t, same) != sessionOf(t, token) {
		fail("the reopened widget started another session")
	}
}

// openWidget clicks the launcher of the current page and, unless refused
// is set, returns a context attached to the widget frame (an out-of-process
// frame: the widget's origin differs from the site's).
func openWidget(t *testing.T, bctx context.Context, fail func(string, ...any), refused func(string)) context.Context {
	t.Helper()
	before := map[target.ID]bool{}
	if ts, err := chromedp.Targets(bctx); err == nil {
		for _, ti := range ts {
			before[ti.TargetID] = true
		}
	}
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.CSS(`button[data-palisade-launcher]`)),
		chromedp.Click(chromedp.CSS(`button[data-palisade-launcher]`)),
		chromedp.WaitReady(chromedp.CSS(`iframe[data-palisade-frame]`)),
	); err != nil {
		fail("opening the widget: %v", err)
	}
	if refused != nil {
		refused("")
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ts, err := chromedp.Targets(bctx)
		if err != nil {
			fail("listing targets: %v", err)
		}
		for _, ti := range ts {
			if ti.Type == "iframe" && !before[ti.TargetID] && strings.Contains(ti.URL, "/widget/bot_") {
				fctx, cancel := chromedp.NewContext(bctx, chromedp.WithTargetID(ti.TargetID))
				t.Cleanup(cancel)
				return fctx
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fail("no widget frame target appeared")
	return nil
}

// consoleLog collects what the page's console and the browser's log say.
type consoleLog struct {
	mu   sync.Mutex
	msgs []string
	more chan struct{}
}

func listenConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{more: make(chan struct{}, 1)}
	stream := chromedp.Console(ctx)
	go func() {
		for m, err := range stream {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m.Text)
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// waitFor reports whether a message matching f arrives within fifteen seconds.
func (c *consoleLog) waitFor(ctx context.Context, f func(string) bool) bool {
	deadline := time.After(15 * time.Second)
	for {
		if slices.ContainsFunc(c.all(), f) {
			return true
		}
		select {
		case <-c.more:
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// replay sends a token to a bot's message route from the current page and
// resolves to the status, or -1 when the browser blocked the request.
func replay(base string, bot palisade.BotID, token string) string {
	return `fetch(` + jsString(base+"/widget/"+string(bot)+"/messages") + `, {method: 'POST', credentials: 'omit',
		headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + ` + jsString(token) + `},
		body: JSON.stringify({message: 'replayed'})}).then(r => r.status, () => -1)`
}

func replayOutcome(base string, bot palisade.BotID, token string) string {
	return `(` + replay(base, bot, token) + `).then(s => s === -1 ? 'blocked' : 'status ' + s)`
}

// sessionOf reads the session id out of a token's payload (the test knows
// the format; the browser never needs to).
func sessionOf(t *testing.T, token string) string {
	t.Helper()
	payload, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), `"s":"`)
	if i < 0 {
		t.Fatalf("no session in %s", b)
	}
	rest := string(b)[i+5:]
	return rest[:strings.IndexByte(rest, '"')]
}
