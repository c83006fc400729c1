package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	chwidget "github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/dirlock"
	"github.com/palisadehq/palisade/internal/discordgateway"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/idempotency"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/server"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
	"github.com/palisadehq/palisade/internal/webhook"
	"github.com/palisadehq/palisade/internal/widget"
)

// app is one serving process, built from its configuration: every
// component is made once, here, and handed to what uses it.
type app struct {
	cfg    config.Config
	logger *slog.Logger
	// logOut batches the log's writes; start-up is written out at once
	// when serving begins, so the set-up link and every warning about the
	// configuration are there to read the moment the process is ready.
	logOut *logWriter
	store  store.Store
	srv    *server.Server
	// tokens makes the stored form of the set-up link's token.
	tokens *auth.TokenKey
	// runner works the durable jobs; nil when the role runs none.
	runner *job.Runner
	// rejections writes the aggregated webhook refusals to the audit log.
	rejections *channel.Rejections
	// rateLimited writes the summed rate-limit refusals per workspace and
	// day, for the dashboard.
	rateLimited *conversation.RefusalCounter
	// discordGateway runs the Discord bots' Gateway sessions this process
	// holds the lease of; nil when the role runs no jobs.
	discordGateway *discordgateway.Runner
	tls            bool
	// backups writes the scheduled backups; nil when none are asked for.
	backups *scheduledBackups
	// closers release what was opened, last opened first.
	closers []func()
}

// securityTxt publishes the operator's security contacts; the canonical
// URL is given only when the deployment is reached over https, as RFC 9116
// asks.
func securityTxt(cfg config.Config, env *Env) server.SecurityTxt {
	st := server.SecurityTxt{Contacts: cfg.SecurityContacts, Now: env.Now}
	if base := cfg.BaseURL(); strings.HasPrefix(base, "https://") {
		st.Canonical = strings.TrimSuffix(base, "/") + "/.well-known/security.txt"
	}
	return st
}

// lockDataDir keeps a second server of the same part off this SQLite data
// directory: one lock per part the role runs, so a gateway beside a web
// role, or a web role beside a worker, still starts, while a second web
// (or all-in-one) server fails at once with a message instead of serving
// beside the first. CLI commands take no lock: they are safe beside a
// running server. On PostgreSQL the data directory holds no database, and
// several servers of one role are how the service scales out.
func (a *app) lockDataDir() error {
	var parts []string
	if a.cfg.Role.ServesWeb() {
		parts = append(parts, "web")
	}
	if a.cfg.Role.RunsJobs() {
		parts = append(parts, "worker")
	}
	if a.cfg.Role.ServesGateway() {
		parts = append(parts, "gateway")
	}
	for _, part := range parts {
		l, err := dirlock.Acquire(a.cfg.DataDir, "serve-"+part)
		if errors.Is(err, dirlock.ErrHeld) {
			return fmt.Errorf("another palisade serve with the %s part already uses the data directory %s (%w); stop it, or give this one its own --data-dir", part, a.cfg.DataDir, err)
		}
		if err != nil {
			return err
		}
		a.closers = append(a.closers, func() { _ = l.Release() })
	}
	return nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// services are the use cases every surface shares.
type services struct {
	conversations *conversation.Service
	bots          *bot.Service
	// accounts is set for the roles that serve the UI or work jobs.
	accounts *account.Service
	// tokens makes the stored form of session and one-time tokens.
	tokens   *auth.TokenKey
	channels channels
	// widget issues website-widget sessions and runs their messages.
	widget *chwidget.Service
	// billing is nil when billing is off; events sends outgoing
	// webhooks.
	billing *billing.Service
	events  *events.Service
	// providerKeys manages the provider keys workspaces bring.
	providerKeys *gateway.ProviderKeys
	// exports writes workspace and account exports.
	exports *export.Service
	// rateLimited counts the requests rate limits refused, per workspace.
	rateLimited *conversation.RefusalCounter
}

// buildApp opens the data, builds every service once and mounts the
// surfaces the role serves. On error nothing stays open.
func buildApp(ctx context.Context, env *Env, cfg config.Config) (_ *app, err error) {
	red := env.Redactor
	logOut := newLogWriter(env.Stderr)
	logger := newLogger(cfg, logOut, red)
	a := &app{cfg: cfg, logger: logger, logOut: logOut}
	// The first closer runs last: every line logged while closing is
	// written out before the process reports and exits.
	a.closers = append(a.closers, func() { _ = logOut.Stop() })
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	if !cfg.Postgres() {
		if err := prepareDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		if err := a.lockDataDir(); err != nil {
			return nil, err
		}
	}
	master, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	// The one registry of the admin listener's /metrics.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	onSeal, err := sealMetrics(metrics)
	if err != nil {
		return nil, err
	}
	// One keyring per process, from the master key and the key store kept
	// apart from the data; the store seals its columns through it.
	keyring, closeKeys, err := openKeyringWith(ctx, cfg, master, seal.Options{Observe: onSeal})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = closeKeys() })
	tokens, err := gatewayTokens(master)
	if err != nil {
		return nil, err
	}
	users, err := seal.NewUserSealer(master)
	if err != nil {
		return nil, err
	}
	if a.tokens, err = tokenKey(master); err != nil {
		return nil, err
	}
	jobKey, err := jobArgsKey(master)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg, master, store.Options{Logger: logger, Sealer: keyring, UserSealer: users})
	if err != nil {
		return nil, err
	}
	a.store = s
	a.closers = append(a.closers, func() { _ = s.Close() })
	// The audit chain is keyed with a master-derived key, and the heads of
	// the chains are checkpointed, signed, outside the database: batched,
	// and on shutdown (Stop runs before the store closes).
	auditKeys, err := audit.NewKeys(master)
	if err != nil {
		return nil, err
	}
	am, err := newAuditMetrics(metrics)
	if err != nil {
		return nil, err
	}
	checkpoints := audit.NewCheckpointer(auditCheckpointPath(cfg), auditKeys, audit.CheckpointerOptions{Now: env.Now, Logger: logger, OnFlush: am.onFlush})
	if err := checkpoints.Start(ctx); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, checkpoints.Stop)
	auditLog := audit.New(s, audit.Options{Redactor: red, Keys: auditKeys, Checkpoints: checkpoints, OnWrite: am.onWrite})
	if err := registerAll(metrics, "database", newStoreCollector(s, logger)); err != nil {
		return nil, err
	}

	lim, err := newLimits(cfg, logger, env.Now, master)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, lim.close)
	hub := newInvalidation(s, lim.redis, logger)
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	hubDone := make(chan struct{})
	go func() { hub.Run(hubCtx); close(hubDone) }()
	a.closers = append(a.closers, func() { stopHub(); <-hubDone })
	if lim.limiter, err = countRefusals(lim.limiter, metrics); err != nil {
		return nil, err
	}
	ready := []server.Check{{Name: "database", Check: func(ctx context.Context) (string, error) { return "", s.Ping(ctx) }}}
	if lim.ready != nil {
		ready = append(ready, *lim.ready)
	}

	policy, err := egressPolicy(cfg)
	if err != nil {
		return nil, err
	}
	onDeny, err := newEgressDenials(metrics, egressAudit(auditLog, logger))
	if err != nil {
		return nil, err
	}
	out, err := newEgress(cfg, policy, logger, onDeny)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, out.CloseIdleConnections)
	llms, err := newProviders(cfg, out, policy, logger)
	if err != nil {
		return nil, err
	}
	gw := gateway.New(gateway.Options{Store: s, Providers: llms.providers, Now: env.Now, Logger: logger, Observe: gatewayMetrics(metrics, llms.kinds),
		Kinds: llms.kinds, OwnProviders: llms.own, Invalidation: hub})

	proxies, err := httpx.NewTrustedProxies(prefixStrings(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: --trusted-proxies: %v", ErrUsage, err)
	}
	tlsCfg, err := tlsConfig(cfg, out)
	if err != nil {
		return nil, err
	}
	a.tls = tlsCfg != nil

	bill, err := newBilling(cfg, env, logger, s)
	if err != nil {
		return nil, err
	}
	ev, err := newEvents(cfg, env, logger, s, jobKey, auditLog, onDeny)
	if err != nil {
		return nil, err
	}
	// Bot workers, for the roles that answer messages; /readyz says how
	// they run.
	startWorkers := func(answering gateway.Service) (*sandbox.Pool, error) {
		if !cfg.Role.ServesWeb() && !cfg.Role.RunsJobs() {
			return nil, nil
		}
		pool, check, err := newWorkers(ctx, cfg, env, logger, metrics, answering)
		if err != nil {
			return nil, err
		}
		ready = append(ready, check)
		if pool != nil {
			a.closers = append(a.closers, pool.Close)
		}
		return pool, nil
	}
	svc, err := buildServices(cfg, env, logger, s, gw, out, tokens, auditLog, bill, ev, startWorkers, hub)
	if err != nil {
		return nil, err
	}
	if svc.conversations.PIIKey, err = master.Derive(piiKeyPurpose); err != nil {
		return nil, err
	}
	ch, err := newChannels(cfg, env, logger, s, keyring, jobKey, out, policy, auditLog, metrics, ev)
	if err != nil {
		return nil, err
	}
	svc.channels = ch
	a.rejections = ch.rejections
	svc.rateLimited = conversation.NewRefusalCounter(s, env.Now, logger)
	a.rateLimited = svc.rateLimited
	svc.tokens = a.tokens
	wk, err := widgetKeys(master)
	if err != nil {
		return nil, err
	}
	svc.widget = &chwidget.Service{Store: s, Conversations: svc.conversations, Keys: wk, Now: env.Now}
	exportPolicy, _ := lim.table.Policy(ratelimit.ClassExport)
	svc.exports = export.New(export.Options{Store: s, Audit: auditLog, Limiter: lim.limiter, Policy: exportPolicy, Now: env.Now})
	if cfg.Role.ServesWeb() || cfg.Role.RunsJobs() {
		if svc.accounts, err = newAccounts(cfg, env, logger, s, lim, auditLog, master, users, a.tokens, hub); err != nil {
			return nil, err
		}
	}
	if cfg.Role.RunsJobs() {
		jo, err := jobOptions(cfg, metrics)
		if err != nil {
			return nil, err
		}
		if a.runner, err = newRunner(s, jo, job.Deps{Store: s, ArgsKey: jobKey, Sealer: keyring, Conversations: svc.conversations, Mail: svc.accounts,
			Replier: svc.channels.service, Events: svc.events, Now: env.Now, Logger: logger}); err != nil {
			return nil, err
		}
		if a.discordGateway, err = newDiscordGateway(cfg, logger, s, svc.channels, out, env); err != nil {
			return nil, err
		}
	} else if cfg.Role.ServesWeb() {
		logger.Info("account e-mails are queued for a worker to send: run a process with --role=worker or --role=all on the same database")
	}

	mounts := map[string]http.Handler{}
	if cfg.Role.ServesGateway() {
		h, err := gatewayHandler(cfg, gw, s, lim.redis, env.Now)
		if err != nil {
			return nil, err
		}
		mounts["/gateway/"] = httpx.LimitBody(cfg.MaxBodyAPI)(h)
	}
	if cfg.Role.ServesWeb() {
		if err := mountWeb(mounts, cfg, s, proxies, lim, logger, svc); err != nil {
			return nil, err
		}
	}
	a.srv = server.New(server.Options{
		Addr: cfg.Addr, AdminAddr: cfg.AdminAddr, TLS: tlsCfg, RedirectAddr: cfg.HTTPRedirect,
		Logger: logger, Proxies: proxies, Mounts: mounts, Ready: ready, Registry: metrics, MaxBody: max(cfg.MaxBodyAPI, cfg.MaxBodyUI),
		BodyLimits:  uploadBodyLimits(cfg),
		SecurityTxt: securityTxt(cfg, env),
	})
	return a, nil
}

// buildServices builds the use cases. How bots answer, for the API and the
// inbound-message workers alike: through a separate gateway role, the
// in-process gateway, or — with no provider anywhere — retrieval-only. The
// model allowlist is resolved here, once.
func buildServices(cfg config.Config, env *Env, logger *slog.Logger, s store.Store, gw *gateway.Gateway, out *egress.Client,
	tokens *gateway.Tokens, rec audit.Recorder, bill *billing.Service, ev *events.Service,
	startWorkers func(answering gateway.Service) (*sandbox.Pool, error), hub *invalidate.Hub) (services, error) {
	var generator conversation.Generator
	// answering is the gateway that answers the bots' turns, whether they
	// run in the server or in the bots' workers.
	var answering gateway.Service
	// The lists of the UI and the API offer exactly the models a
	// configured provider serves; with none, the one entry names the
	// retrieval-only mode, so no form offers a model nothing would serve.
	models := []string{llm.RetrievalOnly}
	switch {
	case cfg.GatewayURL != "":
		remote, err := gatewayClient(cfg, out)
		if err != nil {
			return services{}, err
		}
		generator, answering = &conversation.GatewayGenerator{Gateway: remote, Tokens: tokens}, remote
		// This process cannot ask the gateway what it serves: the
		// operator names it, or the lists offer the whole catalogue.
		if models = cfg.ModelNames(); len(models) == 0 {
			models = llm.CatalogueModels()
			logger.Warn("--gateway-url without --llm-models: bot forms offer every model of the catalogue, and a bot on a model the gateway does not serve is refused there; set --llm-models to the gateway's models")
		}
	case gw.HasProvider():
		generator, answering = &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens}, gw
		models = gw.Models()
	case !cfg.Role.ServesGateway():
		logger.Info("no LLM provider configured: bots answer in retrieval-only mode with their best passages and sources; " +
			"configure one with --llm-provider and --llm-api-key, or --openai-api-key, --anthropic-api-key, --gemini-api-key, --groq-api-key")
	}
	workers, err := startWorkers(answering)
	if err != nil {
		return services{}, err
	}
	if workers != nil && generator != nil {
		// The turn runs in the bot's worker, which holds the bot's
		// gateway token and nothing else; a retrieval-only turn has no
		// generator and stays in the server.
		generator = &conversation.WorkerGenerator{Workers: workers, Tokens: tokens}
	}
	// Documents fetched from a bot's domains go out through a client of
	// their own whose policy holds only that bot's domains (FetchURL); the
	// process's policy is never widened for them.
	know := &knowledge.Service{Store: s, Now: env.Now, MaxFileBytes: documentMaxBytes(cfg),
		FetchOptions: egress.Options{Logger: logger, Resolver: net.DefaultResolver, UnsafeAllowLoopback: cfg.UnsafeEgressAllowLoopback}}
	if workers != nil {
		// Every document is parsed in its bot's worker, never in the
		// server, which holds the database and the keys.
		know.Extract = knowledge.WorkerExtract(workers, know.Limits)
	}
	bots, err := bot.New(bot.Options{Store: s, Knowledge: know, Models: models, Tokens: tokens, Audit: rec, Logger: logger, Now: env.Now,
		Limits: bill, Invalidation: hub})
	if err != nil {
		return services{}, err
	}
	return services{
		conversations: &conversation.Service{Store: s, Knowledge: know, Generator: generator, Now: env.Now, Quota: bill, Events: ev, Audit: rec, Logger: logger},
		bots:          bots,
		billing:       bill,
		events:        ev,
		providerKeys:  &gateway.ProviderKeys{Store: s, Audit: rec, Logger: logger, Now: env.Now},
	}, nil
}

// documentMaxBytes is the largest document file accepted.
func documentMaxBytes(cfg config.Config) int64 {
	if cfg.DocumentMaxBytes > 0 {
		return cfg.DocumentMaxBytes
	}
	return knowledge.DefaultMaxFileBytes
}

// uploadBodyLimits are the routes the public listener lets past its body
// limit: the document uploads of the API and of the admin UI, up to the
// document limit, and nothing else.
func uploadBodyLimits(cfg config.Config) map[string]int64 {
	out := api.UploadBodyLimits(documentMaxBytes(cfg))
	maps.Copy(out, admin.UploadBodyLimits(documentMaxBytes(cfg)))
	return out
}

// mountWeb mounts the public API and the admin UI.
func mountWeb(mounts map[string]http.Handler, cfg config.Config, s store.Store, proxies *httpx.TrustedProxies,
	lim limits, logger *slog.Logger, svc services) error {
	// API keys are authenticated by the account service, which bounds each
	// by its creator's current role.
	a := &api.API{Keys: svc.accounts, Bots: svc.bots, Conversations: svc.conversations, Channels: svc.channels.service,
		Events: svc.events, KeyAdmin: svc.accounts, ProviderKeys: svc.providerKeys, Audit: audit.NewHistory(s), Idempotency: &idempotency.Keeper{Store: s},
		Limiter: lim.limiter, Limits: lim.table, OnRateLimited: svc.rateLimited.Refused, Export: svc.exports, DocumentMaxBytes: documentMaxBytes(cfg), Proxies: proxies}
	wo := webhook.Options{Channels: svc.channels.service, Limiter: lim.limiter, Limits: lim.table, MaxBody: cfg.MaxBodyAPI,
		OnRefused: svc.channels.metrics.refused, OnAccepted: svc.channels.metrics.accepted, OnRateLimited: svc.rateLimited.RefusedBot, Logger: logger}
	if svc.billing != nil {
		a.Billing, wo.Billing = svc.billing, svc.billing
	}
	// The document upload route alone may be larger than the API's limit.
	mounts["/api/"] = httpx.LimitBodyRoutes(cfg.MaxBodyAPI, api.UploadBodyLimits(documentMaxBytes(cfg)))(a.Handler())
	// The OpenAI-compatible endpoint caps bodies itself, to refuse them in
	// OpenAI's error shape.
	mounts["/v1/"] = a.OpenAIHandler(cfg.MaxBodyAPI)
	hooks, err := webhook.New(wo)
	if err != nil {
		return err
	}
	mounts["/hooks/"] = httpx.LimitBody(cfg.MaxBodyAPI)(hooks.Handler())
	wg, err := widget.New(widget.Options{Service: svc.widget, Limiter: lim.limiter, Limits: lim.table, OnRateLimited: svc.rateLimited.Refused,
		Proxies: proxies, Logger: logger})
	if err != nil {
		return err
	}
	mounts["/widget.js"] = httpx.LimitBody(cfg.MaxBodyAPI)(wg.Handler())
	mounts["/widget/"] = httpx.LimitBody(cfg.MaxBodyAPI)(wg.Handler())
	ui, err := admin.New(admin.Options{Account: svc.accounts, Bots: svc.bots, Audit: audit.NewHistory(s), Channels: svc.channels.service, Chats: svc.conversations,
		Activity: &conversation.Dashboard{Store: s},
		Export:   svc.exports, Limiter: lim.limiter, Limits: lim.table, OnRateLimited: svc.rateLimited.Refused, Proxies: proxies, Logger: logger})
	if err != nil {
		return err
	}
	mounts["/"] = httpx.LimitBodyRoutes(cfg.MaxBodyUI, admin.UploadBodyLimits(documentMaxBytes(cfg)))(ui.Handler())
	return nil
}

// newAccounts builds the account service, for the UI and for the worker
// that sends the account e-mails it queues: the web role queues them, a
// worker (role worker or all) sends them, so the UI never waits on SMTP.
// Without SMTP settings mail goes to the console (embedded mode); sign-up
// stays closed unless --allow-signup opens it.
func newAccounts(cfg config.Config, env *Env, logger *slog.Logger, s store.Store, lim limits, rec *audit.Logger, master seal.MasterKey,
	users store.UserSealer, tokens *auth.TokenKey, hub *invalidate.Hub) (*account.Service, error) {
	var mailer mail.Sender = mail.LogSender{Logger: logger, Out: env.Stdout}
	if cfg.SMTPHost != "" {
		mailer = &mail.SMTP{Addr: cfg.SMTPAddr(), From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
		logger.Info("account e-mails go through SMTP", "smtp_addr", cfg.SMTPAddr(), "smtp_tls", cfg.SMTPTLS)
	}
	// Known-device tokens are stored as HMACs under a key every process
	// derives alike, so a device stays known across restarts and replicas.
	deviceKey, err := master.Derive("known device tokens v1")
	if err != nil {
		return nil, err
	}
	return account.New(account.Options{Store: s, Hasher: auth.NewHasher(), Tokens: tokens, Mailer: mailer,
		Limiter: lim.limiter, Limits: lim.table, Audit: rec, DeviceKey: secret.New(string(deviceKey)),
		Jobs: s.Jobs(), MailSealer: users,
		DeleteWorkspace: func(ctx context.Context, scope palisade.Scope, e audit.Entry) error {
			return rec.DeleteWorkspace(ctx, s, scope, e)
		},
		Logger: logger, Now: env.Now, BaseURL: cfg.BaseURL(), AllowSignup: cfg.AllowSignup, Invalidation: hub})
}

// newRunner builds the job runner on the store's own database, with the
// options of jobOptions.
func newRunner(s store.Store, o job.RunnerOptions, d job.Deps) (*job.Runner, error) {
	switch st := s.(type) {
	case *sqlite.Store:
		var users []job.ClientUser[*sql.Tx]
		if ins, ok := st.Jobs().(*sqlstore.RiverInserter[*sql.Tx]); ok {
			users = append(users, ins)
		}
		return job.NewRunner(riversqlite.New(st.DB()), d, o, users...)
	case *postgres.Store:
		var users []job.ClientUser[pgx.Tx]
		if ins, ok := st.Jobs().(*sqlstore.RiverInserter[pgx.Tx]); ok {
			users = append(users, ins)
		}
		return job.NewRunner(riverpgxv5.New(st.Pool()), d, o, users...)
	}
	return nil, fmt.Errorf("no job runner for a %s store", s.Dialect())
}
