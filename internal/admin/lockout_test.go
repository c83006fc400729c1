package admin_test

import (
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// attempt posts a log-in from b and returns the status.
func (b *browser) attempt(email, password string) *http.Response {
	b.e.t.Helper()
	return b.post("/login", "/login", url.Values{"email": {email}, "password": {password}}).Result()
}

// holdAccountLimit spends email's failure budget with wrong passwords
// from addresses of 203.0.113.0/24, one failure each, so that no per-IP
// limit is what refuses, and checks that the next attempt is refused.
func holdAccountLimit(t *testing.T, e *env, email string, first int) {
	t.Helper()
	for i := range 5 {
		a := e.browser()
		a.ip = "203.0.113." + strconv.Itoa(first+i)
		if got := a.attempt(email, "wrong password here").StatusCode; got != http.StatusUnauthorized {
			t.Fatalf("attacker failure %d: %d, want 401", i+1, got)
		}
	}
	a := e.browser()
	a.ip = "203.0.113." + strconv.Itoa(first+5)
	if got := a.attempt(email, "wrong password here").StatusCode; got != http.StatusTooManyRequests {
		t.Fatalf("attacker after 5 failures: %d, want 429 from the account's limit", got)
	}
}

// The owner signs in from the browser they signed in from before while an
// attacker, from other addresses, keeps the account's log-in limit spent.
// From a browser the account does not know, the right password is refused
// with 429 like every other attempt while the limit is held (the refusal
// comes before the check, so it says nothing about the password); that
// browser gets in once the window has passed. A device cookie of another
// account is no way around the account's limit.
func TestOwnerSignsInFromKnownDeviceWhileAttackerHoldsAccountLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	e.owner("owner@example.com")
	e.owner("mallory@example.com")

	home := e.browser()
	w := home.login("owner@example.com")
	var dc *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == admin.DeviceCookie {
			dc = c
		}
	}
	if dc == nil || !strings.HasPrefix(dc.Name, "__Host-") || !dc.Secure || !dc.HttpOnly || dc.SameSite != http.SameSiteLaxMode ||
		dc.Path != "/" || dc.Domain != "" || dc.MaxAge <= 0 {
		t.Fatalf("device cookie = %+v", dc)
	}
	if _, err := auth.ParseToken(dc.Value); err != nil {
		t.Fatalf("device cookie is not a 256-bit token: %v", err)
	}
	// Only a keyed hash is stored: neither the token nor its plain hash
	// names a device.
	plain := sha256.Sum256([]byte(dc.Value))
	for _, h := range [][]byte{[]byte(dc.Value), plain[:]} {
		if _, err := e.store.GetDevice(t.Context(), h, e.clock.Now()); err == nil {
			t.Fatal("device found by its token or an unkeyed hash")
		}
	}
	// Log-out ends the session, not the device.
	home.post("/account", "/logout", nil)
	if _, ok := home.cookies[admin.DeviceCookie]; !ok {
		t.Fatal("log-out dropped the device cookie")
	}

	holdAccountLimit(t, e, "owner@example.com", 10)

	// The owner's own browser, from yet another address, gets in.
	home.ip = "198.51.100.7"
	if got := home.attempt("owner@example.com", goodPassword); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner from a known device while the account limit is held: %d, want 303", got.StatusCode)
	}
	if w := home.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("owner's session after signing in: %d", w.Code)
	}

	// A browser the account does not know is refused, right password or not.
	fresh := e.browser()
	fresh.ip = "198.51.100.8"
	got := fresh.attempt("owner@example.com", goodPassword)
	if got.StatusCode != http.StatusTooManyRequests || got.Header.Get("Retry-After") == "" {
		t.Fatalf("owner from an unknown device while the account limit is held: %d (Retry-After %q), want 429 with Retry-After",
			got.StatusCode, got.Header.Get("Retry-After"))
	}

	// Mallory's own device cookie does not make her browser a known
	// device of the owner's account.
	mal := e.browser()
	mal.ip = "198.51.100.9"
	mal.login("mallory@example.com")
	if got := mal.attempt("owner@example.com", goodPassword); got.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("another account's device cookie: %d, want 429", got.StatusCode)
	}

	// Once the window has passed, the unknown browser gets in too.
	e.clock.Advance(61 * time.Second)
	if got := fresh.attempt("owner@example.com", goodPassword); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("unknown device after the window: %d, want 303", got.StatusCode)
	}
}

// A correct password spends nothing of the account's budget: the owner
// signs in more times than the limit from fresh browsers, and an attacker
// still gets exactly five failures.
func TestCorrectPasswordSpendsNoAccountBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	e.owner("owner@example.com")
	for i := range 8 {
		b := e.browser()
		b.ip = "198.51.100." + strconv.Itoa(i+1)
		if got := b.attempt("owner@example.com", goodPassword); got.StatusCode != http.StatusSeeOther {
			t.Fatalf("correct log-in %d: %d, want 303", i+1, got.StatusCode)
		}
	}
	holdAccountLimit(t, e, "owner@example.com", 10)
}

// Failures from a known device have their own budget: the owner mistyping
// in their own browser is refused after five, and that does not spend the
// account's budget for other browsers.
func TestKnownDeviceFailuresHaveTheirOwnBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	e.owner("owner@example.com")
	home := e.browser()
	home.login("owner@example.com")
	for i := range 6 {
		home.ip = "198.51.100." + strconv.Itoa(i+1)
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if got := home.attempt("owner@example.com", "a mistyped password"); got.StatusCode != want {
			t.Fatalf("known-device failure %d: %d, want %d", i+1, got.StatusCode, want)
		}
	}
	other := e.browser()
	other.ip = "198.51.100.50"
	if got := other.attempt("owner@example.com", goodPassword); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("another browser after the known device's failures: %d, want 303", got.StatusCode)
	}
}

// enrollTOTP turns two-factor on for b's signed-in user and returns the
// key and the recovery codes.
func enrollTOTP(t *testing.T, b *browser) ([]byte, []string) {
	t.Helper()
	if w := b.post("/account/2fa", "/account/2fa/begin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("begin: %d", w.Code)
	}
	m := secretRE.FindStringSubmatch(b.get("/account/2fa").Body.String())
	if m == nil {
		t.Fatal("no TOTP key shown")
	}
	key, err := decodeKey(m[1])
	if err != nil {
		t.Fatal(err)
	}
	w := b.post("/account/2fa", "/account/2fa/confirm", url.Values{"code": {rfc6238(key, b.e.clock.Now(), 6)}})
	if w.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", w.Code, w.Body.String())
	}
	var codes []string
	for _, c := range codeRE.FindAllStringSubmatch(w.Body.String(), -1) {
		codes = append(codes, c[1])
	}
	return key, codes
}

// decodeKey decodes a TOTP key as the page shows it.
func decodeKey(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// wrongCode is a six-digit code that is not key's at now or next to it.
func wrongCode(key []byte, now time.Time) string {
	for _, c := range []string{"000000", "111111", "222222"} {
		ok := true
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			if rfc6238(key, now.Add(d), 6) == c {
				ok = false
			}
		}
		if ok {
			return c
		}
	}
	panic("no wrong code")
}

// The log-in's second step has its own budget per account: wrong codes are
// refused after five, they spend nothing of the password's budget, and
// failed passwords from elsewhere do not keep the owner from it.
func TestSecondFactorStepHasItsOwnBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	e.owner("mfa@example.com")
	home := e.browser()
	home.login("mfa@example.com")
	key, _ := enrollTOTP(t, home)
	home.post("/account", "/logout", nil)

	e.clock.Advance(30 * time.Second)
	home.ip = "198.51.100.1"
	if got := home.attempt("mfa@example.com", goodPassword); got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/login/mfa" {
		t.Fatalf("password step: %d %q", got.StatusCode, got.Header.Get("Location"))
	}
	bad := wrongCode(key, e.clock.Now())
	for i := range 6 {
		want := http.StatusBadRequest
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if w := home.post("/login/mfa", "/login/mfa", url.Values{"code": {bad}}); w.Code != want {
			t.Fatalf("wrong code %d: %d, want %d", i+1, w.Code, want)
		}
	}
	// Five failed codes spent nothing of the password's budget.
	other := e.browser()
	other.ip = "198.51.100.2"
	if got := other.attempt("mfa@example.com", goodPassword); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("password step after failed codes: %d, want 303", got.StatusCode)
	}

	e.clock.Advance(61 * time.Second)
	holdAccountLimit(t, e, "mfa@example.com", 10)
	home.ip = "198.51.100.3"
	if got := home.attempt("mfa@example.com", goodPassword); got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/login/mfa" {
		t.Fatalf("password step from the known device while the account limit is held: %d %q", got.StatusCode, got.Header.Get("Location"))
	}
	if w := home.post("/login/mfa", "/login/mfa", url.Values{"code": {rfc6238(key, e.clock.Now(), 6)}}); w.Code != http.StatusSeeOther {
		t.Fatalf("second factor while the account limit is held: %d, want 303", w.Code)
	}
	if w := home.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("after the second factor: %d", w.Code)
	}
}
