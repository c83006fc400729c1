// Package cli is the palisade command: one file per subcommand, each with
// its own flag set and --help, and the only place where components are
// wired together. Run takes the arguments, the environment lookup and the
// standard streams, so tests drive it exactly as a shell would.
//
// It must never print a secret except the one-time values a command exists
// to hand over (a new API key, a set-up link), and only to stdout.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/procargs"
	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// Env is what a command gets from the process.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Now    func() time.Time
	// Ready, when set, is called by serve with the bound addresses once it
	// is serving (tests use it instead of parsing output).
	Ready func(public, admin string)
	// Redactor removes secrets from everything the command writes: its
	// built-in patterns, and every secret the configuration names once it
	// is loaded. Nil means a new one.
	Redactor *redact.Redactor

	// flagSets, when set, is given every flag set a command makes (tests
	// inspect the flags each command offers).
	flagSets func(*flag.FlagSet)
	// sandboxStart, when set, starts bot worker processes in place of
	// exec.Cmd.Start (tests simulate a kernel without namespaces).
	sandboxStart startWorker
}

type command struct {
	summary string
	run     commandFunc
}

// hiddenCommand: a command for the program itself (serve starts a worker
// per bot), left out of the usage.
func hiddenCommand(name string) bool { return name == "worker" }

// commandFunc runs a command or subcommand with the arguments after its
// name.
type commandFunc func(ctx context.Context, env *Env, args []string) error

// runSubcommand runs the subcommand that args[0] names from table: the
// one dispatch of every command made of subcommands (workspace, apikey,
// user, keys). No subcommand or an unknown one prints usage and is a usage
// error; help prints usage.
func runSubcommand(ctx context.Context, env *Env, name, usage string, args []string, table map[string]commandFunc) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, usage)
		return ErrUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(env.Stdout, usage)
		return nil
	}
	if run, ok := table[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "palisade %s: unknown subcommand %q\n\n%s\n", name, args[0], usage)
	return ErrUsage
}

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run Palisade: admin UI, API, webhooks and workers", runServe},
		"migrate":     {"apply database migrations (and on PostgreSQL create the runtime role)", runMigrate},
		"version":     {"print the version, commit and build date (also --version)", runVersion},
		"workspace":   {"manage workspaces (create, list, suspend, resume, export, delete)", runWorkspace},
		"apikey":      {"manage API keys (create, list)", runAPIKey},
		"user":        {"help a locked-out user (reset-password, reset-mfa)", runUser},
		"audit":       {"check the audit log (verify)", runAudit},
		"keys":        {"manage encryption keys (rotate, reencrypt, status)", runKeys},
		"probe":       {"run the security self-test against a deployment's URL", runProbe},
		"healthcheck": {"ask a server's /healthz and exit 0 if it is healthy (for container health checks)", runHealthcheck},
		"backup":      {"write an encrypted, consistent backup of the data and, beside it, of the data keys", runBackup},
		"restore":     {"verify a backup whole, then replace the data and data keys with it", runRestore},
		"prune":       {"delete expired records and messages past their retention now", runPrune},
		"worker":      {"run one bot's work, confined (started by serve; not for running by hand)", runWorker},
	}
}

// ErrUsage marks a command-line mistake (exit status 2).
var ErrUsage = errors.New("usage error")

// Run runs the palisade command with args (without the program name).
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return RunEnv(ctx, args, &Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr, Now: time.Now})
}

// Main is the whole program behind cmd/palisade: it hides secret flag
// values from the process's visible command line, runs the command and
// reports its error, redacted, returning the exit status (2 for a usage
// mistake).
func Main(ctx context.Context, osArgs []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	args, _ := procargs.Hide(osArgs, append(config.SecretFlags(), probeSecretFlags()...))
	env := &Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr, Now: time.Now, Redactor: redact.New(redact.Options{})}
	redirectLibraryLogs(env)
	return report(RunEnv(ctx, args[1:], env), env)
}

// redirectLibraryLogs sends what go-redis prints, through its one
// process-wide logger, to standard error as JSON log records through the
// process's redactor, instead of writing raw lines there: a library's
// message may quote an address, a command or a credential.
func redirectLibraryLogs(env *Env) {
	logger := slog.New(env.Redactor.Handler(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{ReplaceAttr: readableDurations}))).With("source", "go-redis")
	redis.SetLogger(redisLogger{logger})
}

// redisLogger adapts a *slog.Logger to go-redis's Logging interface.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// report writes a command's final error through the process's redactor and
// returns the exit status: a secret in an error (a database URL with its
// password in a driver's message) never reaches the terminal.
func report(err error, env *Env) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		if msg := err.Error(); msg != ErrUsage.Error() {
			fmt.Fprintln(env.Stderr, "palisade:", env.Redactor.String(msg))
		}
		return 2
	}
	fmt.Fprintln(env.Stderr, "palisade:", env.Redactor.String(err.Error()))
	return 1
}

// RunEnv is Run with a full Env.
func RunEnv(ctx context.Context, args []string, env *Env) error {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Redactor == nil {
		env.Redactor = redact.New(redact.Options{})
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(ctx, env, args[1:])
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "palisade: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return ErrUsage
	}
	return c.run(ctx, env, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Palisade runs AI chatbots for many workspaces, with security as the product.")
	fmt.Fprintln(w, "\nUsage: palisade <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		if !hiddenCommand(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'palisade <command> --help' for a command's flags.")
}

// newFlags makes a command's flag set. Its usage goes to stderr, and only
// when --help asks for it: a mistake gets a short message instead.
func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("palisade "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: palisade %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	if env.flagSets != nil {
		env.flagSets(fs)
	}
	return fs
}

// parse parses flags; --help is success, other mistakes ErrUsage.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	help, errs := parseAll(fs, args)
	if help {
		return true, nil
	}
	return false, usageError(fs, errs)
}

// parseAll parses flags, going on past a bad one so that every mistake is
// reported at once. The flag package would print each one, and the whole
// usage after it; the caller reports them instead, briefly.
func parseAll(fs *flag.FlagSet, args []string) (help bool, errs []error) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			usage()
			return true, nil
		}
		if err == nil {
			break
		}
		errs = append(errs, err)
		args = fs.Args()
	}
	if fs.NArg() > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return false, errs
}

// usageError makes one short message of every mistake, pointing at --help.
func usageError(fs *flag.FlagSet, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, e := range errs {
		for _, line := range strings.Split(e.Error(), "\n") {
			b.WriteString("\n  " + line)
		}
	}
	return fmt.Errorf("%w:%s\nRun '%s --help' for the flags", ErrUsage, b.String(), fs.Name())
}

// newLogger builds the process logger: every line goes through the
// redacting handler, and carries the request id when there is one.
func newLogger(cfg config.Config, w io.Writer, r *redact.Redactor) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}
	var h slog.Handler
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpx.LogHandler(r.Handler(h)))
}

// readableDurations writes a time.Duration as Go's duration text ("1.5s")
// rather than the JSON handler's raw nanoseconds, which nobody reads right
// at a glance; the text handler already does the same.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// registerSecrets teaches the process's redactor the configured secrets by
// value, on top of its patterns.
// A URL's password is registered on its own too: drivers quote the parts
// of a URL in their errors.
func registerSecrets(r *redact.Redactor, cfg config.Config) {
	r.Register(cfg.SecretValues()...)
	for _, raw := range []string{cfg.DatabaseURL.Reveal(), cfg.RedisURL.Reveal()} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				r.Register(pw)
			}
		}
	}
}

// prepareDataDir creates the data directory with mode 0700, and refuses one
// that others can read.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data directory %s is accessible to other users (mode %o); run: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// openStore opens the configured store for the runtime. On PostgreSQL it
// tags every transaction's scope with the key derived from master, which
// the policies verify.
func openStore(ctx context.Context, cfg config.Config, master seal.MasterKey, opts store.Options) (store.Store, error) {
	if cfg.Postgres() {
		key, err := postgres.DeriveScopeKey(master)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		return postgres.Open(ctx, cfg.DatabaseURL.Reveal(), opts, postgres.OpenOptions{ScopeKey: key, UnsafeAllowPrivilegedRole: cfg.UnsafeAllowPrivilegedDBRole})
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "palisade.db"), opts)
}

// loadConfig registers and parses the flags of groups. Flags that do not
// parse and settings that do not validate are reported together.
func loadConfig(env *Env, fs *flag.FlagSet, groups config.Group, args []string, extra func()) (config.Config, bool, error) {
	l := config.NewLoader(fs, groups)
	if extra != nil {
		extra()
	}
	help, errs := parseAll(fs, args)
	if help {
		return config.Config{}, true, nil
	}
	cfg, err := l.Load(env.Getenv)
	registerSecrets(env.Redactor, cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return cfg, false, usageError(fs, errs)
	}
	return cfg, false, nil
}
