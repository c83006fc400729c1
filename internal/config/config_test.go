package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader(fs, GroupStore|GroupServe)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return l.Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./palisade-data" || c.Postgres() || !c.RedisURL.IsZero() || c.AdminAddr != "127.0.0.1:9090" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.BaseURL() != "http://127.0.0.1:8080" {
		t.Fatalf("BaseURL = %s", c.BaseURL())
	}
}

func TestPrecedenceAndFileTwins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "palisade.yaml")
	os.WriteFile(cfgFile, []byte("addr: 127.0.0.1:7000\ndata_dir: /from/file\nlog_level: warn\n"), 0o600)
	secretFile := filepath.Join(dir, "db")
	os.WriteFile(secretFile, []byte("postgres://app:s3cretpw@db/palisade?sslmode=verify-full\n"), 0o600)
	c, err := load(t, []string{"--config", cfgFile, "--addr", "127.0.0.1:9000"}, map[string]string{
		"PALISADE_DATA_DIR":          "/from/env",
		"PALISADE_DATABASE_URL_FILE": secretFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.DataDir != "/from/env" || c.LogLevel != "warn" {
		t.Fatalf("precedence wrong: addr=%s dir=%s level=%s", c.Addr, c.DataDir, c.LogLevel)
	}
	if c.DatabaseURL.Reveal() != "postgres://app:s3cretpw@db/palisade?sslmode=verify-full" {
		t.Fatalf("_FILE twin not read: %q", c.DatabaseURL.Reveal())
	}
	dump := strings.Join(c.Dump(GroupStore|GroupServe), "\n")
	if strings.Contains(dump, "s3cretpw") || !strings.Contains(dump, "database-url=[REDACTED]") {
		t.Fatalf("dump leaks or misses the secret:\n%s", dump)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "nonsense"}, "--addr"},
		{[]string{"--database-url", "mysql://x"}, "--database-url"},
		{[]string{"--role", "boss"}, "--role"},
		{[]string{"--tls-cert", "c.pem"}, "go together"},
		{[]string{"--redis-url", "http://x"}, "--redis-url"},
		{[]string{"--unsafe-allow-privileged-db-role=maybe"}, "true or false"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,bogus"}, "bogus"},
		{[]string{"--shutdown-timeout", "-1s"}, "positive"},
		{[]string{"--job-timeout", "100ms"}, "from 1s to 24h"},
		{[]string{"--max-body-api", "10"}, "1024 to 67108864"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want mention of %q", tc.args, err, tc.want)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "c.yaml")
	os.WriteFile(bad, []byte("adress: x\n"), 0o600)
	if _, err := load(t, []string{"--config", bad}, nil); err == nil || !strings.Contains(err.Error(), `unknown setting "adress"`) {
		t.Errorf("unknown file key: %v", err)
	}
}

func TestSMTPAndSignup(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AllowSignup || c.SMTPHost != "" || c.SMTPAddr() != "" || c.SMTPPort != 587 || c.SMTPTLS != "starttls" {
		t.Fatalf("defaults: signup=%v host=%q port=%d tls=%q", c.AllowSignup, c.SMTPHost, c.SMTPPort, c.SMTPTLS)
	}

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp")
	if err := os.WriteFile(pwFile, []byte("Smtp-Canary-Pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = load(t, []string{"--smtp-host", "mail.example.com", "--smtp-username", "palisade", "--smtp-from", "noreply@example.com", "--allow-signup=true"},
		map[string]string{"PALISADE_SMTP_PASSWORD_FILE": pwFile, "PALISADE_SMTP_PORT": "2587"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.AllowSignup || c.SMTPAddr() != "mail.example.com:2587" || c.SMTPPassword.Reveal() != "Smtp-Canary-Pass" || c.SMTPFrom != "noreply@example.com" {
		t.Fatalf("loaded: signup=%v addr=%q from=%q", c.AllowSignup, c.SMTPAddr(), c.SMTPFrom)
	}
	dump := strings.Join(c.Dump(GroupStore|GroupServe), "\n")
	if strings.Contains(dump, "Smtp-Canary-Pass") || !strings.Contains(dump, "smtp-password=[REDACTED]") || !strings.Contains(dump, "allow-signup=true") {
		t.Fatalf("dump leaks or misses SMTP settings:\n%s", dump)
	}

	c, err = load(t, []string{"--smtp-host", "::1", "--smtp-port", "465", "--smtp-tls", "tls", "--smtp-from", "a@example.com"}, nil)
	if err != nil || c.SMTPAddr() != "[::1]:465" {
		t.Fatalf("IPv6 host with implicit TLS: %q %v", c.SMTPAddr(), err)
	}

	ok := []string{"--smtp-host", "mail.example.com", "--smtp-from", "noreply@example.com"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-from", "noreply@example.com"}, "need --smtp-host"},
		{[]string{"--smtp-host", "mail.example.com"}, "--smtp-from is required"},
		{append(ok[:2:2], "--smtp-from", "not an address"), "--smtp-from"},
		{append(ok[:2:2], "--smtp-from", "Palisade <noreply@example.com>"), "--smtp-from"},
		{append(ok[:2:2], "--smtp-from", "a@example.com\r\nBcc: x@evil.example"), "--smtp-from"},
		{[]string{"--smtp-host", "mail.example.com:25", "--smtp-from", "a@example.com"}, "without a port"},
		{[]string{"--smtp-host", "user@mail.example.com", "--smtp-from", "a@example.com"}, "--smtp-host"},
		{[]string{"--smtp-host", "mail.example.com\nx", "--smtp-from", "a@example.com"}, "--smtp-host"},
		{append(ok, "--smtp-port", "0"), "between 1 and 65535"},
		{append(ok, "--smtp-port", "70000"), "between 1 and 65535"},
		{append(ok, "--smtp-port", "smtp"), "between 1 and 65535"},
		{append(ok, "--smtp-tls", "none"), "--smtp-tls must be starttls or tls"},
		{append(ok, "--smtp-tls", "tls"), "port 465 only"},
		{append(ok, "--smtp-port", "465"), "use --smtp-tls=tls"},
		{append(ok, "--smtp-username", "u"), "needs --smtp-password"},
		{[]string{"--allow-signup=maybe"}, "true or false"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want mention of %q", tc.args, err, tc.want)
		}
	}
}

func TestBareBoolFlags(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--unsafe-egress-allow-loopback", "--addr", "127.0.0.1:9999"}, nil)
	if err != nil || !c.UnsafeEgressAllowLoopback || c.Addr != "127.0.0.1:9999" {
		t.Fatalf("bare bool flag: %+v, %v", c.UnsafeEgressAllowLoopback, err)
	}
	c, err = load(t, []string{"--unsafe-egress-allow-loopback=false"}, map[string]string{"PALISADE_UNSAFE_EGRESS_ALLOW_LOOPBACK": "true"})
	if err != nil || c.UnsafeEgressAllowLoopback {
		t.Fatalf("explicit false flag over env: %v, %v", c.UnsafeEgressAllowLoopback, err)
	}
}

// TestLinkBaseMatchesServe: a command that prints links to the server
// (GroupLink) makes them from --public-url, else from the address and TLS
// settings serve reads from the same file and environment, and offers no
// flag but --public-url for them.
func TestLinkBaseMatchesServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(cfgFile, []byte("addr: 0.0.0.0:7443\nacme_domain: chat.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(args []string, env map[string]string) string {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		l := NewLoader(fs, GroupStore|GroupLink)
		for _, name := range []string{"addr", "tls-cert", "acme-domain", "tls-key"} {
			if fs.Lookup(name) != nil {
				t.Fatalf("a link-printing command offers --%s", name)
			}
		}
		if fs.Lookup("public-url") == nil {
			t.Fatal("a link-printing command lacks --public-url")
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := l.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c.BaseURL()
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "http://127.0.0.1:8080"},
		{nil, map[string]string{"PALISADE_ADDR": "0.0.0.0:9000"}, "http://localhost:9000"},
		{nil, map[string]string{"PALISADE_ADDR": "10.0.0.5:9000", "PALISADE_TLS_CERT": "/c.pem"}, "https://10.0.0.5:9000"},
		{[]string{"--config", cfgFile}, nil, "https://chat.example.com"},
		{nil, map[string]string{"PALISADE_CONFIG": cfgFile, "PALISADE_PUBLIC_URL": "https://bots.example.org/"}, "https://bots.example.org"},
		{[]string{"--public-url", "https://flag.example.net"}, map[string]string{"PALISADE_PUBLIC_URL": "https://env.example.org"}, "https://flag.example.net"},
	} {
		if got := base(c.args, c.env); got != c.want {
			t.Errorf("args %v env %v: base %s, want %s", c.args, c.env, got, c.want)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader(fs, GroupStore|GroupLink)
	if err := fs.Parse([]string{"--public-url", "ftp://x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "--public-url") {
		t.Errorf("a bad --public-url passed: %v", err)
	}
}
