package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/palisadehq/palisade/internal/egress"
)

// runHealthcheck asks a server's /healthz and exits 0 only on a 200: the
// container image's HEALTHCHECK, which has no shell or curl to do it with.
// The request goes through the egress client, limited to the one address
// given, which is the operator's (the image's) choice, never a tenant's.
func runHealthcheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "healthcheck", "healthcheck [--url URL] [--timeout D]\n\n"+
		"Exits 0 when the server's health endpoint answers 200 in time, 1 otherwise: for container health checks.")
	target := fs.String("url", "http://127.0.0.1:8080/healthz", "the health endpoint to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if help, err := parseInterleaved(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: --url must be an http(s) URL without credentials, query or fragment", ErrUsage)
	}
	none, err := egress.NewPolicy()
	if err != nil {
		return err
	}
	base, err := egress.New(none, egress.Options{Timeout: *timeout, MaxRedirects: -1, MaxResponseBytes: 64 << 10})
	if err != nil {
		return err
	}
	origin := u.Scheme + "://" + u.Host
	client, err := base.ForInternalService(origin)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health check of %s: %w", origin+u.Path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check of %s: status %d", origin+u.Path, resp.StatusCode)
	}
	fmt.Fprintln(env.Stdout, "healthy")
	return nil
}
