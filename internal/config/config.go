// Package config builds the typed Config from, in rising precedence,
// defaults, an optional YAML file, PALISADE_* environment variables (with
// *_FILE twins for secrets) and command-line flags, and validates it with
// clear messages.
//
// It is the only place that reads the environment (through the getenv
// function it is handed). It must never print a secret: secrets are
// secret.Secret values and Dump redacts them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/validate"
)

// Role is which parts of Palisade a process runs (--role).
type Role string

const (
	// RoleAll runs everything in one process: the default.
	RoleAll Role = "all"
	// RoleWeb serves the UI, the API and webhooks; the account e-mails it
	// queues are sent by a worker.
	RoleWeb Role = "web"
	// RoleWorker works the durable jobs, account e-mails among them.
	RoleWorker Role = "worker"
	// RoleGateway is the LLM gateway alone, the one process holding
	// provider keys.
	RoleGateway Role = "gateway"
)

// DefaultTelegramAPIURL is the official Telegram Bot API server.
const DefaultTelegramAPIURL = "https://api.telegram.org"

// DefaultWhatsAppAPIURL is the official Graph API with the version the
// WhatsApp adapter speaks.
const DefaultWhatsAppAPIURL = "https://graph.facebook.com/v26.0"

// DefaultSlackAPIURL is the official Slack Web API.
const DefaultSlackAPIURL = "https://slack.com/api"

// DefaultDiscordAPIURL is Discord's REST API, pinned to v10.
const DefaultDiscordAPIURL = "https://discord.com/api/v10"

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	return r == RoleAll || r == RoleWeb || r == RoleWorker || r == RoleGateway
}

// ServesWeb reports whether the role serves the UI, the API and webhooks.
func (r Role) ServesWeb() bool { return r == RoleAll || r == RoleWeb }

// RunsJobs reports whether the role works the durable jobs.
func (r Role) RunsJobs() bool { return r == RoleAll || r == RoleWorker }

// ServesGateway reports whether the role serves the gateway to other
// processes.
func (r Role) ServesGateway() bool { return r == RoleGateway }

// Config is the whole configuration of a Palisade process.
type Config struct {
	// Storage
	DataDir                     string
	DatabaseURL                 secret.Secret // empty: SQLite in DataDir; postgres://…: PostgreSQL
	RedisURL                    secret.Secret // empty: in-memory rate limits
	UnsafeAllowPrivilegedDBRole bool
	AppRole                     string        // runtime role `migrate` creates (PostgreSQL)
	AppRolePassword             secret.Secret // optional password `migrate` sets on it
	AuditCheckpointFile         string        // signed audit chain heads; empty: in DataDir

	// Scheduled backups (embedded SQLite only): off while BackupEvery is
	// zero.
	BackupEvery     time.Duration
	BackupKeep      int
	BackupRecipient string // age public key (age1…)
	BackupDir       string // empty: <DataDir>/backups

	// Serving
	Addr      string
	AdminAddr string
	PublicURL string
	Role      Role
	// Sandbox is how bot workers are confined: auto, require or off.
	Sandbox        string
	TrustedProxies []netip.Prefix
	TLSCert        string
	TLSKey         string
	ACMEDomain     string
	HTTPRedirect   string // plain-HTTP listener that only redirects, when TLS is on

	// Secrets
	MasterKey        secret.Secret
	MasterPassphrase secret.Secret

	// Policies
	RateLimitsFile            string
	EgressPolicyFile          string
	UnsafeEgressAllowLoopback bool

	// LLM providers and the gateway. LLMProvider with LLMBaseURL and
	// LLMAPIKey is the one-provider shorthand; LLMProviders holds each
	// kind's own settings (--openai-api-key, --anthropic-base-url, ...), so
	// several providers serve at once. ConfiguredProviders merges the two.
	LLMProvider  string // "", or one of llm.Kinds
	LLMBaseURL   string
	LLMAPIKey    secret.Secret
	LLMProviders map[string]ProviderSettings // by kind; see ConfiguredProviders
	// LLMModels is the model allowlist as given: each entry a model name,
	// or name=kind for a model the catalogue does not know (ModelRoutes).
	LLMModels         []string
	GatewayURL        string // a separate gateway role to call; empty: in-process
	GatewayKeyID      string
	GatewaySigningKey secret.Secret

	// Chat channels: each platform's API base URL (the egress policy must
	// allow it).
	TelegramAPIURL string
	WhatsAppAPIURL string
	SlackAPIURL    string
	// DiscordAPIURL is Discord's REST API; DiscordGatewayURL, when set,
	// replaces the Gateway URL GET /gateway/bot names (a test fake).
	DiscordAPIURL     string
	DiscordGatewayURL string

	// Billing (Polar): without a plans file, billing is off and no
	// workspace has limits.
	BillingPlansFile   string
	PolarWebhookSecret secret.Secret
	PolarCheckoutURL   string

	// Accounts and mail: without SMTPHost, account e-mails go to the log.
	AllowSignup  bool
	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword secret.Secret
	SMTPFrom     string
	SMTPTLS      string // starttls or tls (implicit TLS)

	// Logging
	LogLevel  string
	LogFormat string

	// Body limits per surface (R4): bigger bodies get 413 before they are read.
	MaxBodyAPI int64
	MaxBodyUI  int64
	// DocumentMaxBytes is the largest document file accepted (uploaded or
	// fetched from a URL): the one body allowed past MaxBodyAPI.
	DocumentMaxBytes int64

	// Jobs
	ShutdownTimeout time.Duration
	// JobTimeout bounds one attempt of a job; a job left running by a
	// process that died is retried a margin after it (job.RecoveryBound).
	JobTimeout time.Duration

	// Transport security to the database and Redis: anything but a
	// loopback address or a Unix socket needs verified TLS unless these
	// say otherwise.
	UnsafeDatabaseWithoutVerifiedTLS bool
	UnsafeRedisWithoutTLS            bool

	// SecurityContacts are the Contact lines of /.well-known/security.txt
	// (mailto:, https: or tel: URIs); none: the file is not served.
	SecurityContacts []string
}

// Group selects which settings a subcommand accepts.
type Group int

const (
	GroupStore   Group = 1 << iota // data dir, database, master key
	GroupServe                     // listeners, TLS, Redis, policies
	GroupMigrate                   // the PostgreSQL runtime role migrate creates
	// GroupLink is what a command that prints a link to the server needs:
	// --public-url. Without it, such a command reads the listener and TLS
	// settings serve would read (addrSettings) from the same file and
	// environment, so its links match serve's (Config.BaseURL).
	GroupLink
)

// addrSettings are the settings Config.BaseURL falls back on without a
// public URL.
var addrSettings = map[string]bool{"addr": true, "tls-cert": true, "acme-domain": true}

type setting struct {
	name   string // flag name; env is PALISADE_ + upper snake; file key is snake
	group  Group
	usage  string
	def    string
	secret bool
	isBool bool // the flag may be given bare (--flag means true)
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

// flagValue holds a setting's flag as text until Load; a boolean one may
// be given without a value, like the standard library's bool flags.
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

func (s setting) env() string {
	return "PALISADE_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func (s setting) fileKey() string { return strings.ReplaceAll(s.name, "-", "_") }

func str(p func(*Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = v; return nil }, func(c *Config) string { return *p(c) }
}

func sec(p func(*Config) *secret.Secret) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = secret.New(v); return nil },
		func(c *Config) string {
			if p(c).IsZero() {
				return ""
			}
			return secret.Redacted
		}
}

func boolean(p func(*Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("must be true or false")
			}
			*p(c) = b
			return nil
		}, func(c *Config) string {
			return strconv.FormatBool(*p(c))
		}
}

func settings() []setting {
	var out []setting
	add := func(name string, g Group, def, usage string, isSecret bool, set func(*Config, string) error, get func(*Config) string) {
		// Every boolean setting defaults to "false" and only those do.
		out = append(out, setting{name: name, group: g, def: def, usage: usage, secret: isSecret, isBool: def == "false", set: set, get: get})
	}
	s, g := str(func(c *Config) *string { return &c.DataDir })
	add("data-dir", GroupStore, "./palisade-data", "directory for the SQLite database, master key and backups", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.DatabaseURL })
	add("database-url", GroupStore, "", "PostgreSQL URL (postgres://…); empty uses SQLite in the data directory", true, s, g)
	s, g = boolean(func(c *Config) *bool { return &c.UnsafeAllowPrivilegedDBRole })
	add("unsafe-allow-privileged-db-role", GroupServe, "false", "UNSAFE: serve as a PostgreSQL role that bypasses Row Level Security", false, s, g)
	s, g = str(func(c *Config) *string { return &c.AppRole })
	add("app-role", GroupMigrate, "palisade_app", "PostgreSQL runtime role that 'palisade migrate' creates and grants", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.AppRolePassword })
	add("app-role-password", GroupMigrate, "", "password 'palisade migrate' sets on the runtime role (optional)", true, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.MasterKey })
	add("master-key", GroupStore, "", "master key, base64 of 32 bytes (else the passphrase, else <data-dir>/master.key)", true, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.MasterPassphrase })
	add("master-passphrase", GroupStore, "", "passphrase the master key is derived from (PBKDF2-SHA256)", true, s, g)
	s, g = str(func(c *Config) *string { return &c.AuditCheckpointFile })
	add("audit-checkpoint-file", GroupStore, "", "file the signed heads of the audit chains are kept in, outside the database (default <data-dir>/audit-checkpoints.json)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.LogLevel })
	add("log-level", GroupStore, "info", "debug, info, warn or error", false, s, g)
	s, g = str(func(c *Config) *string { return &c.LogFormat })
	add("log-format", GroupStore, "json", "json or text", false, s, g)

	s, g = str(func(c *Config) *string { return &c.Addr })
	add("addr", GroupServe, "127.0.0.1:8080", "public listener address (UI, API, webhooks)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.AdminAddr })
	add("admin-addr", GroupServe, "127.0.0.1:9090", "admin listener for /metrics and /debug/pprof (empty disables it)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.PublicURL })
	add("public-url", GroupServe|GroupLink, "", "external base URL used in links (default derived from --addr)", false, s, g)
	s, g = func(c *Config, v string) error { c.Role = Role(v); return nil }, func(c *Config) string { return string(c.Role) }
	add("role", GroupServe, "all", "which parts to run: all, web, worker or gateway", false, s, g)
	s, g = str(func(c *Config) *string { return &c.Sandbox })
	add("sandbox", GroupServe, "auto", "confinement of the bot workers (a process per bot that parses documents and runs the bot's turn): "+
		"auto confines them where the kernel allows and otherwise runs them unconfined with a warning; require refuses to start without confinement; off runs bot work in the server process, for debugging only", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.RedisURL })
	add("redis-url", GroupServe, "", "Redis URL for shared rate limits; empty keeps them in memory", true, s, g)
	add("trusted-proxies", GroupServe, "", "comma-separated CIDRs whose X-Forwarded-For is believed", false,
		func(c *Config, v string) error {
			c.TrustedProxies = nil
			for _, part := range strings.Split(v, ",") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				p, err := netip.ParsePrefix(part)
				if err != nil {
					a, err2 := netip.ParseAddr(part)
					if err2 != nil {
						return fmt.Errorf("%q is not a CIDR or address", part)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		},
		func(c *Config) string {
			var parts []string
			for _, p := range c.TrustedProxies {
				parts = append(parts, p.String())
			}
			return strings.Join(parts, ",")
		})
	s, g = str(func(c *Config) *string { return &c.TLSCert })
	add("tls-cert", GroupServe, "", "TLS certificate file (PEM)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.TLSKey })
	add("tls-key", GroupServe, "", "TLS private key file (PEM)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.ACMEDomain })
	add("acme-domain", GroupServe, "", "domain to obtain a certificate for with ACME", false, s, g)
	s, g = str(func(c *Config) *string { return &c.HTTPRedirect })
	add("http-redirect-addr", GroupServe, "", "plain-HTTP listener that only redirects to HTTPS (with TLS)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.RateLimitsFile })
	add("rate-limits", GroupServe, "", "YAML file overriding the default rate limits per route class", false, s, g)
	s, g = str(func(c *Config) *string { return &c.EgressPolicyFile })
	add("egress-policy", GroupServe, "", "YAML egress policy file (default: the embedded policy)", false, s, g)
	s, g = boolean(func(c *Config) *bool { return &c.UnsafeEgressAllowLoopback })
	add("unsafe-egress-allow-loopback", GroupServe, "false", "UNSAFE, for tests: let outbound requests reach loopback addresses named in the egress policy", false, s, g)
	s, g = str(func(c *Config) *string { return &c.LLMProvider })
	add("llm-provider", GroupServe, "", "one LLM provider, the shorthand for a single one: openai (or any OpenAI-compatible API with --llm-base-url), anthropic, gemini or groq, with --llm-api-key and --llm-base-url; "+
		"several providers at once are configured with --openai-api-key, --anthropic-api-key, --gemini-api-key and --groq-api-key instead; with no provider at all bots answer in retrieval-only mode", false, s, g)
	s, g = str(func(c *Config) *string { return &c.LLMBaseURL })
	add("llm-base-url", GroupServe, "", "API base URL of the --llm-provider (e.g. https://api.groq.com/openai/v1); default: the provider's official one; the egress policy must allow it", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.LLMAPIKey })
	add("llm-api-key", GroupServe, "", "API key of the --llm-provider (required with it), held only by the gateway", true, s, g)
	add("llm-models", GroupServe, "", "comma-separated model allowlist; each model goes to the configured provider that serves it in the catalogue, "+
		"or to the one named as model=provider (e.g. my-model=openai for a model the catalogue does not know); "+
		"with a single provider every model goes to it, except another provider's model while it uses its official endpoint; default: the small default model of each configured provider", false,
		func(c *Config, v string) error {
			c.LLMModels = nil
			for _, m := range strings.Split(v, ",") {
				if m = strings.TrimSpace(m); m != "" {
					c.LLMModels = append(c.LLMModels, m)
				}
			}
			return nil
		},
		func(c *Config) string { return strings.Join(c.LLMModels, ",") })
	for _, kind := range llm.Kinds() {
		out = append(out, providerSettings(kind)...)
	}
	s, g = str(func(c *Config) *string { return &c.GatewayURL })
	add("gateway-url", GroupServe, "", "URL of a separate gateway role (serve --role=gateway); empty runs the gateway in-process", false, s, g)
	s, g = str(func(c *Config) *string { return &c.GatewayKeyID })
	add("gateway-key-id", GroupServe, "k1", "id of the key that signs calls to a separate gateway", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.GatewaySigningKey })
	add("gateway-signing-key", GroupServe, "", "shared key (32+ bytes) signing calls between processes and the gateway role", true, s, g)
	s, g = str(func(c *Config) *string { return &c.TelegramAPIURL })
	add("telegram-api-url", GroupServe, DefaultTelegramAPIURL, "Telegram Bot API server (a self-hosted one, or a test fake); the egress policy must allow it", false, s, g)
	s, g = str(func(c *Config) *string { return &c.WhatsAppAPIURL })
	add("whatsapp-api-url", GroupServe, DefaultWhatsAppAPIURL, "Meta Graph API base with its version, for WhatsApp (or a test fake); the egress policy must allow it", false, s, g)
	s, g = str(func(c *Config) *string { return &c.SlackAPIURL })
	add("slack-api-url", GroupServe, DefaultSlackAPIURL, "Slack Web API base URL (a proxy, or a test fake); the egress policy must allow it", false, s, g)
	s, g = str(func(c *Config) *string { return &c.DiscordAPIURL })
	add("discord-api-url", GroupServe, DefaultDiscordAPIURL, "Discord REST API base (a test fake); the egress policy must allow it", false, s, g)
	s, g = str(func(c *Config) *string { return &c.DiscordGatewayURL })
	add("discord-gateway-url", GroupServe, "", "Discord Gateway WebSocket URL; empty: the one GET /gateway/bot names (set it only for a test fake)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.BillingPlansFile })
	add("billing-plans-file", GroupServe, "", "YAML or JSON file mapping Polar product ids to plans and their limits; empty: billing off, no limits", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.PolarWebhookSecret })
	add("polar-webhook-secret", GroupServe, "", "secret of the Polar webhook endpoint (whsec_…), required with --billing-plans-file", true, s, g)
	s, g = str(func(c *Config) *string { return &c.PolarCheckoutURL })
	add("polar-checkout-url", GroupServe, "", "Polar checkout link the workspaces subscribe through (https://…); its workspace id is added as metadata", false, s, g)
	s, g = boolean(func(c *Config) *bool { return &c.AllowSignup })
	add("allow-signup", GroupServe, "false", "open self-service sign-up (each new account gets its own workspace)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.SMTPHost })
	add("smtp-host", GroupServe, "", "SMTP server for account e-mails; empty: e-mails are written to the server log", false, s, g)
	add("smtp-port", GroupServe, "587", "SMTP server port (465 with --smtp-tls=tls)", false,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return errors.New("must be a port between 1 and 65535")
			}
			c.SMTPPort = n
			return nil
		},
		func(c *Config) string { return strconv.Itoa(c.SMTPPort) })
	s, g = str(func(c *Config) *string { return &c.SMTPUsername })
	add("smtp-username", GroupServe, "", "SMTP user name (empty: no authentication)", false, s, g)
	s, g = sec(func(c *Config) *secret.Secret { return &c.SMTPPassword })
	add("smtp-password", GroupServe, "", "SMTP password", true, s, g)
	s, g = str(func(c *Config) *string { return &c.SMTPFrom })
	add("smtp-from", GroupServe, "", "sender address of account e-mails (required with --smtp-host)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.SMTPTLS })
	add("smtp-tls", GroupServe, "starttls", "starttls (upgrade a plain connection, usually port 587) or tls (implicit TLS, port 465)", false, s, g)
	for _, b := range []struct {
		name, usage string
		p           func(*Config) *int64
	}{
		{"max-body-api", "largest request body of the API and the gateway, in bytes", func(c *Config) *int64 { return &c.MaxBodyAPI }},
		{"max-body-ui", "largest request body of the admin UI, in bytes", func(c *Config) *int64 { return &c.MaxBodyUI }},
	} {
		add(b.name, GroupServe, "1048576", b.usage, false,
			func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 || n > 64<<20 {
					return errors.New("must be a number of bytes from 1024 to 67108864")
				}
				*b.p(c) = n
				return nil
			},
			func(c *Config) string { return strconv.FormatInt(*b.p(c), 10) })
	}
	add("document-max-bytes", GroupServe, "10485760", "largest knowledge document file (PDF, DOCX, HTML, Markdown, text) uploaded or fetched, in bytes", false,
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 || n > 256<<20 {
				return errors.New("must be a number of bytes from 1024 to 268435456")
			}
			c.DocumentMaxBytes = n
			return nil
		},
		func(c *Config) string { return strconv.FormatInt(c.DocumentMaxBytes, 10) })
	add("shutdown-timeout", GroupServe, "10s", "how long in-flight requests and jobs get to finish on shutdown", false,
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 10s")
			}
			c.ShutdownTimeout = d
			return nil
		},
		func(c *Config) string { return c.ShutdownTimeout.String() })
	add("backup-every", GroupServe, "0s", "write a backup this often while serving (embedded SQLite only; 0s: never), e.g. 24h", false,
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || (d > 0 && d < time.Minute) {
				return errors.New("must be 0s (off) or a duration of at least 1m, such as 24h")
			}
			c.BackupEvery = d
			return nil
		},
		func(c *Config) string { return c.BackupEvery.String() })
	add("backup-keep", GroupServe, "7", "how many scheduled backups to keep; older ones are removed", false,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return errors.New("must be a number from 1 to 10000")
			}
			c.BackupKeep = n
			return nil
		},
		func(c *Config) string { return strconv.Itoa(c.BackupKeep) })
	s, g = str(func(c *Config) *string { return &c.BackupRecipient })
	add("backup-recipient", GroupServe, "", "age public key (age1…) scheduled backups are encrypted for (required with --backup-every)", false, s, g)
	s, g = str(func(c *Config) *string { return &c.BackupDir })
	add("backup-dir", GroupServe, "", "directory scheduled backups are written to (default <data-dir>/backups)", false, s, g)
	add("job-timeout", GroupServe, "5m", "longest one attempt of a job (answering a message) may run; a job left running by a process that died is retried shortly after it", false,
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > 24*time.Hour {
				return errors.New("must be a duration from 1s to 24h, such as 5m")
			}
			c.JobTimeout = d
			return nil
		},
		func(c *Config) string { return c.JobTimeout.String() })
	s, g = boolean(func(c *Config) *bool { return &c.UnsafeDatabaseWithoutVerifiedTLS })
	add("unsafe-database-without-verified-tls", GroupStore, "false", "UNSAFE: connect to a PostgreSQL server that is not on loopback or a Unix socket without sslmode=verify-full", false, s, g)
	s, g = boolean(func(c *Config) *bool { return &c.UnsafeRedisWithoutTLS })
	add("unsafe-redis-without-tls", GroupServe, "false", "UNSAFE: connect to a Redis server that is not on loopback or a Unix socket without verified TLS (rediss://)", false, s, g)
	add("security-contact", GroupServe, "", "comma-separated mailto:, https: or tel: URIs published as the Contact lines of /.well-known/security.txt (RFC 9116); empty: the file is not served", false,
		func(c *Config, v string) error {
			c.SecurityContacts = nil
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					c.SecurityContacts = append(c.SecurityContacts, part)
				}
			}
			return nil
		},
		func(c *Config) string { return strings.Join(c.SecurityContacts, ",") })
	return out
}

// ProviderSettings is one LLM provider's settings.
type ProviderSettings struct {
	Kind    string        // one of llm.Kinds
	APIKey  secret.Secret // held only by the gateway
	BaseURL string        // empty: the provider's official endpoint
	// KeyFlag and BaseURLFlag name the flags that set them, for messages
	// telling the operator what to fix.
	KeyFlag, BaseURLFlag string
}

// kindLabels names each provider kind in prose.
var kindLabels = map[string]string{llm.KindOpenAI: "OpenAI", llm.KindAnthropic: "Anthropic", llm.KindGemini: "Gemini", llm.KindGroq: "Groq"}

// officialBaseURLs are the endpoints a provider is called at without a
// base URL, as the usage strings name them.
var officialBaseURLs = map[string]string{
	llm.KindOpenAI: "https://api.openai.com/v1", llm.KindAnthropic: "https://api.anthropic.com",
	llm.KindGemini: "https://generativelanguage.googleapis.com/v1beta", llm.KindGroq: "https://api.groq.com/openai/v1",
}

// OfficialBaseURL is the endpoint of a provider kind when no base URL is
// configured.
func OfficialBaseURL(kind string) string { return officialBaseURLs[kind] }

// providerSettings are the --<kind>-api-key and --<kind>-base-url settings
// of one provider kind.
func providerSettings(kind string) []setting {
	label := kindLabels[kind]
	entry := func(c *Config) ProviderSettings {
		p := c.LLMProviders[kind]
		p.Kind, p.KeyFlag, p.BaseURLFlag = kind, "--"+kind+"-api-key", "--"+kind+"-base-url"
		return p
	}
	put := func(c *Config, p ProviderSettings) {
		if c.LLMProviders == nil {
			c.LLMProviders = map[string]ProviderSettings{}
		}
		c.LLMProviders[kind] = p
	}
	return []setting{
		{name: kind + "-api-key", group: GroupServe, secret: true,
			usage: fmt.Sprintf("%s API key: configures the %s provider, beside any other, for its models of the catalogue (%s); held only by the gateway",
				label, label, strings.Join(llm.CatalogueModels(kind), ", ")),
			set: func(c *Config, v string) error {
				p := entry(c)
				p.APIKey = secret.New(v)
				put(c, p)
				return nil
			},
			get: func(c *Config) string {
				if entry(c).APIKey.IsZero() {
					return ""
				}
				return secret.Redacted
			}},
		{name: kind + "-base-url", group: GroupServe,
			usage: fmt.Sprintf("%s API base URL (a proxy, a compatible server or a test fake; needs --%s-api-key); default %s; the egress policy must allow it",
				label, kind, officialBaseURLs[kind]),
			set: func(c *Config, v string) error {
				p := entry(c)
				p.BaseURL = v
				put(c, p)
				return nil
			},
			get: func(c *Config) string { return entry(c).BaseURL }},
	}
}

// ConfiguredProviders lists the configured LLM providers in llm.Kinds
// order: each kind with a key or base URL of its own, and the kind
// --llm-provider names, with --llm-api-key and --llm-base-url. A provider
// may lack its key here; validate refuses that for a process that calls
// providers.
func (c Config) ConfiguredProviders() []ProviderSettings {
	var out []ProviderSettings
	for _, kind := range llm.Kinds() {
		p, ok := c.LLMProviders[kind]
		p.Kind, p.KeyFlag, p.BaseURLFlag = kind, "--"+kind+"-api-key", "--"+kind+"-base-url"
		if kind == c.LLMProvider {
			if p.APIKey.IsZero() && !c.LLMAPIKey.IsZero() {
				p.APIKey, p.KeyFlag = c.LLMAPIKey, "--llm-api-key"
			}
			if p.BaseURL == "" && c.LLMBaseURL != "" {
				p.BaseURL, p.BaseURLFlag = c.LLMBaseURL, "--llm-base-url"
			}
			if p.APIKey.IsZero() {
				// The shorthand names the shorthand's flag to fix.
				p.KeyFlag = "--llm-api-key"
			}
			ok = true
		}
		if ok && (kind == c.LLMProvider || !p.APIKey.IsZero() || p.BaseURL != "") {
			out = append(out, p)
		}
	}
	return out
}

// ModelNames is the model allowlist as named by --llm-models, without the
// providers some entries name.
func (c Config) ModelNames() []string {
	var out []string
	for _, m := range c.LLMModels {
		name, _, _ := strings.Cut(m, "=")
		out = append(out, name)
	}
	return out
}

// ModelRoutes maps each allowed model to the kind of the configured
// provider serving it: the one an entry of --llm-models names
// (model=kind), else the only configured provider, else the one the
// catalogue names. Without --llm-models, every configured provider serves
// its default model. A model no configured provider serves is an error
// naming the flag to set. With no provider it returns nothing.
func (c Config) ModelRoutes() (map[string]string, error) {
	providers := c.ConfiguredProviders()
	if len(providers) == 0 {
		return nil, nil
	}
	configured := map[string]ProviderSettings{}
	for _, p := range providers {
		configured[p.Kind] = p
	}
	routes := map[string]string{}
	if len(c.LLMModels) == 0 {
		for _, p := range providers {
			for _, m := range llm.DefaultModels(p.Kind) {
				routes[m] = p.Kind
			}
		}
		return routes, nil
	}
	var errs []error
	for _, entry := range c.LLMModels {
		name, kind, named := strings.Cut(entry, "=")
		name, kind = strings.TrimSpace(name), strings.TrimSpace(kind)
		catalogued, known := llm.KindOf(name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("--llm-models: %q names no model", entry))
			continue
		case named:
			if _, ok := kindLabels[kind]; !ok {
				errs = append(errs, fmt.Errorf("--llm-models: %q names provider %q; it must be one of %s", entry, kind, strings.Join(llm.Kinds(), ", ")))
				continue
			}
			if _, ok := configured[kind]; !ok {
				errs = append(errs, fmt.Errorf("--llm-models: %q names the %s provider, which is not configured: set --%s-api-key", entry, kind, kind))
				continue
			}
		case len(providers) == 1:
			// The one provider serves every model, as the one-provider
			// shorthand always did, unless it is the official endpoint of
			// another provider than the model's.
			kind = providers[0].Kind
			if known && catalogued != kind && providers[0].BaseURL == "" {
				errs = append(errs, fmt.Errorf("--llm-models: %s is a model of the %s provider, which is not configured: set --%s-api-key (or write %s=%s if the %s endpoint serves it)",
					name, catalogued, catalogued, name, kind, kind))
				continue
			}
		case !known:
			errs = append(errs, fmt.Errorf("--llm-models: the catalogue does not know %s: name its provider, as %s=<%s>", name, name, strings.Join(llm.Kinds(), "|")))
			continue
		default:
			kind = catalogued
			if _, ok := configured[kind]; !ok {
				errs = append(errs, fmt.Errorf("--llm-models: %s is a model of the %s provider, which is not configured: set --%s-api-key or drop the model", name, kind, kind))
				continue
			}
		}
		if prev, dup := routes[name]; dup && prev != kind {
			errs = append(errs, fmt.Errorf("--llm-models: %s is named for two providers, %s and %s", name, prev, kind))
			continue
		}
		routes[name] = kind
	}
	return routes, errors.Join(errs...)
}

// CallsProviders reports whether this process calls LLM providers itself,
// and so needs their keys: every role but one that calls a separate
// gateway.
func (c Config) CallsProviders() bool { return c.GatewayURL == "" }

// validateLLM checks the provider settings: the shorthand's provider is
// known and not given twice, every base URL is an http(s) URL, and, for a
// process that calls providers, every configured provider has its key and
// every allowed model a provider.
func (c *Config) validateLLM() []error {
	var errs []error
	if c.LLMProvider != "" {
		if _, ok := kindLabels[c.LLMProvider]; !ok {
			errs = append(errs, fmt.Errorf("--llm-provider must be %s (or empty)", strings.Join(llm.Kinds(), ", ")))
		}
		own := c.LLMProviders[c.LLMProvider]
		if !c.LLMAPIKey.IsZero() && !own.APIKey.IsZero() {
			errs = append(errs, fmt.Errorf("--llm-api-key and --%s-api-key both set the %s key: give one", c.LLMProvider, c.LLMProvider))
		}
		if c.LLMBaseURL != "" && own.BaseURL != "" {
			errs = append(errs, fmt.Errorf("--llm-base-url and --%s-base-url both set the %s base URL: give one", c.LLMProvider, c.LLMProvider))
		}
	} else if !c.LLMAPIKey.IsZero() || c.LLMBaseURL != "" {
		errs = append(errs, errors.New("--llm-api-key and --llm-base-url go with --llm-provider (or use --<provider>-api-key and --<provider>-base-url)"))
	}
	checkURL := func(flag, v string) {
		if v == "" {
			return
		}
		p, err := url.Parse(v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || p.RawQuery != "" || p.ForceQuery || p.Fragment != "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL without credentials, query or fragment", flag))
		}
	}
	checkURL("--llm-base-url", c.LLMBaseURL)
	for _, kind := range llm.Kinds() {
		checkURL("--"+kind+"-base-url", c.LLMProviders[kind].BaseURL)
	}
	if len(errs) > 0 || !c.CallsProviders() {
		return errs
	}
	providers := c.ConfiguredProviders()
	for _, p := range providers {
		if p.APIKey.IsZero() {
			what := "the " + p.Kind + " provider"
			if p.Kind == c.LLMProvider {
				what = "--llm-provider " + p.Kind
			}
			env := "PALISADE_" + strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(p.KeyFlag, "--"), "-", "_")) + "_FILE"
			errs = append(errs, fmt.Errorf("%s has no API key: set %s (or %s; any non-empty value for a server that needs none)", what, p.KeyFlag, env))
		}
	}
	if len(providers) == 0 && len(c.LLMModels) > 0 {
		errs = append(errs, errors.New("--llm-models names models, but no LLM provider is configured to serve them: set --llm-provider with --llm-api-key, or --<provider>-api-key"))
	}
	if _, err := c.ModelRoutes(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Loader registers the settings of its groups on a FlagSet and, after the
// flags are parsed, builds the Config.
type Loader struct {
	groups   Group
	fs       *flag.FlagSet
	flagVals map[string]*string
	file     *string
}

// NewLoader registers the flags of groups (plus --config) on fs.
func NewLoader(fs *flag.FlagSet, groups Group) *Loader {
	l := &Loader{groups: groups, fs: fs, flagVals: map[string]*string{}}
	l.file = fs.String("config", "", "optional YAML configuration file (env PALISADE_CONFIG)")
	for _, s := range settings() {
		if s.group&groups == 0 {
			continue
		}
		usage := s.usage + " (env " + s.env()
		if s.secret {
			usage += ", or " + s.env() + "_FILE"
		}
		usage += ")"
		fv := &flagValue{v: s.def, isBool: s.isBool}
		fs.Var(fv, s.name, usage)
		l.flagVals[s.name] = &fv.v
	}
	return l
}

// Load builds the configuration: defaults < file < environment < flags.
func (l *Loader) Load(getenv func(string) string) (Config, error) {
	var c Config
	explicit := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	var file map[string]any
	path := *l.file
	if path == "" {
		path = getenv("PALISADE_CONFIG")
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("reading config file: %w", err)
		}
		if err := yaml.Unmarshal(raw, &file); err != nil {
			return c, fmt.Errorf("config file %s is not valid YAML: %w", path, err)
		}
	}
	// One configuration file serves every command, so a key of another
	// command's setting is known, and ignored here.
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.fileKey()] = true
	}
	var errs []error
	for _, s := range settings() {
		// A link-printing command reads serve's address settings from the
		// file and the environment only: it has no flags for them.
		addrOnly := s.group&l.groups == 0 && l.groups&GroupLink != 0 && l.groups&GroupServe == 0 && addrSettings[s.name]
		if s.group&l.groups == 0 && !addrOnly {
			continue
		}
		v, from := s.def, "default"
		if fv, ok := file[s.fileKey()]; ok {
			v, from = fmt.Sprint(fv), "config file key "+s.fileKey()
		}
		if ev := getenv(s.env()); ev != "" {
			v, from = ev, s.env()
		}
		if s.secret {
			if fp := getenv(s.env() + "_FILE"); fp != "" {
				b, err := os.ReadFile(fp)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: cannot read %s", s.env(), fp))
					continue
				}
				v, from = strings.TrimRight(string(b), "\r\n"), s.env()+"_FILE"
			}
		}
		if explicit[s.name] && !addrOnly {
			v, from = *l.flagVals[s.name], "--"+s.name
		}
		if err := s.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	}
	for k := range file {
		if !known[k] {
			errs = append(errs, fmt.Errorf("config file: unknown setting %q", k))
		}
	}
	// Every invalid setting is reported at once: the values that did not
	// parse and the ones that parsed but do not fit.
	if err := c.validate(l.groups); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// FlagNames lists the flag names of the settings in groups.
func FlagNames(groups Group) []string {
	var out []string
	for _, s := range settings() {
		if s.group&groups != 0 {
			out = append(out, s.name)
		}
	}
	return out
}

func (c *Config) validate(groups Group) error {
	var errs []error
	if groups&GroupStore != 0 {
		if c.DataDir == "" {
			errs = append(errs, errors.New("--data-dir must not be empty"))
		}
		if u := c.DatabaseURL.Reveal(); u != "" {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
				errs = append(errs, errors.New("--database-url must be a postgres:// URL (or empty for SQLite)"))
			}
		}
		switch c.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			errs = append(errs, errors.New("--log-level must be debug, info, warn or error"))
		}
		if c.LogFormat != "json" && c.LogFormat != "text" {
			errs = append(errs, errors.New("--log-format must be json or text"))
		}
		if err := checkDatabaseTransport(c.DatabaseURL.Reveal(), c.UnsafeDatabaseWithoutVerifiedTLS); err != nil {
			errs = append(errs, err)
		}
	}
	if groups&GroupServe != 0 {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("--addr %q must be host:port", c.Addr))
		}
		if c.AdminAddr != "" {
			if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
				errs = append(errs, fmt.Errorf("--admin-addr %q must be host:port", c.AdminAddr))
			}
		}
		if !c.Role.Valid() {
			errs = append(errs, errors.New("--role must be all, web, worker or gateway"))
		}
		switch c.Sandbox {
		case "auto", "require", "off":
		default:
			errs = append(errs, errors.New("--sandbox must be auto, require or off"))
		}
		if c.BackupEvery > 0 {
			if !strings.HasPrefix(c.BackupRecipient, "age1") {
				errs = append(errs, errors.New("--backup-every needs --backup-recipient, an age public key (age1…)"))
			}
			if !c.DatabaseURL.IsZero() {
				errs = append(errs, errors.New("--backup-every covers the embedded SQLite store; back up PostgreSQL with pg_dump"))
			}
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
		}
		if c.TLSCert != "" && c.ACMEDomain != "" {
			errs = append(errs, errors.New("use either --tls-cert/--tls-key or --acme-domain, not both"))
		}
		if c.HTTPRedirect != "" && !c.TLS() {
			errs = append(errs, errors.New("--http-redirect-addr needs TLS (--tls-cert or --acme-domain)"))
		}
		if u := c.RedisURL.Reveal(); u != "" {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "redis" && p.Scheme != "rediss" && p.Scheme != "unix") {
				errs = append(errs, errors.New("--redis-url must be a redis://, rediss:// or unix:// URL"))
			} else if err := checkRedisTransport(p, c.UnsafeRedisWithoutTLS); err != nil {
				errs = append(errs, err)
			}
		}
		for _, contact := range c.SecurityContacts {
			if err := checkSecurityContact(contact); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, c.validateLLM()...)
		if p, err := url.Parse(c.TelegramAPIURL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil ||
			p.RawQuery != "" || p.Fragment != "" {
			errs = append(errs, errors.New("--telegram-api-url must be an http(s) URL without credentials, query or fragment"))
		}
		if p, err := url.Parse(c.WhatsAppAPIURL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil ||
			p.RawQuery != "" || p.Fragment != "" {
			errs = append(errs, errors.New("--whatsapp-api-url must be an http(s) URL without credentials, query or fragment"))
		}
		if p, err := url.Parse(c.SlackAPIURL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil ||
			p.RawQuery != "" || p.Fragment != "" {
			errs = append(errs, errors.New("--slack-api-url must be an http(s) URL without credentials, query or fragment"))
		}
		if p, err := url.Parse(c.DiscordAPIURL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil ||
			p.RawQuery != "" || p.Fragment != "" {
			errs = append(errs, errors.New("--discord-api-url must be an http(s) URL without credentials, query or fragment"))
		}
		if c.DiscordGatewayURL != "" {
			if p, err := url.Parse(c.DiscordGatewayURL); err != nil || (p.Scheme != "wss" && p.Scheme != "ws") || p.Host == "" || p.User != nil || p.Fragment != "" {
				errs = append(errs, errors.New("--discord-gateway-url must be a ws(s) URL without credentials or fragment"))
			}
		}
		if (c.Role == RoleGateway || c.GatewayURL != "") && len(c.GatewaySigningKey.Reveal()) < 32 {
			errs = append(errs, errors.New("a separate gateway needs --gateway-signing-key of at least 32 bytes, the same on every process"))
		}
		if c.Role == RoleGateway && c.GatewayURL != "" {
			errs = append(errs, errors.New("--gateway-url is for the processes calling the gateway, not the gateway itself"))
		}
		errs = append(errs, c.validateSMTP()...)
		if c.BillingPlansFile != "" && c.PolarWebhookSecret.IsZero() {
			errs = append(errs, errors.New("--billing-plans-file needs --polar-webhook-secret (or PALISADE_POLAR_WEBHOOK_SECRET_FILE)"))
		}
		if c.PolarCheckoutURL != "" {
			p, err := url.Parse(c.PolarCheckoutURL)
			if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || p.Fragment != "" {
				errs = append(errs, errors.New("--polar-checkout-url must be an https URL without credentials or fragment"))
			}
		}
	}
	if groups&(GroupServe|GroupLink) != 0 && c.PublicURL != "" {
		p, err := url.Parse(c.PublicURL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			errs = append(errs, errors.New("--public-url must be an http(s) URL without credentials"))
		}
	}
	return errors.Join(errs...)
}

// validateSMTP checks the mail settings. The TLS mode and the port must
// agree because mail.SMTP speaks implicit TLS exactly on port 465 and
// STARTTLS elsewhere: a mismatch would either fail every send or not be
// what the operator asked for.
func (c *Config) validateSMTP() []error {
	var errs []error
	if c.SMTPTLS != "starttls" && c.SMTPTLS != "tls" {
		errs = append(errs, errors.New("--smtp-tls must be starttls or tls"))
	}
	if c.SMTPHost == "" {
		if c.SMTPUsername != "" || !c.SMTPPassword.IsZero() || c.SMTPFrom != "" {
			errs = append(errs, errors.New("--smtp-username, --smtp-password and --smtp-from need --smtp-host"))
		}
		return errs
	}
	if !smtpHostChars(c.SMTPHost) || strings.Count(c.SMTPHost, ":") == 1 {
		errs = append(errs, errors.New("--smtp-host must be a host name or IP address without a port (the port is --smtp-port)"))
	} else if _, _, err := net.SplitHostPort(c.SMTPAddr()); err != nil {
		errs = append(errs, errors.New("--smtp-host and --smtp-port do not make a host:port"))
	}
	switch {
	case c.SMTPTLS == "tls" && c.SMTPPort != 465:
		errs = append(errs, errors.New("--smtp-tls=tls (implicit TLS) is spoken on --smtp-port 465 only"))
	case c.SMTPTLS == "starttls" && c.SMTPPort == 465:
		errs = append(errs, errors.New("--smtp-port 465 is implicit TLS: use --smtp-tls=tls"))
	}
	if c.SMTPFrom == "" {
		errs = append(errs, errors.New("--smtp-from is required with --smtp-host"))
	} else if err := validate.Email("--smtp-from", c.SMTPFrom); err != nil {
		errs = append(errs, err)
	}
	if c.SMTPUsername != "" && c.SMTPPassword.IsZero() {
		errs = append(errs, errors.New("--smtp-username needs --smtp-password (or PALISADE_SMTP_PASSWORD_FILE)"))
	}
	return errs
}

// smtpHostChars accepts the characters of a host name or an IPv4/IPv6
// address, nothing that could smuggle a port, a user or a second line.
func smtpHostChars(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '.' || b == '-' || b == ':') {
			return false
		}
	}
	return true
}

// SMTPAddr is the SMTP server's host:port, or "" without SMTP.
func (c Config) SMTPAddr() string {
	if c.SMTPHost == "" {
		return ""
	}
	return net.JoinHostPort(c.SMTPHost, strconv.Itoa(c.SMTPPort))
}

// TLS reports whether the public listener serves TLS.
func (c Config) TLS() bool { return c.TLSCert != "" || c.ACMEDomain != "" }

// Postgres reports whether the store is PostgreSQL.
func (c Config) Postgres() bool { return !c.DatabaseURL.IsZero() }

// BaseURL is the external base URL for links.
func (c Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	host := c.Addr
	if h, p, err := net.SplitHostPort(c.Addr); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("localhost", p)
	}
	if c.ACMEDomain != "" {
		host = c.ACMEDomain
	}
	return scheme + "://" + host
}

// Dump lists every setting of the groups as name=value, secrets redacted,
// for `--print-config`-style diagnostics and start-up logs.
func (c Config) Dump(groups Group) []string {
	var out []string
	for _, s := range settings() {
		if s.group&groups != 0 {
			out = append(out, s.name+"="+s.get(&c))
		}
	}
	sort.Strings(out)
	return out
}

// SecretFlags lists the names of the flags that carry secrets, so the
// command can hide their values from the process's visible arguments.
func SecretFlags() []string {
	var out []string
	for _, s := range settings() {
		if s.secret {
			out = append(out, s.name)
		}
	}
	return out
}
