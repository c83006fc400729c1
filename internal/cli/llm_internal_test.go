package cli

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestModelListsOfferConfiguredProvidersOnly: the operator's allowlist,
// which the bot form and the settings page list, is exactly the models of
// the configured providers; with none it is the retrieval-only entry; a
// process calling a separate gateway lists what --llm-models names, or
// the catalogue with a warning naming that flag.
func TestModelListsOfferConfiguredProvidersOnly(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, tc := range []struct {
		name string
		args []string
		want []string
		warn string
	}{
		{"none", nil, []string{llm.RetrievalOnly}, ""},
		{"two providers", []string{"--openai-api-key", "sk-0000", "--gemini-api-key", "AIza-0000"}, []string{"gemini-2.0-flash", "gpt-4o-mini"}, ""},
		{"two providers, named models", []string{"--openai-api-key", "sk-0000", "--anthropic-api-key", "sk-ant-0000",
			"--llm-models", "gpt-4.1,claude-sonnet-4-0,house=anthropic"}, []string{"claude-sonnet-4-0", "gpt-4.1", "house"}, ""},
		{"separate gateway, named models", []string{"--gateway-url", "http://gw.internal:8081", "--gateway-signing-key", strings.Repeat("k", 32),
			"--llm-models", "gpt-4o,claude-sonnet-4-0"}, []string{"gpt-4o", "claude-sonnet-4-0"}, ""},
		{"separate gateway, no models", []string{"--gateway-url", "http://gw.internal:8081", "--gateway-signing-key", strings.Repeat("k", 32)},
			llm.CatalogueModels(), "--gateway-url without --llm-models"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			l := config.NewLoader(fs, config.GroupStore|config.GroupServe)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := l.Load(func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			out, err := egress.New(egress.DefaultPolicy(), egress.Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			llms, err := newProviders(cfg, out, egress.DefaultPolicy(), logger)
			if err != nil {
				t.Fatal(err)
			}
			gw := gateway.New(gateway.Options{Store: s, Providers: llms.providers, Kinds: llms.kinds, OwnProviders: llms.own})
			svc, err := buildServices(cfg, &Env{}, logger, s, gw, out, nil, nil, nil, nil, noWorkers, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := svc.bots.OperatorModels(); !slices.Equal(got, tc.want) {
				t.Fatalf("the lists offer %v, want %v", got, tc.want)
			}
			if tc.warn != "" && !strings.Contains(logs.String(), tc.warn) {
				t.Fatalf("no warning %q in:\n%s", tc.warn, logs.String())
			}
			if tc.warn == "" && strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("an unexpected warning:\n%s", logs.String())
			}
		})
	}
}

// noWorkers keeps bot work in the test's process.
func noWorkers(gateway.Service) (*sandbox.Pool, error) { return nil, nil }
