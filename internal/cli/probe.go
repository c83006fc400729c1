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
func probeSecretFlags() []string { return []string{"api-key"} }

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
	fs := newFlags(env, "probe", "probe URL [--json] [--category NAME]... [--api-key KEY] [--insecure-ca FILE]")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	list := fs.Bool("list", false, "list the checks and exit")
	var cats listFlag
	fs.Var(&cats, "category", "run only this category (repeatable, or comma-separated)")
	apiKey := fs.String("api-key", "", "an API key of a workspace, for the checks that need one (or PALISADE_PROBE_API_KEY)")
	caFile := fs.String("insecure-ca", "", "a PEM file of CA certificates to trust for the target (a private or self-signed deployment)")
	concurrency := fs.Int("concurrency", 4, "checks run at once")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each request")
	budget := fs.Int("budget", 500, "the most requests the run sends")
	deadline := fs.Duration("deadline", 2*time.Minute, "bound on the whole run")
	quiet := fs.Bool("quiet", false, "print no progress while running")
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
	checks := probe.All()
	if *list {
		for _, c := range checks {
			fmt.Fprintf(env.Stdout, "%s\t%s\n", c.Category, c.Name)
		}
		fmt.Fprintf(env.Stdout, "%d checks in %d categories\n", len(checks), len(probe.Categories(checks)))
		return nil
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
	}
	key := *apiKey
	if key == "" && env.Getenv != nil {
		key = env.Getenv("PALISADE_PROBE_API_KEY")
	}
	if key != "" {
		env.Redactor.Register(key)
		opts.APIKey = secret.New(key)
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
	if *asJSON {
		err = probe.WriteJSON(out, rep)
	} else {
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
