package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/keystore"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/server"
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
	red := newRedactor(cfg)
	logger := newLogger(cfg, env.Stderr, red)

	if !cfg.Postgres() {
		if err := prepareDataDir(cfg.DataDir); err != nil {
			return err
		}
	}
	master, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	// One keyring per process, from the master key and the key store kept
	// apart from the data; the store seals its columns through it.
	keyring, closeKeys, err := openKeyringWith(ctx, cfg, master)
	if err != nil {
		return err
	}
	defer closeKeys()
	tokens, err := gatewayTokens(master)
	if err != nil {
		return err
	}

	reg := job.NewRegistry()
	users, err := keystore.NewUserSealer(master)
	if err != nil {
		return err
	}
	opts := store.Options{Logger: logger, JobPollInterval: 200 * time.Millisecond, Sealer: storeSealer(keyring), UserSealer: users}
	runJobs := cfg.Role == "all" || cfg.Role == "worker"
	if runJobs {
		opts = reg.Options(opts)
	}
	s, err := openStore(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	auditLog := audit.New(s, audit.Options{Now: env.Now, Redactor: red})

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	lim, err := newLimits(cfg, logger, env.Now)
	if err != nil {
		return err
	}
	defer lim.close()
	ready := []server.Check{{Name: "database", Check: func(ctx context.Context) (string, error) { return "", s.Ping(ctx) }}}
	if lim.ready != nil {
		ready = append(ready, *lim.ready)
	}

	out, err := newEgress(cfg, logger, metrics, egressAudit(auditLog, logger))
	if err != nil {
		return err
	}
	defer out.CloseIdleConnections()
	providers, err := newProviders(cfg, out)
	if err != nil {
		return err
	}
	gw := gateway.New(gateway.Options{Store: s, Providers: providers, Now: env.Now, Logger: logger, Observe: gatewayMetrics(metrics)})

	proxies, err := httpx.NewTrustedProxies(prefixStrings(cfg))
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %v", ErrUsage, err)
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	// How bots answer, for the API and the inbound-message workers alike:
	// through a separate gateway role, the in-process gateway, or — with no
	// provider anywhere — retrieval-only. The model allowlist is resolved
	// here, once.
	var generator conversation.Generator
	models := cfg.LLMModels
	switch {
	case cfg.GatewayURL != "":
		generator = &conversation.GatewayGenerator{Gateway: gatewayService(cfg, gw), Tokens: tokens}
	case gw.HasProvider():
		generator = &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens}
		models = gw.Models()
	case cfg.Role != "gateway":
		logger.Info("no LLM provider configured: bots answer in retrieval-only mode with their best passages and sources")
	}
	if len(models) == 0 {
		models = llm.DefaultModels("")
	}
	know := &knowledge.Service{Store: s, Now: env.Now}
	conversations := &conversation.Service{Store: s, Knowledge: know, Generator: generator, Now: env.Now}
	bots, err := bot.New(bot.Options{Store: s, Knowledge: know, Models: models, Tokens: tokens, Audit: auditLog, Logger: logger, Now: env.Now})
	if err != nil {
		return err
	}
	reg.Bind(job.Deps{Store: s, Now: env.Now, Logger: logger, Sealer: opts.Sealer, Generator: generator})
	mounts := map[string]http.Handler{}
	if cfg.Role == "gateway" {
		mounts["/gateway/"] = httpx.LimitBody(cfg.MaxBodyAPI)(gateway.NewHandler(gw, signingKeys(cfg), env.Now).Routes())
	}
	if cfg.Role == "all" || cfg.Role == "web" {
		a := &api.API{Keys: s, Bots: bots, Conversations: conversations, Now: env.Now, Limiter: lim.limiter, Limits: lim.table}
		mounts["/api/"] = httpx.LimitBody(cfg.MaxBodyAPI)(a.Handler())
		// Without SMTP settings mail goes to the server log (embedded
		// mode); sign-up stays closed unless --allow-signup opens it.
		var mailer mail.Sender = mail.LogSender{Logger: logger, Out: env.Stdout}
		if cfg.SMTPHost != "" {
			mailer = &mail.SMTP{Addr: cfg.SMTPAddr(), From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
			logger.Info("account e-mails go through SMTP", "smtp_addr", cfg.SMTPAddr(), "smtp_tls", cfg.SMTPTLS)
		}
		accounts, err := account.New(account.Options{Store: s, Hasher: auth.NewHasher(), Mailer: mailer,
			Limiter: lim.limiter, Limits: lim.table, Audit: auditLog,
			Logger: logger, Now: env.Now, BaseURL: cfg.BaseURL(), AllowSignup: cfg.AllowSignup})
		if err != nil {
			return err
		}
		ui, err := admin.New(admin.Options{Account: accounts, Bots: bots, Audit: audit.NewHistory(s), Proxies: proxies, Logger: logger})
		if err != nil {
			return err
		}
		mounts["/"] = httpx.LimitBody(cfg.MaxBodyUI)(ui.Handler())
	}
	srv := server.New(server.Options{
		Addr: cfg.Addr, AdminAddr: cfg.AdminAddr, TLS: tlsCfg, RedirectAddr: cfg.HTTPRedirect,
		Logger: logger, Proxies: proxies, Mounts: mounts, Ready: ready, Registry: metrics, MaxBody: max(cfg.MaxBodyAPI, cfg.MaxBodyUI),
	})
	if err := srv.Start(ctx); err != nil {
		return err
	}
	if runJobs {
		if err := s.Jobs().Start(ctx); err != nil {
			_ = srv.Stop(context.Background())
			return err
		}
	}
	if cfg.Role == "all" || cfg.Role == "web" {
		if err := announceSetup(ctx, env, cfg, s, logger); err != nil {
			logger.Error("could not create the first-owner set-up link", "err", err)
		}
	}
	adminAddr := ""
	if srv.AdminAddr() != nil {
		adminAddr = srv.AdminAddr().String()
	}
	logger.Info("palisade is serving", "addr", srv.Addr().String(), "admin_addr", adminAddr, "store", string(s.Dialect()), "role", cfg.Role,
		"tls", tlsCfg != nil, "llm_provider", cfg.LLMProvider)
	if env.Ready != nil {
		env.Ready(srv.Addr().String(), adminAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case serveErr = <-srv.Err():
		logger.Error("listener failed; shutting down", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	stopErr := errors.Join(srv.Stop(sctx), s.Jobs().Stop(sctx))
	if stopErr != nil {
		logger.Warn("shutdown did not finish cleanly", "err", stopErr)
	}
	logger.Info("stopped")
	return serveErr
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
func announceSetup(ctx context.Context, env *Env, cfg config.Config, s store.Store, logger *slog.Logger) error {
	n, err := s.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	token, hash, err := auth.NewOneTimeToken(auth.PurposeSetup)
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
