package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/redact"
)

// The error a command ends with is printed through the process's
// redactor: a secret the configuration named (a database password) and a
// known key format are gone, for usage errors and failures alike.
func TestFinalErrorIsRedacted(t *testing.T) {
	t.Parallel()
	const dbPassword = "canary-db-pw-5Kq8"
	const apiKey = "pal_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	var stderr bytes.Buffer
	env := &Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: &stderr, Redactor: redact.New(redact.Options{})}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	if _, _, err := loadConfig(env, fs, config.GroupStore, []string{"--database-url=postgres://app:" + dbPassword + "@db.example/palisade?sslmode=verify-full"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		fmt.Errorf("connecting to postgres://app:%s@db.example/palisade: refused; key %s", dbPassword, apiKey),
		fmt.Errorf("%w: bad value %s", ErrUsage, dbPassword),
	} {
		stderr.Reset()
		code := report(err, env)
		out := stderr.String()
		if code == 0 || !strings.HasPrefix(out, "palisade: ") {
			t.Errorf("report(%v) = %d, %q", errors.Unwrap(err), code, out)
		}
		if strings.Contains(out, dbPassword) || strings.Contains(out, apiKey) {
			t.Errorf("secret printed: %q", out)
		}
	}
}
