package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
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
		p := strings.NewReplacer("{workspaceId}", wsPath[len("/w/"):], "{botId}", botID, "{token}", anyToken).Replace(rt.Pattern)
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
