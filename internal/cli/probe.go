package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/probe"
	"github.com/palisadehq/palisade/internal/secret"
)

// ErrProbeFailed is returned when at least one check failed: the command
// exits non-zero so CI refuses a deployment that weakened.
var ErrProbeFailed = errors.New("probe: at least one check failed")

// probeSecretFlags are the probe's flags whose values Main hides from the
// process's visible command line.
func probeSecretFlags() []string { return []string{"api-key", "api-key-b"} }

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// runProbe runs the security self-test against a deployment. It needs no
// database and no master key: it is a client of the URL it is given.
func runProbe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "probe", "probe URL [--format table|json|sarif] [--category NAME]... [--api-key KEY [--api-key KEY_B]] [--secrets FILE] [--insecure-ca FILE]\n  palisade probe --list [--format table|markdown]")
	asJSON := fs.Bool("json", false, "print the report as JSON (the same as --format json)")
	format := fs.String("format", "", "output: table (the default), json or sarif; with --list: table or markdown")
	list := fs.Bool("list", false, "list the checks (category, name, severity, reference, description) and exit")
	var cats, exclude, keys listFlag
	fs.Var(&cats, "category", "run only this category (repeatable, or comma-separated)")
	fs.Var(&exclude, "exclude-category", "do not run this category (repeatable, or comma-separated)")
	fs.Var(&keys, "api-key", "an API key of a workspace, for the checks that need one (or PALISADE_PROBE_API_KEY); give it twice, for two workspaces, to run the cross-workspace checks")
	keyB := fs.String("api-key-b", "", "an API key of a second workspace, for the cross-workspace (IDOR) checks (or PALISADE_PROBE_API_KEY_B)")
	secretsFile := fs.String("secrets", "", "a YAML or JSON file of channel secrets (kind, bot, secret), so the webhook replay checks can sign genuine deliveries, and an account (login: email, password) for the session fixation check")
	caFile := fs.String("insecure-ca", "", "a PEM file of CA certificates to trust for the target (a private or self-signed deployment)")
	concurrency := fs.Int("concurrency", 4, "checks run at once")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each request")
	budget := fs.Int("budget", 800, "the most requests the run sends")
	deadline := fs.Duration("deadline", 3*time.Minute, "bound on the whole run")
	quiet := fs.Bool("quiet", false, "print no progress while running")
	httpPort := fs.Int("http-port", 80, "the plain-HTTP port of the target's host, which must redirect to HTTPS or be closed (an https:// target)")
	// The URL may come before or after the flags.
	var positional []string
	rest := args
	for {
		if help, err := parseInterleaved(fs, rest); help || err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *asJSON {
		if *format != "" && *format != "json" {
			return fmt.Errorf("%w: --json and --format %s disagree", ErrUsage, *format)
		}
		*format = "json"
	}
	checks := probe.All()
	if *list {
		switch *format {
		case "", "table":
			return probe.WriteList(env.Stdout, checks)
		case "markdown":
			return probe.WriteMarkdown(env.Stdout, checks)
		}
		return fmt.Errorf("%w: --list prints a table or markdown, not %q", ErrUsage, *format)
	}
	switch *format {
	case "", "table", "json", "sarif":
	default:
		return fmt.Errorf("%w: --format must be table, json or sarif, not %q", ErrUsage, *format)
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: palisade probe takes exactly one URL", ErrUsage)
	}
	opts := probe.Options{
		Concurrency: *concurrency,
		Timeout:     *timeout,
		Budget:      *budget,
		Deadline:    *deadline,
		Categories:  cats,
		Exclude:     exclude,
		HTTPPort:    *httpPort,
	}
	if len(keys) == 0 && env.Getenv != nil {
		if k := env.Getenv("PALISADE_PROBE_API_KEY"); k != "" {
			keys = append(keys, k)
		}
	}
	if *keyB == "" && env.Getenv != nil {
		*keyB = env.Getenv("PALISADE_PROBE_API_KEY_B")
	}
	if *keyB != "" {
		keys = append(keys, *keyB)
	}
	if len(keys) > 2 {
		return fmt.Errorf("%w: give at most two API keys (one per workspace)", ErrUsage)
	}
	for i, k := range keys {
		env.Redactor.Register(k)
		if i == 0 {
			opts.APIKey = secret.New(k)
		} else {
			opts.APIKeyB = secret.New(k)
		}
	}
	if len(keys) == 2 && keys[0] == keys[1] {
		return fmt.Errorf("%w: the two API keys are the same; the cross-workspace checks need keys of two workspaces", ErrUsage)
	}
	if *secretsFile != "" {
		raw, err := os.ReadFile(*secretsFile)
		if err != nil {
			return fmt.Errorf("reading --secrets: %w", err)
		}
		sec, err := probe.ParseSecrets(raw)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		for _, c := range sec.Channels {
			env.Redactor.Register(c.Secret.Reveal())
		}
		if !sec.Login.Password.IsZero() {
			env.Redactor.Register(sec.Login.Password.Reveal())
		}
		opts.Secrets = sec
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("reading --insecure-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: --insecure-ca %s holds no PEM certificate", ErrUsage, *caFile)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if !*quiet {
		opts.Progress = env.Stderr
	}
	rep, err := probe.Run(ctx, positional[0], checks, opts)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	out := io.Writer(env.Stdout)
	switch *format {
	case "json":
		err = probe.WriteJSON(out, rep)
	case "sarif":
		err = probe.WriteSARIF(out, rep, checks)
	default:
		err = probe.WriteTable(out, rep)
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrProbeFailed, rep.Failed, len(rep.Results))
	}
	return nil
}

// parseInterleaved parses flags up to the first positional argument.
func parseInterleaved(fs *flag.FlagSet, args []string) (bool, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return false, nil
}
