package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesUnverifiedRemoteStores: serve (and migrate) refuse a
// PostgreSQL server on another machine without sslmode=verify-full, and a
// Redis server on another machine without rediss://, before connecting,
// naming the flag that would allow it and never the password.
func TestServeRefusesUnverifiedRemoteStores(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--database-url", "postgres://app:canary-pw-77@db.example.com:5432/palisade?sslmode=require"}, "--unsafe-database-without-verified-tls"},
		{[]string{"migrate", "--database-url", "postgres://admin:canary-pw-77@10.20.30.40/palisade"}, "--unsafe-database-without-verified-tls"},
		{[]string{"serve", "--redis-url", "redis://:canary-pw-77@cache.example.com:6379/0"}, "--unsafe-redis-without-tls"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		var errOut syncBuffer
		_, err := runCLI(t, ctx, env, &errOut, tc.args...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if strings.Contains(err.Error()+errOut.String(), "canary-pw-77") {
			t.Errorf("%v: the password appears in the refusal", tc.args)
		}
	}
}

// TestServeSecurityTxt: --security-contact publishes RFC 9116's file on
// the public listener.
func TestServeSecurityTxt(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	r := serve(t, env, "--security-contact", "mailto:security@example.com")
	code, body := get(t, r.public+"/.well-known/security.txt")
	if code != 200 || !strings.Contains(body, "Contact: mailto:security@example.com\n") || !strings.Contains(body, "Expires: ") {
		t.Fatalf("%d %q", code, body)
	}
}
