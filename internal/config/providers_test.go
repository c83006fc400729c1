package config

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSeveralProviders: each provider kind takes its key from a flag, the
// environment, a _FILE twin or the configuration file, and its base URL
// likewise; every model is routed to the provider the catalogue names, a
// model of the catalogue goes nowhere else, and the dump redacts each key.
func TestSeveralProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gemini.key")
	os.WriteFile(keyFile, []byte("AIza-gemini-key-from-file\n"), 0o600)
	cfgFile := filepath.Join(dir, "palisade.yaml")
	os.WriteFile(cfgFile, []byte("anthropic_api_key: sk-ant-from-file-0000\nanthropic_base_url: https://anthropic.proxy.example/\n"), 0o600)
	c, err := load(t, []string{"--config", cfgFile, "--openai-api-key", "sk-openai-flag-0000",
		"--llm-models", "gpt-4o-mini,claude-sonnet-4-0,gemini-2.5-flash,house-model=openai"},
		map[string]string{"PALISADE_GEMINI_API_KEY_FILE": keyFile})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range c.ConfiguredProviders() {
		kinds = append(kinds, p.Kind)
	}
	if !slices.Equal(kinds, []string{"openai", "anthropic", "gemini"}) {
		t.Fatalf("configured providers = %v", kinds)
	}
	byKind := map[string]ProviderSettings{}
	for _, p := range c.ConfiguredProviders() {
		byKind[p.Kind] = p
	}
	if byKind["openai"].APIKey.Reveal() != "sk-openai-flag-0000" || byKind["anthropic"].APIKey.Reveal() != "sk-ant-from-file-0000" ||
		byKind["anthropic"].BaseURL != "https://anthropic.proxy.example/" || byKind["gemini"].APIKey.Reveal() != "AIza-gemini-key-from-file" {
		t.Fatalf("provider settings = %+v", byKind)
	}
	routes, err := c.ModelRoutes()
	want := map[string]string{"gpt-4o-mini": "openai", "claude-sonnet-4-0": "anthropic", "gemini-2.5-flash": "gemini", "house-model": "openai"}
	if err != nil || !maps.Equal(routes, want) {
		t.Fatalf("routes = %v, %v; want %v", routes, err, want)
	}
	if got := c.ModelNames(); !slices.Equal(got, []string{"gpt-4o-mini", "claude-sonnet-4-0", "gemini-2.5-flash", "house-model"}) {
		t.Fatalf("model names = %v", got)
	}
	dump := strings.Join(c.Dump(GroupServe), "\n")
	for _, secret := range []string{"sk-openai-flag", "sk-ant-from-file", "AIza-gemini"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("the dump shows a key:\n%s", dump)
		}
	}
	for _, line := range []string{"openai-api-key=[REDACTED]", "anthropic-api-key=[REDACTED]", "gemini-api-key=[REDACTED]", "groq-api-key=",
		"anthropic-base-url=https://anthropic.proxy.example/"} {
		if !slices.Contains(strings.Split(dump, "\n"), line) {
			t.Fatalf("the dump lacks %q:\n%s", line, dump)
		}
	}
	if !slices.Contains(SecretFlags(), "groq-api-key") {
		t.Fatal("the provider keys are not hidden from the process arguments")
	}

	// Without --llm-models each provider serves its default model.
	c, err = load(t, []string{"--openai-api-key", "sk-openai-0000", "--groq-api-key", "gsk_groq-0000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if routes, err := c.ModelRoutes(); err != nil || !maps.Equal(routes, map[string]string{"gpt-4o-mini": "openai", "llama-3.1-8b-instant": "groq"}) {
		t.Fatalf("default routes = %v, %v", routes, err)
	}
}

// TestProviderShorthand: --llm-provider with --llm-api-key and
// --llm-base-url still configures one provider, serving every model of
// --llm-models as before, and combines with the settings of other kinds.
func TestProviderShorthand(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--llm-provider", "openai", "--llm-api-key", "gsk_shorthand-0000", "--llm-base-url", "https://api.groq.com/openai/v1",
		"--llm-models", "llama-3.3-70b-versatile,local-model"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := c.ConfiguredProviders()
	if len(ps) != 1 || ps[0].Kind != "openai" || ps[0].APIKey.Reveal() != "gsk_shorthand-0000" || ps[0].BaseURL != "https://api.groq.com/openai/v1" ||
		ps[0].KeyFlag != "--llm-api-key" || ps[0].BaseURLFlag != "--llm-base-url" {
		t.Fatalf("shorthand = %+v", ps)
	}
	if routes, err := c.ModelRoutes(); err != nil || !maps.Equal(routes, map[string]string{"llama-3.3-70b-versatile": "openai", "local-model": "openai"}) {
		t.Fatalf("shorthand routes = %v, %v", routes, err)
	}
	c, err = load(t, []string{"--llm-provider", "anthropic", "--llm-api-key", "sk-ant-0000", "--gemini-api-key", "AIza-0000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if routes, err := c.ModelRoutes(); err != nil || !maps.Equal(routes, map[string]string{"claude-3-5-haiku-latest": "anthropic", "gemini-2.0-flash": "gemini"}) {
		t.Fatalf("shorthand beside another provider: %v, %v", routes, err)
	}
}

// TestProviderSettingsRefused: every provider setting that cannot work is
// refused at load, all at once, each message naming the flag to fix.
func TestProviderSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"shorthand without a key", []string{"--llm-provider", "openai"}, nil,
			[]string{"--llm-provider openai has no API key: set --llm-api-key (or PALISADE_LLM_API_KEY_FILE"}},
		{"base URL without a key", []string{"--anthropic-base-url", "https://proxy.example"}, nil,
			[]string{"the anthropic provider has no API key: set --anthropic-api-key (or PALISADE_ANTHROPIC_API_KEY_FILE"}},
		{"unknown provider", []string{"--llm-provider", "mistral", "--llm-api-key", "k"}, nil, []string{"--llm-provider must be openai, anthropic, gemini, groq"}},
		{"key given twice", []string{"--llm-provider", "gemini", "--llm-api-key", "a-key", "--gemini-api-key", "b-key"}, nil,
			[]string{"--llm-api-key and --gemini-api-key both set the gemini key"}},
		{"key without the shorthand", []string{"--llm-api-key", "a-key"}, nil, []string{"--llm-api-key and --llm-base-url go with --llm-provider"}},
		{"bad base URL", []string{"--openai-api-key", "k-0000", "--openai-base-url", "ftp://x.example"}, nil,
			[]string{"--openai-base-url must be an http(s) URL"}},
		{"model of an unconfigured provider", []string{"--openai-api-key", "k-0000", "--gemini-api-key", "g-0000", "--llm-models", "gpt-4o,claude-sonnet-4-0"}, nil,
			[]string{"claude-sonnet-4-0 is a model of the anthropic provider, which is not configured: set --anthropic-api-key"}},
		{"catalogue model on another official endpoint", []string{"--openai-api-key", "k-0000", "--llm-models", "gemini-2.0-flash"}, nil,
			[]string{"gemini-2.0-flash is a model of the gemini provider, which is not configured: set --gemini-api-key"}},
		{"unknown model among several", []string{"--openai-api-key", "k-0000", "--gemini-api-key", "g-0000", "--llm-models", "house-model"}, nil,
			[]string{"the catalogue does not know house-model: name its provider, as house-model=<"}},
		{"model for an unconfigured kind", []string{"--openai-api-key", "k-0000", "--llm-models", "house-model=groq"}, nil,
			[]string{`"house-model=groq" names the groq provider, which is not configured: set --groq-api-key`}},
		{"models without a provider", []string{"--llm-models", "gpt-4o"}, nil, []string{"--llm-models names models, but no LLM provider is configured"}},
		{"several at once", []string{"--llm-provider", "openai", "--groq-base-url", "https://groq.proxy.example"}, nil,
			[]string{"--llm-provider openai has no API key", "the groq provider has no API key: set --groq-api-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tc.args, tc.env)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	// A process calling a separate gateway holds no provider key: the
	// missing key is the gateway's concern.
	if _, err := load(t, []string{"--llm-provider", "openai", "--gateway-url", "http://gw.internal:8080",
		"--gateway-signing-key", strings.Repeat("k", 32)}, nil); err != nil {
		t.Fatalf("a caller of a separate gateway without a provider key: %v", err)
	}
}
