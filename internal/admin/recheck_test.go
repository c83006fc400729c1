package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Every re-check of a secret by a signed-in user is limited per account:
// wrong answers are refused with 429 after five, and a right one after
// the window goes through. Codes share the account's second-factor budget
// with the log-in's second step; passwords have a re-check budget of
// their own.
func TestReChecksAreRateLimited(t *testing.T) {
	t.Parallel()
	type form func(key []byte, now time.Time) url.Values
	tests := []struct {
		name   string
		enrol  bool // two-factor on first (else an enrolment is begun)
		page   string
		path   string
		wrong  form
		right  form
		status int // of the right answer
	}{
		{"replacing recovery codes", true, "/account/2fa", "/account/2fa/recovery",
			func(k []byte, now time.Time) url.Values { return url.Values{"code": {wrongCode(k, now)}} },
			func(k []byte, now time.Time) url.Values { return url.Values{"code": {rfc6238(k, now, 6)}} }, http.StatusOK},
		{"turning two-factor off with a wrong code", true, "/account/2fa", "/account/2fa/disable",
			func(k []byte, now time.Time) url.Values {
				return url.Values{"password": {goodPassword}, "code": {wrongCode(k, now)}}
			},
			func(k []byte, now time.Time) url.Values {
				return url.Values{"password": {goodPassword}, "code": {rfc6238(k, now, 6)}}
			}, http.StatusSeeOther},
		{"turning two-factor off with a wrong password", true, "/account/2fa", "/account/2fa/disable",
			func(k []byte, now time.Time) url.Values {
				return url.Values{"password": {"not my password at all"}, "code": {rfc6238(k, now, 6)}}
			},
			func(k []byte, now time.Time) url.Values {
				return url.Values{"password": {goodPassword}, "code": {rfc6238(k, now, 6)}}
			}, http.StatusSeeOther},
		{"changing the password", false, "/account", "/account/password",
			func([]byte, time.Time) url.Values {
				return url.Values{"current": {"not my password at all"}, "password": {"a fresh passphrase 4471"}}
			},
			func([]byte, time.Time) url.Values {
				return url.Values{"current": {goodPassword}, "password": {"a fresh passphrase 4471"}}
			}, http.StatusSeeOther},
		{"confirming enrolment", false, "/account/2fa", "/account/2fa/confirm",
			func(k []byte, now time.Time) url.Values { return url.Values{"code": {wrongCode(k, now)}} },
			func(k []byte, now time.Time) url.Values { return url.Values{"code": {rfc6238(k, now, 6)}} }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, setupOpts{limits: ratelimit.Defaults()})
			e.owner("re@example.com")
			b := e.browser()
			b.login("re@example.com")
			var key []byte
			if tt.enrol {
				key, _ = enrollTOTP(t, b)
			} else if tt.path == "/account/2fa/confirm" {
				key = beginTOTP(t, b)
			}
			for i := range 6 {
				e.clock.Advance(30 * time.Second / 6) // a fresh TOTP step now and then
				w := b.post(tt.page, tt.path, tt.wrong(key, e.clock.Now()))
				want := http.StatusBadRequest
				if i == 5 {
					want = http.StatusTooManyRequests
				}
				if w.Code != want {
					t.Fatalf("wrong answer %d: %d, want %d", i+1, w.Code, want)
				}
				if i == 5 && w.Header().Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
			}
			e.clock.Advance(time.Minute)
			if w := b.post(tt.page, tt.path, tt.right(key, e.clock.Now())); w.Code != tt.status {
				t.Fatalf("right answer after the window: %d, want %d: %.300s", w.Code, tt.status, w.Body.String())
			}
		})
	}
}

// beginTOTP starts an enrolment for b's user and returns its key.
func beginTOTP(t *testing.T, b *browser) []byte {
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
	return key
}

// Turning two-factor off takes the password and a current code (or a
// recovery code): the password alone, as the form used to take, is
// refused and leaves two-factor on; the form asks for both.
func TestDisablingTwoFactorNeedsACode(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	e.owner("off@example.com")
	b := e.browser()
	b.login("off@example.com")
	key, codes := enrollTOTP(t, b)
	page := b.get("/account/2fa").Body.String()
	form := page[strings.Index(page, `action="/account/2fa/disable"`):]
	form = form[:strings.Index(form, "</form>")]
	if !strings.Contains(form, `name="password"`) || !strings.Contains(form, `name="code"`) {
		t.Fatalf("the turn-off form does not ask for the password and a code:\n%s", form)
	}
	if w := b.post("/account/2fa", "/account/2fa/disable", url.Values{"password": {goodPassword}}); w.Code != http.StatusBadRequest {
		t.Fatalf("password alone: %d, want 400", w.Code)
	}
	if w := b.get("/account/2fa"); !strings.Contains(w.Body.String(), "<strong>on</strong>") {
		t.Fatal("two-factor went off with the password alone")
	}
	// A wrong password with a right code: the same answer as a wrong
	// code, and the code is not spent.
	e.clock.Advance(30 * time.Second)
	now := rfc6238(key, e.clock.Now(), 6)
	w := b.post("/account/2fa", "/account/2fa/disable", url.Values{"password": {"not my password at all"}, "code": {now}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "the password or the code is not correct") {
		t.Fatalf("wrong password: %d", w.Code)
	}
	if !e.audit.has(audit.ActionMFADisabled, audit.OutcomeFailure) {
		t.Fatal("failed attempt to turn two-factor off not audited")
	}
	// A recovery code works in place of the TOTP code.
	if w := b.post("/account/2fa", "/account/2fa/disable", url.Values{"password": {goodPassword}, "code": {codes[0]}}); w.Code != http.StatusSeeOther {
		t.Fatalf("password and recovery code: %d, want 303: %.300s", w.Code, w.Body.String())
	}
	if w := b.get("/account/2fa"); !strings.Contains(w.Body.String(), "<strong>off</strong>") {
		t.Fatal("two-factor still on")
	}
}
