package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// EnvScreenshots names the folder the newcomer's-path test writes its
// screenshots to; without it they go to the test's temporary directory.
const EnvScreenshots = "PALISADE_TEST_SCREENSHOTS"

// The two widths every page is judged at: a phone and a laptop.
var widths = []struct {
	name          string
	width, height int64
}{{"phone", 390, 844}, {"desktop", 1280, 900}}

// uiBrowser is a headless Chromium for the admin UI tests.
type uiBrowser struct {
	ctx context.Context
	tab *tab
}

// startBrowser starts Chromium with extra flags and opens a tab that
// reports CSP violations and console errors.
func startBrowser(t *testing.T, timeout time.Duration, flags ...chromedp.ExecAllocatorOption) uiBrowser {
	t.Helper()
	bin := servicetest.Chromium(t)
	// A hang guard, not a performance assertion.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	var browserOut, chromedpLog syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&browserOut),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, flags...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(allocCancel)
	logf := func(format string, args ...any) { fmt.Fprintf(&chromedpLog, format+"\n", args...) }
	bctx, bcancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx)
		bcancel()
		if t.Failed() {
			t.Logf("browser output:\n%s\nchromedp log:\n%s", browserOut.String(), chromedpLog.String())
		}
	})
	return uiBrowser{ctx: bctx, tab: openTab(t, bctx)}
}

// fits is the layout check of one page at the current width: nothing
// makes the document wider than the viewport, and every form field has a
// label (or an aria-label).
type fitReport struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Unlabelled  []string `json:"unlabelled"`
	Wide        []string `json:"wide"`
}

const fitScript = `(() => {
	const se = document.scrollingElement;
	const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
		.map(e => e.tagName.toLowerCase() + ' ' + (e.name || e.id));
	// What sticks out, to say why a page is too wide.
	const wide = [...document.body.querySelectorAll('*')]
		.filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap, pre'))
		.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''));
	return {scrollWidth: se.scrollWidth, innerWidth: window.innerWidth, unlabelled, wide};
})()`

// check judges the page the tab shows: no CSP violation or console error,
// no sideways scrolling, every field labelled.
func (b uiBrowser) check(t *testing.T, name string) {
	t.Helper()
	rep := b.tab.observe(t)
	if !rep.clean() {
		t.Errorf("%s: the browser reported problems: %s", name, rep)
	}
	loc := mustEval[string](t, b.ctx, `location.href`)
	for _, o := range rep.other {
		// An error page's own status is the one console error allowed:
		// the browser logs every 4xx document it loads.
		if strings.HasPrefix(o, "error:") && !(strings.Contains(o, "Failed to load resource") && strings.HasSuffix(o, "("+loc+")")) {
			t.Errorf("%s: console error: %s", name, o)
		}
	}
	r, err := chromedp.Run(b.ctx, chromedp.Evaluate[fitReport](fitScript))
	if err != nil {
		t.Fatalf("%s: measuring the layout: %v", name, err)
	}
	if r.ScrollWidth > r.InnerWidth {
		t.Errorf("%s: the page scrolls sideways: %d px wide in a %d px viewport (sticking out: %q)", name, r.ScrollWidth, r.InnerWidth, r.Wide)
	}
	if len(r.Unlabelled) > 0 {
		t.Errorf("%s: fields without a label: %q", name, r.Unlabelled)
	}
}

// viewport sets the tab's width (and height) for what follows.
func (b uiBrowser) viewport(t *testing.T, width, height int64) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("setting the viewport to %d px: %v", width, err)
	}
}

// shoot saves a full-page PNG of the current page as dir/name.png.
func (b uiBrowser) shoot(t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fill types into the fields of the current page, by CSS selector.
func (b uiBrowser) fill(t *testing.T, fields ...[2]string) {
	t.Helper()
	for _, f := range fields {
		if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS(f[0]), f[1])); err != nil {
			t.Fatalf("filling %s: %v", f[0], err)
		}
	}
}

// raisedLimits writes a rate-limit file generous enough for a test that
// opens every page twice.
func raisedLimits(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "limits.yaml")
	if err := os.WriteFile(p, []byte("classes:\n  mgmt_write: 1000/min\n  mgmt_read: 1000/min\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	setupLinkRE  = regexp.MustCompile(`https?://\S+/setup/[A-Za-z0-9_-]{43}`)
	inviteLinkRE = regexp.MustCompile(`https?://\S+(/invite/[A-Za-z0-9_-]{43})`)
)

// TestBrowserEveryPageFits opens every page of the admin UI's route table
// in a real Chromium, as the owner of a workspace with something in every
// list, at 390 px and at 1,280 px: no page scrolls sideways, every field
// has a label, and the browser reports no CSP violation or console error.
func TestBrowserEveryPageFits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "data")}, "--rate-limits", raisedLimits(t, dir))
	m := setupLinkRE.FindString(r.stdout.String())
	if m == "" {
		t.Fatalf("no set-up link on stdout:\n%s", r.stdout.String())
	}
	link, _ := url.Parse(m)
	b := startBrowser(t, 180*time.Second)
	ctx := b.ctx

	// The owner, a bot with a long name and a document, an invitation and
	// an API key: every list has rows.
	b.tab.submit(t, "open the set-up link", chromedp.Navigate(r.public+link.Path))
	b.fill(t, [2]string{`#setup-name`, "Ada Owner"}, [2]string{`#setup-email`, "ada.lovelace.with.a.long.address@example.com"},
		[2]string{`#setup-password`, "Palisade-browser-test-7f3kq9"}, [2]string{`#setup-workspace`, "Browser Works"})
	b.tab.submit(t, "create the owner", chromedp.Click(chromedp.CSS(`main form button`)))
	wsPath := strings.TrimSpace(mustEval[string](t, ctx, `document.querySelector('main a[href^="/w/"]').getAttribute('href')`))
	b.tab.submit(t, "open the new-bot form", chromedp.Navigate(r.public+wsPath+"/bots/new"))
	b.fill(t, [2]string{`input[name=name]`, "Returns and exchanges helpdesk for the online shop"},
		[2]string{`textarea[name=allowed_domains]`, "shop.example.com\nhelp.example.org"})
	b.tab.submit(t, "create the bot", chromedp.Click(chromedp.CSS(`main form[action="`+wsPath+`/bots"] button`)))
	botPath := b.tab.at(t, regexp.QuoteMeta(wsPath)+`/bots/bot_[a-z2-7]{26}`)
	b.tab.submit(t, "open the documents", chromedp.Navigate(r.public+botPath+"/documents"))
	b.fill(t, [2]string{`input[name=title]`, "Returns policy"}, [2]string{`textarea[name=content]`, "Items can be returned within 30 days of delivery."})
	b.tab.submit(t, "add the document", chromedp.Click(chromedp.CSS(`main form[action="`+botPath+`/documents"] button`)))
	b.tab.submit(t, "open the members", chromedp.Navigate(r.public+wsPath+"/members"))
	b.fill(t, [2]string{`input[name=email]`, "new.member@example.com"})
	b.tab.submit(t, "invite", chromedp.Click(chromedp.CSS(`main form[action="`+wsPath+`/members/invite"] button`)))
	b.tab.submit(t, "open the keys", chromedp.Navigate(r.public+wsPath+"/keys"))
	b.fill(t, [2]string{`input[name=name]`, "deploy"})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name=scope]`))); err != nil {
		t.Fatal(err)
	}
	b.tab.submit(t, "create a key", chromedp.Click(chromedp.CSS(`main form[action="`+wsPath+`/keys"] button`)))
	b.tab.submit(t, "open the preview", chromedp.Navigate(r.public+botPath+"/try"))
	b.fill(t, [2]string{`#try-message`, "Can I return a gift?"})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#try-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#chat-log li.assistant[data-done="true"]`))); err != nil {
		t.Fatalf("asking in the preview: %v", err)
	}
	b.tab.submit(t, "open the conversations", chromedp.Navigate(r.public+wsPath+"/conversations"))
	convPath := mustEval[string](t, ctx, `document.querySelector('main a[href*="/conversations/conv_"]').getAttribute('href')`)
	invite := inviteLinkRE.FindStringSubmatch(r.stdout.String())
	if invite == nil {
		t.Fatalf("no invitation link in the server's output:\n%s", r.stdout.String())
	}

	const anyToken = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	botID := botPath[strings.LastIndex(botPath, "/")+1:]
	paths := map[string]string{}
	for _, rt := range (&admin.UI{}).Routes() {
		if rt.Method != "GET" || rt.Pattern == "/{$}" || rt.Pattern == "/login/mfa" {
			continue // both redirect a signed-in browser
		}
		p := strings.NewReplacer("{workspaceId}", wsPath[len("/w/"):], "{botId}", botID, "{token}", anyToken,
			"{conversationId}", convPath[strings.LastIndex(convPath, "/")+1:]).Replace(rt.Pattern)
		switch rt.Pattern {
		case "/setup/{token}":
			p = link.Path // spent by now: its page says so
		case "/invite/{token}":
			p = invite[1]
		}
		paths[rt.Pattern] = p
	}
	// The error pages, too.
	paths["404"] = "/no-such-page"
	for _, w := range widths {
		b.viewport(t, w.width, w.height)
		for pattern, p := range paths {
			if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(r.public+p)); err != nil {
				t.Fatalf("opening %s: %v", p, err)
			}
			b.check(t, w.name+" "+pattern)
			if w.width == 1280 && pattern != "404" {
				b.focusVisible(t, pattern)
			}
		}
	}
}

// focusVisible tabs through the first controls of the page and fails when
// the keyboard focus lands on something that does not show it (no outline
// and no focus ring).
func (b uiBrowser) focusVisible(t *testing.T, name string) {
	t.Helper()
	for i := range 4 {
		if err := chromedp.Do(b.ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatalf("%s: pressing Tab: %v", name, err)
		}
		got := mustEval[string](t, b.ctx, `(() => {
			const e = document.activeElement;
			if (!e || e === document.body) return 'body';
			const s = getComputedStyle(e);
			const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
			return shown ? 'ok' : e.tagName.toLowerCase() + ' ' + (e.getAttribute('href') || e.name || e.textContent.trim().slice(0, 30));
		})()`)
		if got != "ok" && got != "body" {
			t.Errorf("%s: Tab %d focuses %q without a visible focus indicator", name, i+1, got)
		}
	}
}

// mustEval evaluates a script in the tab and returns its value.
func mustEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// hostPKI is a throw-away CA and a leaf for test host names, written as the
// PEM files serve reads, with the leaf's key hash Chromium is told to
// trust.
type hostPKI struct {
	certFile, keyFile, spki string
}

func newHostPKI(t *testing.T, dir string, hosts ...string) hostPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Palisade UI test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour), DNSNames: hosts, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	p := hostPKI{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(p.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	p.spki = base64.StdEncoding.EncodeToString(sum[:])
	return p
}

// TestBrowserNewcomersPath walks the way a new operator takes, in a real
// Chromium, reading only the pages: the set-up link `serve` prints, the
// first owner, two-factor enrolment with its QR code, the workspace home,
// a bot in retrieval-only mode (no provider is configured), its knowledge,
// the streamed preview with sources, the widget snippet, and finally a
// visitor's question answered with its source in the widget on a shop page
// of an allowed origin. Palisade and the shop are served over HTTPS under
// test host names mapped to loopback, with a test certificate the browser
// trusts by its key. Every page is checked at 390 and 1,280 px (no CSP
// violation or console error, no sideways scrolling, labelled fields) and
// saved as a PNG at both widths into the folder the test names in its
// output (PALISADE_TEST_SCREENSHOTS, or a temporary one).
func TestBrowserNewcomersPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the newcomer's path: %s", shots)
	pki := newHostPKI(t, dir, "palisade.test", "shop.test")

	// The shop: one page that pastes the snippet the bot page shows, under
	// a strict policy of its own.
	var snippet, widgetBase string
	ready := make(chan struct{})
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+widgetBase+"; frame-src "+widgetBase+"; connect-src "+widgetBase+"; style-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Shop</title></head>\n<body><h1>The shop</h1><p>Welcome.</p>\n%s\n</body></html>", snippet)
	}))
	cert, err := tls.LoadX509KeyPair(pki.certFile, pki.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	site.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	site.StartTLS()
	t.Cleanup(site.Close)
	shopOrigin := fmt.Sprintf("https://shop.test:%d", site.Listener.Addr().(*net.TCPAddr).Port)

	// `serve` as the README runs it, plus TLS: no provider, so bots answer
	// in retrieval-only mode.
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "data")},
		"--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--rate-limits", raisedLimits(t, dir))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(r.public, "http://"))
	base := "https://palisade.test:" + port
	widgetBase = base
	m := setupLinkRE.FindString(r.stdout.String())
	if m == "" {
		t.Fatalf("no set-up link on stdout:\n%s", r.stdout.String())
	}
	link, _ := url.Parse(m)

	b := startBrowser(t, 240*time.Second,
		chromedp.Flag("site-per-process", true),
		chromedp.Flag("host-resolver-rules", "MAP palisade.test 127.0.0.1, MAP shop.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", pki.spki),
	)
	ctx := b.ctx
	step := 0
	// page judges the current page at both widths and saves both
	// screenshots, then returns to the desktop width.
	page := func(name string) {
		t.Helper()
		step++
		for _, w := range widths {
			b.viewport(t, w.width, w.height)
			b.check(t, fmt.Sprintf("%s at %d px", name, w.width))
			b.shoot(t, shots, fmt.Sprintf("%02d-%s-%s", step, name, w.name))
		}
		b.viewport(t, 1280, 900)
	}

	// 1. The printed set-up link: the first owner and workspace.
	b.tab.submit(t, "open the set-up link", chromedp.Navigate(base+link.Path))
	page("setup")
	b.fill(t, [2]string{`#setup-name`, "Ada Owner"}, [2]string{`#setup-email`, "ada@example.com"},
		[2]string{`#setup-password`, "quartz fjord glimmer 8141"}, [2]string{`#setup-workspace`, "Ada's Shop"})
	b.tab.submit(t, "create the owner", chromedp.Click(chromedp.CSS(`main form button`)))
	b.tab.at(t, `/account`)
	if got := b.tab.text(t, `#verify-email`); !strings.Contains(got, "printed in the server's output") {
		t.Fatalf("the account page does not say where the verification link went:\n%s", got)
	}
	page("account")

	// 2. Optional two-factor: the enrolment shows a QR code and a link.
	b.tab.submit(t, "open two-factor", chromedp.Navigate(base+"/account/2fa"))
	b.tab.submit(t, "begin enrolment", chromedp.Click(chromedp.CSS(`main form[action="/account/2fa/begin"] button`)))
	if n := mustEval[int](t, ctx, `document.querySelectorAll('svg.qr path').length + document.querySelectorAll('a[href^="otpauth://totp/"]').length`); n != 2 {
		t.Fatalf("the enrolment page lacks its QR code or otpauth link (%d of 2)", n)
	}
	page("two-factor")

	// 3. The workspace home says what to do next.
	wsPath := ""
	b.tab.submit(t, "open the account", chromedp.Navigate(base+"/account"))
	wsPath = mustEval[string](t, ctx, `document.querySelector('main a[href^="/w/"]').getAttribute('href')`)
	b.tab.submit(t, "open the workspace", chromedp.Click(chromedp.CSS(`main a[href="`+wsPath+`"]`)))
	if got := b.tab.text(t, `#next-step`); !strings.Contains(got, "Create a bot") {
		t.Fatalf("the home does not say to create a bot first:\n%s", got)
	}
	page("home")

	// 4. A bot: retrieval-only is preselected and explained.
	b.tab.submit(t, "follow the next step", chromedp.Click(chromedp.CSS(`#next-step a.button`)))
	b.tab.at(t, regexp.QuoteMeta(wsPath)+`/bots/new`)
	if v := mustEval[string](t, ctx, `document.querySelector('select[name=model]').value`); v != "retrieval-only" {
		t.Fatalf("the model preselected without a provider is %q", v)
	}
	if got := b.tab.text(t, `#retrieval-only`); !strings.Contains(got, "no language model provider") {
		t.Fatalf("retrieval-only is not explained:\n%s", got)
	}
	b.fill(t, [2]string{`input[name=name]`, "Shop helper"}, [2]string{`textarea[name=allowed_domains]`, shopOrigin})
	page("new-bot")
	b.tab.submit(t, "create the bot", chromedp.Click(chromedp.CSS(`main form[action="`+wsPath+`/bots"] button`)))
	botPath := b.tab.at(t, regexp.QuoteMeta(wsPath)+`/bots/bot_[a-z2-7]{26}`)

	// 5. Knowledge, pasted.
	b.tab.submit(t, "back home", chromedp.Navigate(base+wsPath))
	if got := b.tab.text(t, `#next-step`); !strings.Contains(got, "Give it knowledge") {
		t.Fatalf("after the bot, the home says:\n%s", got)
	}
	b.tab.submit(t, "follow the next step", chromedp.Click(chromedp.CSS(`#next-step a.button`)))
	b.tab.at(t, regexp.QuoteMeta(botPath)+`/documents`)
	b.fill(t, [2]string{`input[name=title]`, "Opening hours"}, [2]string{`textarea[name=content]`,
		"The shop opens at nine and closes at six, Monday to Saturday. On Sundays it is closed."})
	b.tab.submit(t, "add the document", chromedp.Click(chromedp.CSS(`main form[action="`+botPath+`/documents"] button`)))
	page("knowledge")

	// 6. The preview: the answer streams in with its source.
	b.tab.submit(t, "back home", chromedp.Navigate(base+wsPath))
	b.tab.submit(t, "follow the next step", chromedp.Click(chromedp.CSS(`#next-step a.button`)))
	b.tab.at(t, regexp.QuoteMeta(botPath)+`/try`)
	b.fill(t, [2]string{`#try-message`, "When does the shop open?"})
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#try-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#chat-log li.assistant[data-done="true"] .sources`)),
	); err != nil {
		t.Fatalf("asking in the preview: %v; the page says:\n%s", err, b.tab.text(t, `main`))
	}
	b.tab.at(t, regexp.QuoteMeta(botPath)+`/try`) // streamed: no page load
	if got := b.tab.text(t, `#chat-log li.assistant[data-done="true"]`); !strings.Contains(got, "opens at nine") || !strings.Contains(got, "Opening hours") {
		t.Fatalf("the preview answer lacks the passage or its source:\n%s", got)
	}
	page("preview")

	// 7. The widget snippet on the bot page, with its copy button.
	b.tab.submit(t, "back home", chromedp.Navigate(base+wsPath))
	if got := b.tab.text(t, `#all-done`); got == "" {
		t.Fatalf("the home does not say the bot is set up")
	}
	b.tab.submit(t, "open the bot", chromedp.Navigate(base+botPath))
	snippet = strings.TrimSpace(b.tab.text(t, `#widget-snippet`))
	if !strings.Contains(snippet, base+"/widget.js") || mustEval[int](t, ctx, `document.querySelectorAll('button[data-copy="widget-snippet"]').length`) != 1 {
		t.Fatalf("the bot page's snippet %q or its copy button is missing", snippet)
	}
	if got := b.tab.text(t, `#widget-origins`); !strings.Contains(got, shopOrigin) {
		t.Fatalf("the widget is not allowed on the shop: %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(`#widget`))); err != nil {
		t.Fatal(err)
	}
	page("widget-snippet")

	// The dashboard counts the preview's exchange; the conversations list
	// has it.
	b.tab.submit(t, "open the dashboard", chromedp.Navigate(base+wsPath+"/dashboard?days=7"))
	if n := mustEval[int](t, ctx, `document.querySelectorAll('#chart-messages svg rect').length`); n != 2 {
		t.Fatalf("the message chart draws %d bars, want the question's and the answer's", n)
	}
	page("dashboard")
	b.tab.submit(t, "open the conversations", chromedp.Navigate(base+wsPath+"/conversations"))
	page("conversations")
	close(ready)

	// 8. A visitor on the shop asks in the widget.
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(shopOrigin+"/")); err != nil {
		t.Fatalf("opening the shop: %v", err)
	}
	before := map[string]bool{}
	if ts, err := chromedp.Targets(ctx); err == nil {
		for _, ti := range ts {
			before[string(ti.TargetID)] = true
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`button[data-palisade-launcher]`)),
		chromedp.Click(chromedp.CSS(`button[data-palisade-launcher]`)),
		chromedp.WaitReady(chromedp.CSS(`iframe[data-palisade-frame]`)),
	); err != nil {
		t.Fatalf("opening the widget: %v", err)
	}
	var frame context.Context
	for deadline := time.Now().Add(30 * time.Second); frame == nil && time.Now().Before(deadline); {
		ts, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range ts {
			if ti.Type == "iframe" && !before[string(ti.TargetID)] && strings.Contains(ti.URL, "/widget/bot_") {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
				t.Cleanup(cancel)
				frame = fctx
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if frame == nil {
		t.Fatal("no widget frame appeared on the shop")
	}
	if err := chromedp.Do(frame,
		chromedp.WaitVisible(chromedp.CSS(`main[data-session="ready"]`)),
		chromedp.SendKeys(chromedp.CSS(`#message`), "Are you open on Sunday?"),
		chromedp.Click(chromedp.CSS(`#ask button`)),
		chromedp.WaitVisible(chromedp.CSS(`#log li.assistant[data-done="true"] .sources`)),
	); err != nil {
		said, _ := chromedp.Run(frame, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("asking in the widget: %v; the frame says:\n%s", err, said)
	}
	answer, err := chromedp.Run(frame, chromedp.Text(chromedp.CSS(`#log li.assistant[data-done="true"]`)))
	if err != nil || !strings.Contains(answer, "Sundays it is closed") || !strings.Contains(answer, "Opening hours") {
		t.Fatalf("the widget's answer lacks the passage or its source (%v):\n%s", err, answer)
	}
	// The shop's own page: the widget broke none of its policy.
	page("shop-widget")
}

// serve warns at start, in its log, when browsers would reach the UI over
// plain HTTP by an address that is not loopback, and not otherwise.
func TestServeWarnsAboutPlainHTTP(t *testing.T) {
	t.Parallel()
	const warning = "the UI is served over plain HTTP on a non-loopback address"
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}, "--addr", "0.0.0.0:0")
	if !strings.Contains(r.stderr.String(), warning) {
		t.Fatalf("no plain-HTTP warning when listening on every interface:\n%s", r.stderr.String())
	}
	r = serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if strings.Contains(r.stderr.String(), warning) {
		t.Fatalf("a plain-HTTP warning on loopback:\n%s", r.stderr.String())
	}
}
