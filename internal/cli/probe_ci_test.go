package cli_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/probe"
)

// deploymentCert writes a certificate for 127.0.0.1 with a real
// deployment's lifetime (90 days, ECDSA P-256) and its key.
func deploymentCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "palisade probe ci"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// apiClient calls the API of a TLS deployment with one key.
type apiClient struct {
	t    *testing.T
	base string
	key  string
	hc   *http.Client
}

func (c apiClient) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// workspaceKey creates a workspace and an API key with every scope.
func workspaceKey(t *testing.T, env map[string]string, name string) string {
	t.Helper()
	ws := createWorkspace(t, env, name)
	return strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "probe",
		"--scopes", auth.FormatScopes(auth.AllScopes())))
}

// setUpOwner creates the deployment's first owner through the set-up link
// serve printed, as a browser would, and returns the credentials.
func setUpOwner(t *testing.T, r running, base string, hc *http.Client) (email, password string) {
	t.Helper()
	m := regexp.MustCompile(`https?://\S+(/setup/[A-Za-z0-9_-]{43})`).FindStringSubmatch(r.stdout.String())
	if m == nil {
		t.Fatalf("no set-up link on stdout:\n%s", r.stdout.String())
	}
	resp, err := hc.Get(base + m[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("GET the set-up page = %d", resp.StatusCode)
	}
	email, password = "owner-probe@example.com", "Kestrel-harbor-ci-7f3kq9x2"
	form := url.Values{"csrf": {html.UnescapeString(string(csrf[1]))}, "name": {"Probe Owner"}, "email": {email}, "password": {password}, "workspace": {"Probe owner"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+m[1], strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST the set-up form = %d: %s", resp.StatusCode, regexp.MustCompile(`(?s)<main.*</main>`).Find(body))
	}
	return email, password
}

// probeRun runs `palisade probe` and returns its report, failing the test
// on a failed check or a skip that gives no reason or says the check is
// not implemented.
func probeRun(t *testing.T, args ...string) probe.Report {
	t.Helper()
	var errOut syncBuffer
	out, err := runCLI(t, t.Context(), map[string]string{}, &errOut, append([]string{"probe", "--format", "json", "--quiet"}, args...)...)
	var rep probe.Report
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("probe output is not JSON: %v (%v)\n%s\nstderr:\n%s", jerr, err, out, errOut.String())
	}
	for _, res := range rep.Results {
		switch {
		case res.Status == probe.Fail:
			t.Errorf("%s/%s failed: %s", res.Category, res.Name, res.Evidence)
		case res.Status == probe.Skip && (res.Evidence == "" || strings.Contains(strings.ToLower(res.Evidence), "not implemented")):
			t.Errorf("%s/%s skipped with %q", res.Category, res.Name, res.Evidence)
		case res.Status == probe.Skip:
			t.Logf("%s/%s skipped: %s", res.Category, res.Name, res.Evidence)
		}
	}
	if err != nil && !errors.Is(err, cli.ErrProbeFailed) {
		t.Fatalf("palisade probe: %v\nstderr:\n%s", err, errOut.String())
	}
	if (err != nil) != (rep.Failed > 0) {
		t.Errorf("exit error %v with %d failures", err, rep.Failed)
	}
	t.Logf("%d checks: %d passed, %d skipped, %d requests", len(rep.Results), rep.Passed, rep.Skipped, rep.Requests)
	return rep
}

// TestProbeCI is the probe's CI run. `palisade serve` with TLS (a
// certificate made here) and a plain-HTTP port that redirects, two
// workspaces bootstrapped with the CLI, each with an API key, a bot with a
// document, a conversation and an outgoing webhook, and the four chat
// channels connected against the platform fakes; `palisade probe` runs
// with both keys and the channel secrets. The SSRF checks run against a
// deployment without --unsafe-egress-allow-loopback (which the platform
// fakes need) and the rate-limit checks against one with the default
// limits. No check may fail, and none may be skipped as not implemented;
// together the runs cover every check.
func TestProbeCI(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		covered = map[string]bool{}
	)
	record := func(rep probe.Report) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rep.Results {
			covered[probe.RuleID(r.Category, r.Name)] = true
		}
	}
	t.Run("main", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "palisade-data")}
		keyA, keyB := workspaceKey(t, env, "Probe A"), workspaceKey(t, env, "Probe B")

		const tgToken = "7234567890:AAHProbeCITelegramBotToken_xyz0123"
		tg := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
		tg.AddBot(tgToken, "probe_ci_bot")
		slackApp := channeltest.SlackApp{BotToken: "xoxb-7234567890-7234567890123-ProbeCISlackBotToken", SigningSecret: "c0ffee11c0ffee22c0ffee33c0ffee44",
			TeamID: "T0PROBECI1", Team: "Probe CI", BotUserID: "U0PROBEBOT", BotID: "B0PROBEBOT", BotName: "probe_ci"}
		slack := channeltest.NewSlack(t)
		slack.AddApp(slackApp)
		const (
			waToken, waSecret, waVerify, waPhone = "EAAGProbeCIWhatsAppAccessToken9f8e7d6c5b4a", "ProbeCIWhatsAppAppSecret0123456789ab", "ProbeCIVerifyToken-5e4d3c2b1a", "106540352242977"
			dcApp, dcToken                       = "787053080478613599", "Nzg3MDUzMDgwNDc4NjEzNTk5.GaBcDe.ProbeCIDiscordBotToken0123456789abcdef"
		)
		wa := channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: waSecret})
		wa.AddNumber(waPhone, "+1 555-078-3899", "Probe CI", waToken)
		dc := channeltest.NewDiscord(t, channeltest.DiscordOptions{})
		seed := bytes.Repeat([]byte{7}, 32)
		dcAppKey := dc.AddApp(channeltest.DiscordApp{ApplicationID: dcApp, BotToken: dcToken, BotUserID: "787053080478613600", Username: "probe_ci", Seed: seed})

		certFile, keyFile, pool := deploymentCert(t, dir)
		limits := filepath.Join(dir, "limits.yaml")
		if err := os.WriteFile(limits, []byte("classes:\n  mgmt_write: 1000/min\n  mgmt_read: 1000/min\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr, redirectAddr := freeAddr(t), freeAddr(t)
		r := serve(t, env, "--addr", addr, "--public-url", "https://"+addr, "--tls-cert", certFile, "--tls-key", keyFile,
			"--http-redirect-addr", redirectAddr, "--rate-limits", limits,
			"--telegram-api-url", tg.URL, "--slack-api-url", slack.URL, "--whatsapp-api-url", wa.URL, "--discord-api-url", dc.URL,
			"--egress-policy", egressPolicyForAll(t, tg.URL, slack.URL, wa.URL, dc.URL), "--unsafe-egress-allow-loopback=true")
		base := "https://" + strings.TrimPrefix(r.public, "http://")
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		t.Cleanup(hc.CloseIdleConnections)

		type secretEntry struct{ Kind, Bot, Secret string }
		var secrets []secretEntry
		for i, key := range []string{keyA, keyB} {
			c := apiClient{t: t, base: base, key: key, hc: hc}
			bot := c.call(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Probe bot " + string(rune('A'+i))}, http.StatusCreated)
			botID, _ := bot["id"].(string)
			c.call(http.MethodPost, "/api/v1/bots/"+botID+"/documents", map[string]any{"title": "Opening hours", "content": "We open at nine.", "content_type": "text/plain"}, http.StatusCreated)
			c.call(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "probe-user", "message": "When do you open?"}, http.StatusOK)
			c.call(http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/palisade"}, http.StatusCreated)
			c.call(http.MethodPost, "/api/v1/provider-keys", map[string]any{"provider": "openai", "key": "sk-proj-ProbeCI" + strings.Repeat("x", 40)}, http.StatusCreated)
			if i == 0 {
				c.call(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "telegram", "credentials": map[string]any{"bot_token": tgToken}}, http.StatusCreated)
				c.call(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "slack",
					"credentials": map[string]any{"bot_token": slackApp.BotToken, "signing_secret": slackApp.SigningSecret}}, http.StatusCreated)
				secrets = append(secrets, secretEntry{"telegram", botID, tg.Bot(tgToken).Webhook.SecretToken}, secretEntry{"slack", botID, slackApp.SigningSecret})
			} else {
				c.call(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "whatsapp",
					"credentials": map[string]any{"access_token": waToken, "app_secret": waSecret, "verify_token": waVerify, "phone_number_id": waPhone}}, http.StatusCreated)
				c.call(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "discord",
					"credentials": map[string]any{"application_id": dcApp, "public_key": dcAppKey.PublicKey, "bot_token": dcToken}}, http.StatusCreated)
				secrets = append(secrets, secretEntry{"whatsapp", botID, waSecret}, secretEntry{"discord", botID, hex.EncodeToString(seed)})
			}
		}
		email, password := setUpOwner(t, r, base, hc)
		var y strings.Builder
		y.WriteString("login:\n  email: " + email + "\n  password: " + password + "\n")
		y.WriteString("channels:\n")
		for _, s := range secrets {
			y.WriteString("  - kind: " + s.Kind + "\n    bot: " + s.Bot + "\n    secret: " + s.Secret + "\n")
		}
		secretsFile := filepath.Join(dir, "probe-secrets.yaml")
		if err := os.WriteFile(secretsFile, []byte(y.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(redirectAddr)
		rep := probeRun(t, "--api-key", keyA, "--api-key", keyB, "--secrets", secretsFile, "--insecure-ca", certFile, "--http-port", port,
			"--exclude-category", probe.CatSSRF, "--exclude-category", probe.CatRateLimit, base)
		record(rep)
		// The keyed, two-workspace, secret and TLS checks ran rather than
		// skipped: what this run exists to prove.
		for _, res := range rep.Results {
			switch res.Category {
			case probe.CatTLS, probe.CatIDOR, probe.CatReplay, probe.CatSession, probe.CatGateway:
				if res.Status == probe.Skip {
					t.Errorf("%s/%s was skipped in the CI run: %s", res.Category, res.Name, res.Evidence)
				}
			}
		}
		if rep.Requests > 800 {
			t.Errorf("the probe sent %d requests, over its budget", rep.Requests)
		}
	})
	t.Run("ssrf", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
		key := workspaceKey(t, env, "Probe SSRF")
		limits := filepath.Join(t.TempDir(), "limits.yaml")
		if err := os.WriteFile(limits, []byte("classes:\n  mgmt_write: 1000/min\n  mgmt_read: 1000/min\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := serve(t, env, "--rate-limits", limits)
		rep := probeRun(t, "--api-key", key, "--category", probe.CatSSRF, r.public)
		record(rep)
		if rep.Passed != len(rep.Results) {
			t.Errorf("%d of %d SSRF checks passed", rep.Passed, len(rep.Results))
		}
	})
	t.Run("rate-limits", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
		key := workspaceKey(t, env, "Probe limits")
		r := serve(t, env)
		rep := probeRun(t, "--api-key", key, "--category", probe.CatRateLimit, r.public)
		record(rep)
		if rep.Passed != len(rep.Results) {
			t.Errorf("%d of %d rate-limit checks passed", rep.Passed, len(rep.Results))
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, c := range probe.All() {
			if !covered[probe.RuleID(c.Category, c.Name)] {
				t.Errorf("%s/%s ran in none of the CI runs", c.Category, c.Name)
			}
		}
	})
}
