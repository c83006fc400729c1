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
	os.WriteFile(secretFile, []byte("postgres://app:s3cretpw@db/palisade\n"), 0o600)
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
	if c.DatabaseURL.Reveal() != "postgres://app:s3cretpw@db/palisade" {
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
		{[]string{"--unsafe-allow-privileged-db-role", "maybe"}, "true or false"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,bogus"}, "bogus"},
		{[]string{"--shutdown-timeout", "-1s"}, "positive"},
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
