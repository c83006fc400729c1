package admin_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/audit"
)

// rfc6238 is an independent TOTP (RFC 6238 / RFC 4226, HMAC-SHA-1), written
// from the RFC for this test, not sharing code with internal/auth.
func rfc6238(key []byte, t time.Time, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// The independent implementation first passes RFC 6238's SHA-1 vectors.
func TestRFC6238Vectors(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	tests := []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	}
	for _, tt := range tests {
		if got := rfc6238(key, time.Unix(tt.unix, 0), 8); got != tt.want {
			t.Errorf("T=%d: %s, want %s", tt.unix, got, tt.want)
		}
	}
}

var (
	secretRE = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)
	codeRE   = regexp.MustCompile(`<li><code>([0-9a-z-]+)</code></li>`)
)

// TOTP enrolment and log-in with codes from the independent
// implementation; a TOTP code is not accepted twice; each recovery code
// works once.
func TestTOTPLogin(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("mfa@example.com")
	b := e.browser()
	b.login("mfa@example.com")
	if w := b.post("/account/2fa", "/account/2fa/begin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("begin: %d", w.Code)
	}
	m := secretRE.FindStringSubmatch(b.get("/account/2fa").Body.String())
	if m == nil {
		t.Fatal("no TOTP key shown")
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	before := b.cookies[admin.SessionCookie]
	w := b.post("/account/2fa", "/account/2fa/confirm", url.Values{"code": {rfc6238(key, e.clock.Now(), 6)}})
	if w.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", w.Code, w.Body.String())
	}
	if b.cookies[admin.SessionCookie] == before {
		t.Fatal("session not rotated when two-factor was turned on")
	}
	var codes []string
	for _, c := range codeRE.FindAllStringSubmatch(w.Body.String(), -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	if !e.audit.has(audit.ActionMFAEnabled, audit.OutcomeSuccess) {
		t.Fatal("enabling MFA not audited")
	}

	// loginWith signs in with the password then code, on a fresh browser.
	loginWith := func(code string) (*browser, int) {
		nb := e.browser()
		w := nb.post("/login", "/login", url.Values{"email": {"mfa@example.com"}, "password": {goodPassword}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login/mfa" {
			t.Fatalf("password step: %d %q", w.Code, w.Header().Get("Location"))
		}
		// Pending: no signed-in page yet.
		if w := nb.get("/account"); w.Code != http.StatusSeeOther {
			t.Fatalf("pending session reached /account: %d", w.Code)
		}
		pending := nb.cookies[admin.SessionCookie]
		w = nb.post("/login", "/login/mfa", url.Values{"code": {code}})
		if w.Code == http.StatusSeeOther && nb.cookies[admin.SessionCookie] == pending {
			t.Fatal("session id not changed after the second factor")
		}
		return nb, w.Code
	}
	e.clock.Advance(30 * time.Second)
	now := rfc6238(key, e.clock.Now(), 6)
	nb, code := loginWith(now)
	if code != http.StatusSeeOther {
		t.Fatalf("TOTP log-in: %d", code)
	}
	if w := nb.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("after TOTP log-in: %d", w.Code)
	}
	if _, code := loginWith(now); code != http.StatusBadRequest {
		t.Fatalf("replayed TOTP code: %d, want 400", code)
	}
	if _, code := loginWith("000000"); code != http.StatusBadRequest && rfc6238(key, e.clock.Now(), 6) != "000000" {
		t.Fatalf("wrong TOTP code: %d, want 400", code)
	}
	for i, rc := range codes[:3] {
		if _, code := loginWith(strings.ToUpper(rc)); code != http.StatusSeeOther {
			t.Fatalf("recovery code %d: %d", i, code)
		}
		if _, code := loginWith(rc); code != http.StatusBadRequest {
			t.Fatalf("recovery code %d used twice: %d", i, code)
		}
	}
}

// The enrolment page links the otpauth URI itself (html/template renders
// unknown schemes as #ZgotmplZ) and draws it as a QR code in SVG, whose
// finder patterns sit in three corners inside the quiet zone.
func TestTOTPEnrolmentLinkAndQRCode(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("qr@example.com")
	b := e.browser()
	b.login("qr@example.com")
	if w := b.post("/account/2fa", "/account/2fa/begin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("begin: %d", w.Code)
	}
	body := b.get("/account/2fa").Body.String()
	if strings.Contains(body, "ZgotmplZ") {
		t.Fatal("the otpauth link was rendered as #ZgotmplZ")
	}
	m := regexp.MustCompile(`href="(otpauth://totp/[^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no otpauth link on the enrolment page")
	}
	uri, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	sec := secretRE.FindStringSubmatch(body)
	if sec == nil || uri.Query().Get("secret") != sec[1] {
		t.Fatalf("the link's secret %q is not the key shown", uri.Query().Get("secret"))
	}
	svg := regexp.MustCompile(`(?s)<svg[^>]*class="qr"[^>]*viewBox="0 0 (\d+) (\d+)".*?<path fill="#000" d="([^"]+)"/></svg>`).FindStringSubmatch(body)
	if svg == nil {
		t.Fatal("no QR code drawn")
	}
	n, _ := strconv.Atoi(svg[1])
	dark := map[[2]int]bool{}
	for _, sq := range regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(svg[3], -1) {
		x, _ := strconv.Atoi(sq[1])
		y, _ := strconv.Atoi(sq[2])
		dark[[2]int{x, y}] = true
	}
	// A version-N code is 17+4N modules wide plus a quiet zone of 4 on
	// each side; each finder is a 7x7 ring around a 3x3 square.
	size := n - 8
	if (size-17)%4 != 0 || size < 21 {
		t.Fatalf("QR code %d modules wide", n)
	}
	for _, c := range [][2]int{{4, 4}, {4 + size - 7, 4}, {4, 4 + size - 7}} {
		for dy := range 7 {
			for dx := range 7 {
				ring := dx == 0 || dy == 0 || dx == 6 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				if want := ring || core; dark[[2]int{c[0] + dx, c[1] + dy}] != want {
					t.Fatalf("finder at %v: module (%d,%d) dark=%v", c, dx, dy, !want)
				}
			}
		}
	}
	if dark[[2]int{0, 0}] || dark[[2]int{3, 3}] {
		t.Fatal("the quiet zone is not blank")
	}
}
