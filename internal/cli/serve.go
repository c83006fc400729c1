package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// SetupTTL is how long the first-owner set-up link stays valid.
const SetupTTL = 24 * time.Hour

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve", "serve [flags]\n\n"+
		"With no flags: SQLite and the master key in ./palisade-data, UI, API and webhooks on 127.0.0.1:8080,\n"+
		"metrics and profiling on 127.0.0.1:9090, bots answering in retrieval-only mode.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore|config.GroupServe, args, nil)
	if help || err != nil {
		return err
	}
	a, err := buildApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx, env)
}

// run starts the listeners and the job runner, announces the set-up link
// when no account exists, and serves until ctx ends or a listener fails;
// then it lets in-flight requests and jobs finish within the shutdown
// time-out.
func (a *app) run(ctx context.Context, env *Env) error {
	cfg, logger := a.cfg, a.logger
	// One process per data directory writes the scheduled backups: the
	// one that runs the jobs.
	if cfg.BackupEvery > 0 && cfg.Role.RunsJobs() {
		a.backups = newScheduledBackups(env, cfg, logger)
		if err := a.backups.Start(ctx); err != nil {
			return err
		}
		defer a.backups.Stop()
	}
	if err := a.srv.Start(ctx); err != nil {
		return err
	}
	if a.runner != nil {
		if err := a.runner.Start(ctx); err != nil {
			_ = a.srv.Stop(context.Background())
			return err
		}
	}
	if a.rejections != nil {
		_ = a.rejections.Start(ctx)
	}
	if a.rateLimited != nil {
		a.rateLimited.Start(ctx, 0) // the default interval
	}
	if a.discordGateway != nil {
		_ = a.discordGateway.Start(ctx)
	}
	if cfg.Role.ServesWeb() {
		if msg := plainHTTPWarning(cfg, a.tls); msg != "" {
			logger.Warn(msg, "addr", cfg.Addr, "public_url", cfg.PublicURL)
		}
		if err := announceSetup(ctx, env, cfg, a.store, a.tokens, logger); err != nil {
			logger.Error("could not create the first-owner set-up link", "err", err)
		}
	}
	adminAddr := ""
	if a.srv.AdminAddr() != nil {
		adminAddr = a.srv.AdminAddr().String()
	}
	logger.Info("palisade is serving", "addr", a.srv.Addr().String(), "admin_addr", adminAddr, "store", string(a.store.Dialect()),
		"role", string(cfg.Role), "tls", a.tls, "llm_providers", strings.Join(kindNames(cfg), ","))
	a.logOut.flush()
	if env.Ready != nil {
		env.Ready(a.srv.Addr().String(), adminAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case serveErr = <-a.srv.Err():
		logger.Error("listener failed; shutting down", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	stopErr := a.srv.Stop(sctx)
	if a.discordGateway != nil {
		// Releases the leases, so another process takes the sessions over
		// at once.
		stopErr = errors.Join(stopErr, a.discordGateway.Stop(sctx))
	}
	if a.runner != nil {
		stopErr = errors.Join(stopErr, a.runner.Stop(sctx))
	}
	if a.rejections != nil {
		// After the listeners: the last refusals are written too.
		stopErr = errors.Join(stopErr, a.rejections.Stop(sctx))
	}
	if a.rateLimited != nil {
		// After the listeners too: no refusal is counted after this.
		stopErr = errors.Join(stopErr, a.rateLimited.Stop(sctx))
	}
	if stopErr != nil {
		logger.Warn("shutdown did not finish cleanly", "err", stopErr)
	}
	logger.Info("stopped")
	return serveErr
}

// plainHTTPWarning explains why nobody will be able to sign in when the UI
// is reached over plain HTTP by a name other than localhost: its cookies
// are Secure (and __Host-), which browsers keep only over HTTPS or on
// localhost. Empty when the listener serves TLS, the public URL is HTTPS
// (a proxy terminates TLS), or everything stays on loopback.
func plainHTTPWarning(cfg config.Config, tls bool) string {
	if tls {
		return ""
	}
	host := ""
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Scheme == "https" {
			return ""
		}
		host = u.Hostname()
	} else {
		h, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return ""
		}
		host = h
	}
	if loopbackHost(host) {
		return ""
	}
	return "the UI is served over plain HTTP on a non-loopback address: browsers keep its sign-in cookies only over HTTPS or on localhost, " +
		"so signing in from another machine will fail; serve TLS (--tls-cert/--tls-key or --acme-domain), or put an HTTPS proxy in front and set --public-url https://…"
}

// loopbackHost reports whether browsers reach host only from this machine
// and treat plain HTTP to it as a secure context. An empty host or an
// unspecified address listens on every interface.
func loopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func prefixStrings(cfg config.Config) []string {
	var out []string
	for _, p := range cfg.TrustedProxies {
		out = append(out, p.String())
	}
	return out
}

// announceSetup prints a one-time link to create the first owner when no
// user exists yet. It goes to stdout, not the log: logs are shipped and
// kept, a set-up link must not be.
func announceSetup(ctx context.Context, env *Env, cfg config.Config, s store.Store, tokens *auth.TokenKey, logger *slog.Logger) error {
	n, err := s.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	token, hash, err := tokens.NewOneTimeToken(auth.PurposeSetup)
	if err != nil {
		return err
	}
	now := env.Now()
	if err := s.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: hash, Now: now, ExpiresAt: now.Add(SetupTTL)}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nNo account exists yet. Create the first owner (link valid %s, works once):\n\n    %s/setup/%s\n\n",
		SetupTTL, cfg.BaseURL(), token.Reveal())
	logger.Info("first-owner set-up link printed to standard output")
	return nil
}
