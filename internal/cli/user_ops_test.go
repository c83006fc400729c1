package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// uiClient talks to the admin UI over plain HTTP, keeping its cookies by
// hand: they are Secure, which a cookie jar would not send to http://.
type uiClient struct {
	t       *testing.T
	base    string
	cookies map[string]string
}

func (c *uiClient) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.base)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return resp, string(raw)
}

var formToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// submit fetches the form at path and posts it back with its token.
func (c *uiClient) submit(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	_, page := c.do(http.MethodGet, path, nil)
	m := formToken.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("GET %s: no form token in:\n%s", path, page)
	}
	form.Set("csrf", m[1])
	return c.do(http.MethodPost, path, form)
}

// signIn signs in with the UI's form in a fresh client and returns where
// it was sent: /account, or /login/mfa while a second factor is due.
func signIn(t *testing.T, base, email, password string) string {
	t.Helper()
	c := &uiClient{t: t, base: base, cookies: map[string]string{}}
	resp, body := c.submit("/login", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Logf("sign-in as %s: %d\n%s", email, resp.StatusCode, body)
		return ""
	}
	return resp.Header.Get("Location")
}

var resetLink = regexp.MustCompile(`(?m)^(\S+)/reset/([A-Za-z0-9_-]{43})$`)

// TestUserResetPasswordAndMFA, on SQLite and PostgreSQL: an owner who
// lost both password and authenticator gets back in. `user reset-password`
// prints a one-time link starting with the public URL, which sets a new
// password through the admin UI and works once; sign-in then still asks
// for the second factor, until `user reset-mfa` removes it and signs the
// user out everywhere. Each is recorded in the platform chain and in the
// user's workspace's, and neither command prints a secret it did not
// make.
func TestUserResetPasswordAndMFA(t *testing.T) {
	t.Parallel()
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			ws := createWorkspace(t, env, "Locked out")
			const email = "owner@example.com"
			s := openSealed(t, env)
			ctx := t.Context()
			u, err := s.CreateUser(ctx, store.CreateUserParams{Email: email, Name: "Owner", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddMember(ctx, ws, u.ID, palisade.RoleOwner, time.Now()); err != nil {
				t.Fatal(err)
			}
			totp := auth.NewTOTPSecret()
			if err := s.SetTOTP(ctx, u.ID, store.SetTOTPParams{Secret: []byte(totp.Reveal()), Enabled: true, RecoveryCodes: [][]byte{{1, 2, 3}}, Now: time.Now()}); err != nil {
				t.Fatal(err)
			}
			s.close()

			addr := freeAddr(t)
			public := "http://" + addr
			out := mustCLI(t, env, "user", "reset-password", "--email", "Owner@Example.com", "--public-url", public+"/")
			m := resetLink.FindStringSubmatch(strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
			if m == nil || m[1] != public {
				t.Fatalf("reset-password printed no link under %s:\n%s", public, out)
			}
			if strings.Contains(out, totp.Reveal()) || strings.Contains(out, "$argon2id$") {
				t.Fatalf("reset-password printed a secret:\n%s", out)
			}
			if _, err := runCLI(t, t.Context(), env, nil, "user", "reset-password", "--email", "nobody@example.com"); err == nil {
				t.Fatal("a reset link for an address no user has")
			}

			r := serve(t, env, "--addr", addr, "--public-url", public)
			c := &uiClient{t: t, base: r.public, cookies: map[string]string{}}
			const password = "quartz fjord glimmer 8141 vex"
			resp, body := c.submit("/reset/"+m[2], url.Values{"password": {password}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
				t.Fatalf("using the reset link: %d\n%s", resp.StatusCode, body)
			}
			again := &uiClient{t: t, base: r.public, cookies: map[string]string{}}
			if resp, _ := again.submit("/reset/"+m[2], url.Values{"password": {password + " again"}}); resp.StatusCode == http.StatusOK {
				t.Fatal("the reset link worked twice")
			}
			if to := signIn(t, r.public, email, password); to != "/login/mfa" {
				t.Fatalf("sign-in with the new password went to %q, want the second factor", to)
			}

			out = mustCLI(t, env, "user", "reset-mfa", "--email", email)
			if !strings.Contains(out, "two-factor authentication removed") || strings.Contains(out, totp.Reveal()) {
				t.Fatalf("reset-mfa said:\n%s", out)
			}
			if to := signIn(t, r.public, email, password); to != "/account" {
				t.Fatalf("sign-in after reset-mfa went to %q, want /account", to)
			}
			if out := mustCLI(t, env, "user", "reset-mfa", "--email", email); !strings.Contains(out, "nothing changed") {
				t.Fatalf("a second reset-mfa said:\n%s", out)
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}

			s = openSealed(t, env)
			cred, err := s.GetCredentials(ctx, u.ID)
			if err != nil || cred.TOTPEnabled || cred.TOTPSecret != nil || len(cred.RecoveryCodes) != 0 {
				t.Fatalf("credentials after reset-mfa: %+v, %v", cred, err)
			}
			s.close()
			for chain, entries := range map[string][]store.AuditEntry{"platform": auditActions(t, env, palisade.Scope{}), "workspace": auditActions(t, env, ws)} {
				if !hasEntry(entries, "password.reset_issued", string(u.ID), email) || !hasEntry(entries, "mfa.reset", string(u.ID), email) {
					t.Errorf("the %s chain lacks the operator's resets", chain)
				}
				for _, e := range entries {
					if strings.Contains(e.Detail, m[2]) {
						t.Errorf("the %s chain holds the reset token: %s", chain, e.Detail)
					}
				}
			}
			mustCLI(t, env, "audit", "verify")
		})
	}
}

// TestAPIKeyList: the listing names each key with its scopes, state and
// times, as a table and as JSON, and never shows a key, its hash or its
// lookup prefix.
func TestAPIKeyList(t *testing.T) {
	t.Parallel()
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			ws := createWorkspace(t, env, "Keys")
			live := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "ci deploy", "--scopes", "bots:read,messages:send"))
			gone := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "old", "--scopes", "bots:read"))
			s := openSealed(t, env)
			keys, err := s.ListAPIKeys(t.Context(), ws)
			if err != nil || len(keys) != 2 {
				t.Fatalf("keys: %v, %v", keys, err)
			}
			if err := s.RevokeAPIKey(t.Context(), ws, keys[1].ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			s.close()
			// Used once, so it has a last-used time.
			r := serve(t, env)
			c := &e2eClient{t: t, base: r.public, key: live, cap: &e2eCapture{}}
			c.json(http.MethodGet, "/api/v1/bots", nil, http.StatusOK)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}

			table := mustCLI(t, env, "apikey", "list", "--workspace", string(ws.Workspace()))
			raw := mustCLI(t, env, "apikey", "list", "--workspace", string(ws.Workspace()), "--json")
			var rows []struct {
				ID         string     `json:"id"`
				Name       string     `json:"name"`
				Scopes     []string   `json:"scopes"`
				Status     string     `json:"status"`
				LastUsedAt *time.Time `json:"last_used_at"`
				RevokedAt  *time.Time `json:"revoked_at"`
			}
			if err := json.Unmarshal([]byte(raw), &rows); err != nil || len(rows) != 2 {
				t.Fatalf("apikey list --json: %v\n%s", err, raw)
			}
			if rows[0].ID != string(keys[0].ID) || rows[0].Name != "ci deploy" || strings.Join(rows[0].Scopes, ",") != "bots:read,messages:send" ||
				rows[0].Status != "active" || rows[0].LastUsedAt == nil || rows[0].RevokedAt != nil {
				t.Errorf("the live key: %+v", rows[0])
			}
			if rows[1].Status != "revoked" || rows[1].RevokedAt == nil || rows[1].LastUsedAt != nil {
				t.Errorf("the revoked key: %+v", rows[1])
			}
			if !regexp.MustCompile(string(keys[0].ID) + `\s+ci deploy\s+bots:read,messages:send\s+active\s+operator`).MatchString(table) {
				t.Errorf("table:\n%s", table)
			}
			for _, k := range keys {
				for _, secret := range []string{k.Prefix, hex.EncodeToString(k.Hash), base64.StdEncoding.EncodeToString(k.Hash)} {
					if strings.Contains(table, secret) || strings.Contains(raw, secret) {
						t.Errorf("the listing shows secret material of %s", k.ID)
					}
				}
			}
			for _, key := range []string{live, gone} {
				if strings.Contains(table, key) || strings.Contains(raw, key) || strings.Contains(table, key[:12]) || strings.Contains(raw, key[:12]) {
					t.Errorf("the listing shows a key")
				}
			}
		})
	}
}

// TestCLILinksFollowTheConfiguredAddress: every link the CLI prints starts
// where serve, given the same configuration, would be reached: the public
// URL from the flag, the environment or the file, else the address and
// TLS settings serve reads, never a default port the server is not on.
func TestCLILinksFollowTheConfiguredAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "data")}
	ws := createWorkspace(t, env, "Links")
	s := openSealed(t, env)
	u, err := s.CreateUser(t.Context(), store.CreateUserParams{Email: "owner@example.com", Name: "O", PasswordHash: "x", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(t.Context(), ws, u.ID, palisade.RoleOwner, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.close()
	cfgFile := filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(cfgFile, []byte("addr: 127.0.0.1:7001\ntls_cert: /etc/palisade/cert.pem\ntls_key: /etc/palisade/key.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"the default address", nil, nil, "http://127.0.0.1:8080"},
		{"the address serve listens on", map[string]string{"PALISADE_ADDR": "0.0.0.0:9000"}, nil, "http://localhost:9000"},
		{"the configuration file", map[string]string{"PALISADE_CONFIG": cfgFile}, nil, "https://127.0.0.1:7001"},
		{"the public URL in the environment", map[string]string{"PALISADE_ADDR": "0.0.0.0:9000", "PALISADE_PUBLIC_URL": "https://chat.example.org/"}, nil, "https://chat.example.org"},
		{"the public URL flag", map[string]string{"PALISADE_PUBLIC_URL": "https://chat.example.org"}, []string{"--public-url", "https://bots.example.net"}, "https://bots.example.net"},
	} {
		e := maps.Clone(env)
		maps.Copy(e, c.env)
		create := mustCLI(t, e, append([]string{"workspace", "create", "--name", "L", "--owner-email", "x@example.com"}, c.args...)...)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.want) + `/invite/[A-Za-z0-9_-]{43}$`).MatchString(create) {
			t.Errorf("%s: workspace create printed:\n%s", c.name, create)
		}
		reset := mustCLI(t, e, append([]string{"user", "reset-password", "--email", "owner@example.com"}, c.args...)...)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.want) + `/reset/[A-Za-z0-9_-]{43}$`).MatchString(reset) {
			t.Errorf("%s: user reset-password printed:\n%s", c.name, reset)
		}
	}
	if _, err := runCLI(t, t.Context(), env, nil, "workspace", "create", "--name", "L", "--owner-email", "x@example.com", "--public-url", "ftp://x"); err == nil {
		t.Error("a public URL that is not http(s) was accepted")
	}
}

// TestOperatorCommandMistakes: the operator commands refuse what they
// cannot act on with a short message, and change nothing.
func TestOperatorCommandMistakes(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	ws := string(createWorkspace(t, env, "Mistakes").Workspace())
	for _, c := range []struct {
		args  []string
		usage bool
		says  string
	}{
		{[]string{"workspace", "suspend", ws}, true, "--reason"},
		{[]string{"workspace", "suspend", "--reason", "spam"}, true, "workspace id comes first"},
		{[]string{"workspace", "suspend", "ws_nope", "--reason", "spam"}, true, "not a workspace id"},
		{[]string{"workspace", "suspend", ws, "--reason", "two\nlines"}, true, "--reason"},
		{[]string{"workspace", "suspend", ws, "--reason", strings.Repeat("x", 201)}, true, "--reason"},
		{[]string{"workspace", "suspend", string(palisade.NewWorkspaceID()), "--reason", "spam"}, false, "no workspace"},
		{[]string{"workspace", "frobnicate"}, true, ""},
		{[]string{"apikey", "list"}, true, "--workspace"},
		{[]string{"user", "reset-mfa", "--email", "not-an-address"}, true, "--email"},
		{[]string{"user", "reset-mfa", "--email", "nobody@example.com"}, false, "no user"},
		{[]string{"user"}, true, ""},
	} {
		_, errOut, err := run(t, env, c.args...)
		if err == nil || errors.Is(err, cli.ErrUsage) != c.usage || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v (usage error %v)\n%s", c.args, err, errors.Is(err, cli.ErrUsage), errOut)
		}
	}
	if out := mustCLI(t, env, "workspace", "resume", ws); !strings.Contains(out, "not suspended; nothing changed") {
		t.Errorf("resuming an active workspace said %q", out)
	}
	if list := mustCLI(t, env, "workspace", "list"); !strings.Contains(list, ws) || strings.Contains(list, "suspended") {
		t.Errorf("after the mistakes:\n%s", list)
	}
	for _, e := range auditActions(t, env, palisade.Scope{}) {
		if strings.HasPrefix(e.Action, "workspace.suspended") || strings.HasPrefix(e.Action, "workspace.resumed") || e.Action == "mfa.reset" {
			t.Errorf("a refused command was audited: %s", e.Action)
		}
	}
}
