package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memo runs f once per run for key and shares its result between the
// checks that read it (an inventory, a burst).
func memo[T any](t *Target, key string, f func() T) T {
	type entry struct {
		once sync.Once
		v    T
	}
	e, _ := t.shared.LoadOrStore(key, &entry{})
	en := e.(*entry)
	en.once.Do(func() { en.v = f() })
	return en.v
}

// Categories of the session and gateway checks.
const (
	CatSession = "session"
	CatGateway = "gateway"
)

// The admin UI's cookie names: the session, and the pre-session cookie
// that binds the sign-in form's CSRF token to the browser.
const (
	sessionCookie    = "__Host-palisade_session"
	preSessionCookie = "__Host-palisade_pre"
)

var csrfInput = regexp.MustCompile(`name="csrf"\s+value="([^"]*)"`)

// signInForm fetches /login and returns the cookies it set (as one Cookie
// header value) and the form's CSRF token.
func signInForm(ctx context.Context, t *Target, extra string) (cookies, csrf string, r *Response, err error) {
	h := http.Header{}
	if extra != "" {
		h.Set("Cookie", extra)
	}
	r, err = t.Do(ctx, Request{Path: "/login", Header: h})
	if err != nil {
		return "", "", nil, err
	}
	var parts []string
	if extra != "" {
		parts = append(parts, extra)
	}
	for _, raw := range r.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(raw); err == nil && c.MaxAge >= 0 {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	if m := csrfInput.FindSubmatch(r.Body); m != nil {
		csrf = html.UnescapeString(string(m[1]))
	}
	return strings.Join(parts, "; "), csrf, r, nil
}

// plantedValue is a session id an attacker chose: well-formed enough to
// be tried, known to nobody else.
func plantedValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cookieValues returns the value of every cookie the answer sets by name.
func cookieValues(r *Response) map[string]string {
	out := map[string]string{}
	for _, raw := range r.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(raw); err == nil {
			out[c.Name] = c.Value
		}
	}
	return out
}

// signedIn reports whether an answer to GET /account is the signed-in
// page rather than a way to the sign-in form.
func signedIn(r *Response) bool {
	return r.Status == http.StatusOK
}

// loginRotates signs in with the credentials given while the browser
// carries a session id the probe planted: the answer must set a session
// the server chose, the planted id must still sign nobody in, and the
// session is signed out again.
func loginRotates(ctx context.Context, t *Target) Outcome {
	login := t.secrets.Login
	if login.Email == "" {
		return Skipf("needs an account's e-mail and password (login in --secrets) to sign in")
	}
	planted := plantedValue()
	cookies, csrf, _, err := signInForm(ctx, t, sessionCookie+"="+planted)
	if err != nil {
		return requestFailed(ctx, err)
	}
	form := url.Values{"email": {login.Email}, "password": {login.Password.Reveal()}, "csrf": {csrf}}
	r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/login", Body: []byte(form.Encode()), Header: http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookies}}})
	if err != nil {
		return requestFailed(ctx, err)
	}
	issued := cookieValues(r)[sessionCookie]
	if r.Status/100 != 3 || issued == "" {
		return Failf("signing in with the credentials given = %d and no session cookie: check login in --secrets", r.Status)
	}
	defer logout(ctx, t, issued)
	if issued == planted {
		return Failf("signing in kept the planted session id: session fixation")
	}
	old, err := t.Do(ctx, Request{Path: "/account", Header: http.Header{"Cookie": {sessionCookie + "=" + planted}}})
	if err != nil {
		return requestFailed(ctx, err)
	}
	if signedIn(old) {
		return Failf("after signing in, the planted session id signs in too")
	}
	cur, err := t.Do(ctx, Request{Path: "/account", Header: http.Header{"Cookie": {sessionCookie + "=" + issued}}})
	if err != nil {
		return requestFailed(ctx, err)
	}
	if !signedIn(cur) {
		return Failf("the session issued at sign-in does not open /account (%d): the check proves nothing", cur.Status)
	}
	return Passf("signing in issued a new session; the planted id still gets %d", old.Status)
}

// logout ends the session the probe signed in with, through the form the
// account page carries.
func logout(ctx context.Context, t *Target, session string) {
	ctx = context.WithoutCancel(ctx)
	cookie := http.Header{"Cookie": {sessionCookie + "=" + session}}
	r, err := t.Do(ctx, Request{Path: "/account", Header: cookie})
	if err != nil {
		return
	}
	m := csrfInput.FindSubmatch(r.Body)
	if m == nil {
		return
	}
	form := url.Values{"csrf": {html.UnescapeString(string(m[1]))}}
	_, _ = t.Do(ctx, Request{Method: http.MethodPost, Path: "/logout", Body: []byte(form.Encode()), Header: http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": cookie["Cookie"]}})
}

func sessionChecks() []Check {
	return []Check{
		{Category: CatSession, Name: "login-issues-fresh-session", Severity: Critical, Reference: "V7.2.4",
			Description: "signing in with a planted session id issues a new session and leaves the planted one signed out", Run: loginRotates},
		{Category: CatSession, Name: "planted-session-cookie-refused", Severity: Critical, Reference: "V7.2.4",
			Description: "a session cookie the client made up does not sign it in", Run: func(ctx context.Context, t *Target) Outcome {
				r, err := t.Do(ctx, Request{Path: "/account", Header: http.Header{"Cookie": {sessionCookie + "=" + plantedValue()}}})
				if err != nil {
					return requestFailed(ctx, err)
				}
				if signedIn(r) {
					return Failf("GET /account with a made-up session cookie = 200")
				}
				return Passf("GET /account with a made-up session cookie = %d %s", r.Status, r.Header.Get("Location"))
			}},
		{Category: CatSession, Name: "planted-cookies-not-adopted", Severity: High, Reference: "V7.2.4",
			Description: "session and pre-session ids a client plants are never adopted: the server issues its own", Run: func(ctx context.Context, t *Target) Outcome {
				planted := plantedValue()
				// Plant the session and every cookie the sign-in page sets.
				fresh, err := t.Do(ctx, Request{Path: "/login"})
				if err != nil {
					return requestFailed(ctx, err)
				}
				names := []string{sessionCookie, preSessionCookie}
				for name := range cookieValues(fresh) {
					if !slices.Contains(names, name) {
						names = append(names, name)
					}
				}
				var parts []string
				for _, name := range names {
					parts = append(parts, name+"="+planted)
				}
				extra := strings.Join(parts, "; ")
				cookies, csrf, r, err := signInForm(ctx, t, extra)
				if err != nil {
					return requestFailed(ctx, err)
				}
				if bytes.Contains(r.Body, []byte(planted)) {
					return Failf("GET /login with planted cookies echoes the planted value")
				}
				for name, v := range cookieValues(r) {
					if v == planted {
						return Failf("GET /login sets %s to the planted value", name)
					}
				}
				form := url.Values{"email": {"probe-" + plantedValue()[:12] + "@example.invalid"}, "password": {"palisade-probe-wrong"}, "csrf": {csrf}}
				r, err = t.Do(ctx, Request{Method: http.MethodPost, Path: "/login", Body: []byte(form.Encode()), Header: http.Header{
					"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookies}}})
				if err != nil {
					return requestFailed(ctx, err)
				}
				for name, v := range cookieValues(r) {
					if v == planted {
						return Failf("POST /login sets %s to the planted value", name)
					}
				}
				return Passf("neither GET nor POST /login (%d) adopts a planted id", r.Status)
			}},
		{Category: CatSession, Name: "pre-session-fresh-per-browser", Severity: Medium, Reference: "V7.2.4",
			Description: "two browsers opening the sign-in form get different values for every cookie it sets", Run: func(ctx context.Context, t *Target) Outcome {
				var vals [2]map[string]string
				for i := range vals {
					r, err := t.Do(ctx, Request{Path: "/login"})
					if err != nil {
						return requestFailed(ctx, err)
					}
					vals[i] = cookieValues(r)
				}
				if len(vals[0]) == 0 {
					return Skipf("GET /login sets no cookie to compare")
				}
				for name, v := range vals[0] {
					if v != "" && vals[1][name] == v {
						return Failf("two fresh visits get the same %s", name)
					}
				}
				return Passf("two visits, two values of each of %d cookies", len(vals[0]))
			}},
		{Category: CatSession, Name: "session-cookies-host-prefixed", Severity: Medium, Reference: "V3.3.3",
			Description: "every cookie the sign-in, sign-up and reset pages set is __Host- prefixed", Run: func(ctx context.Context, t *Target) Outcome {
				n := 0
				for _, p := range []string{"/login", "/signup", "/forgot", "/account"} {
					r, err := t.Get(ctx, p, false)
					if err != nil {
						return requestFailed(ctx, err)
					}
					for name := range cookieValues(r) {
						n++
						if !strings.HasPrefix(name, "__Host-") {
							return Failf("GET %s sets %s, not __Host- prefixed", p, name)
						}
					}
				}
				if n == 0 {
					return Skipf("none of /login, /signup, /forgot, /account sets a cookie")
				}
				return Passf("%d cookies, all __Host-", n)
			}},
		{Category: CatSession, Name: "logout-needs-csrf", Severity: Medium, Reference: "V3.5.1",
			Description: "a cross-site POST /logout without the CSRF token does nothing", Run: func(ctx context.Context, t *Target) Outcome {
				r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/logout", Header: http.Header{
					"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://" + evilHost},
					"Cookie": {sessionCookie + "=" + plantedValue()}}})
				if err != nil {
					return requestFailed(ctx, err)
				}
				if r.Status >= 500 {
					return Failf("POST /logout without a token = %d", r.Status)
				}
				for name, v := range cookieValues(r) {
					if name == sessionCookie && v != "" {
						return Failf("POST /logout without a token sets a session cookie")
					}
				}
				return Passf("POST /logout from another origin without a token = %d", r.Status)
			}},
	}
}

// gatewayPath is where a gateway role serves other processes.
const gatewayPath = "/gateway/v1/complete"

func gatewayChecks() []Check {
	body := []byte(`{"messages":[{"role":"user","content":"palisade probe"}]}`)
	call := func(name string, sev Severity, desc string, hdr func() http.Header) Check {
		return Check{Category: CatGateway, Name: name, Severity: sev, Reference: "V13.2.1", Description: desc, Run: func(ctx context.Context, t *Target) Outcome {
			h := hdr()
			h.Set("Content-Type", "application/json")
			r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: gatewayPath, Header: h, Body: body})
			if err != nil {
				return requestFailed(ctx, err)
			}
			switch {
			case r.Status/100 == 2:
				return Failf("POST %s = %d: the gateway answered a call from outside", gatewayPath, r.Status)
			case r.Status >= 500:
				return Failf("POST %s = %d: a server error, not a refusal", gatewayPath, r.Status)
			case bytes.Contains(r.Body, []byte(`"choices"`)) || bytes.Contains(r.Body, []byte("event: ")):
				return Failf("POST %s = %d carries a model's answer", gatewayPath, r.Status)
			}
			return Passf("POST %s = %d", gatewayPath, r.Status)
		}}
	}
	forged := func() http.Header {
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce)
		return http.Header{
			"Authorization":        {"Bearer " + randomToken()},
			"X-Palisade-Bot-Id":    {randomID("bot")},
			"X-Palisade-Key-Id":    {"default"},
			"X-Palisade-Timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
			"X-Palisade-Nonce":     {hex.EncodeToString(nonce)},
			"X-Palisade-Signature": {"v2=" + strings.Repeat("ab", 32)},
		}
	}
	cs := []Check{
		call("no-token", Critical, "a gateway call without a token or signature is refused", func() http.Header { return http.Header{} }),
		call("forged-token-and-signature", Critical, "a gateway call with a made-up token and signature is refused", forged),
		call("token-without-signature", Critical, "a gateway call with a bearer token but no signature is refused", func() http.Header {
			return http.Header{"Authorization": {"Bearer " + randomToken()}, "X-Palisade-Bot-Id": {randomID("bot")}}
		}),
		call("stale-signature", High, "a gateway call signed an hour ago is refused", func() http.Header {
			h := forged()
			h.Set("X-Palisade-Timestamp", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
			return h
		}),
		call("api-key-is-not-a-gateway-token", High, "an API key is not accepted as a gateway token", func() http.Header {
			return http.Header{"Authorization": {"Bearer " + unknownAPIKey()}}
		}),
	}
	for _, p := range []string{"/gateway/", "/gateway/v1/models"} {
		cs = append(cs, Check{Category: CatGateway, Name: "get-refused " + p, Severity: Medium, Reference: "V13.2.1",
			Description: "the gateway serves nothing to a GET from outside, on " + p, Run: func(ctx context.Context, t *Target) Outcome {
				r, err := t.Get(ctx, p, false)
				if err != nil {
					return requestFailed(ctx, err)
				}
				if !refused(r.Status) || r.Status >= 500 {
					return Failf("GET %s = %d", p, r.Status)
				}
				return Passf("GET %s = %d", p, r.Status)
			}})
	}
	return cs
}
