package cli

import (
	"bytes"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/config"
)

// subcommandHelp is the --help invocation of every command and
// subcommand that has flags of its own.
var subcommandHelp = map[string][][]string{
	"serve":       {{"serve", "--help"}},
	"migrate":     {{"migrate", "--help"}},
	"version":     {{"version", "--help"}},
	"workspace":   {{"workspace", "create", "--help"}, {"workspace", "list", "--help"}, {"workspace", "suspend", "--help"}, {"workspace", "resume", "--help"}, {"workspace", "export", "--help"}, {"workspace", "delete", "--help"}},
	"apikey":      {{"apikey", "create", "--help"}, {"apikey", "list", "--help"}},
	"user":        {{"user", "reset-password", "--help"}, {"user", "reset-mfa", "--help"}},
	"audit":       {{"audit", "verify", "--help"}},
	"keys":        {{"keys", "rotate", "--help"}, {"keys", "reencrypt", "--help"}, {"keys", "status", "--help"}},
	"probe":       {{"probe", "--help"}},
	"healthcheck": {{"healthcheck", "--help"}},
	"backup":      {{"backup", "--help"}},
	"restore":     {{"restore", "--help"}},
	"prune":       {{"prune", "--help"}},
	"worker":      {{"worker", "--help"}},
}

// helpOf runs args (a --help invocation) and returns the flag sets the
// command made and everything it printed.
func helpOf(t *testing.T, args []string) ([]*flag.FlagSet, string) {
	t.Helper()
	var sets []*flag.FlagSet
	var out, errOut bytes.Buffer
	env := &Env{Getenv: func(string) string { return "" }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		flagSets: func(fs *flag.FlagSet) { sets = append(sets, fs) }}
	if err := RunEnv(t.Context(), args, env); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if len(sets) == 0 {
		t.Fatalf("%v made no flag set", args)
	}
	return sets, out.String() + errOut.String()
}

// valueName is what a backticked word in a usage string is for: the name
// of the flag's value in the help text, written as a placeholder.
var valueName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

func TestUsageStringsHaveNoStrayBackticks(t *testing.T) {
	t.Parallel()
	for name := range commands() {
		invocations, ok := subcommandHelp[name]
		if !ok {
			t.Errorf("command %q is not walked: add its --help invocations to subcommandHelp", name)
			continue
		}
		for _, args := range invocations {
			sets, _ := helpOf(t, args)
			for _, fs := range sets {
				fs.VisitAll(func(f *flag.Flag) {
					if !strings.Contains(f.Usage, "`") {
						return
					}
					if v, _ := flag.UnquoteUsage(f); !valueName.MatchString(v) {
						t.Errorf("%v: flag -%s shows its value as %q: backticks in a usage string name the value; quote with '…' instead", args, f.Name, v)
					}
				})
			}
		}
	}
}

func TestSubcommandsShowOnlyTheirFlags(t *testing.T) {
	t.Parallel()
	foreign := append(config.FlagNames(config.GroupServe), config.FlagNames(config.GroupMigrate)...)
	if !slices.Contains(foreign, "unsafe-allow-privileged-db-role") || !slices.Contains(foreign, "app-role") {
		t.Fatalf("serve-only and migrate-only flags: %v", foreign)
	}
	// The commands that print a link to the server take --public-url.
	linkFlags := config.FlagNames(config.GroupLink)
	if !slices.Equal(linkFlags, []string{"public-url"}) {
		t.Fatalf("link flags: %v", linkFlags)
	}
	printsLink := func(args []string) bool {
		return slices.Equal(args[:2], []string{"workspace", "create"}) || slices.Equal(args[:2], []string{"user", "reset-password"})
	}
	var walked [][]string
	for _, name := range []string{"apikey", "audit", "workspace", "keys", "user"} {
		walked = append(walked, subcommandHelp[name]...)
	}
	for _, args := range walked {
		sets, out := helpOf(t, args)
		for _, fs := range sets {
			fs.VisitAll(func(f *flag.Flag) {
				if slices.Contains(foreign, f.Name) && !(printsLink(args) && slices.Contains(linkFlags, f.Name)) {
					t.Errorf("%v offers -%s, a flag only serve or migrate uses", args, f.Name)
				}
			})
			if printsLink(args) && fs.Lookup("public-url") == nil {
				t.Errorf("%v prints a link but offers no -public-url", args)
			}
		}
		// Every command that opens the database shares its one transport
		// switch; any other UNSAFE switch belongs to serve alone.
		rest := strings.NewReplacer("UNSAFE: connect to a PostgreSQL server", "", "PALISADE_UNSAFE_DATABASE_WITHOUT_VERIFIED_TLS", "").Replace(out)
		if strings.Contains(rest, "UNSAFE") || strings.Contains(out, "-app-role") || strings.Contains(out, "-tls-cert") {
			t.Errorf("%v help lists a serve-only or migrate-only flag:\n%s", args, out)
		}
		if !strings.Contains(out, "-data-dir") {
			t.Errorf("%v help lacks the store flags:\n%s", args, out)
		}
	}
	_, serve := helpOf(t, []string{"serve", "--help"})
	_, migrate := helpOf(t, []string{"migrate", "--help"})
	if !strings.Contains(serve, "-unsafe-allow-privileged-db-role") || !strings.Contains(migrate, "-app-role") {
		t.Errorf("serve or migrate lost its own flags")
	}
}
