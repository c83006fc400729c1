package cli_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// TestSeveralProvidersEndToEnd, through the whole app: two providers are
// configured at once, each with its own key flag and base URL; a bot on a
// model of each is answered by its own provider with its own key; a model
// of a provider that is not configured cannot be chosen; a bot created
// without a model gets one a configured provider serves; neither key
// leaks.
func TestSeveralProvidersEndToEnd(t *testing.T) {
	t.Parallel()
	const oaKey, anKey = "sk-canary-openai-Lk3Jh5Gf7Ds9Aq2We4Rt6Yu8", "sk-ant-canary-Po1Iu3Yt5Re7Wq9As2Df4Gh6"
	oa := llmtest.NewOpenAI(t, llmtest.Options{APIKey: oaKey, Text: "OpenAI answers."})
	an := llmtest.NewAnthropic(t, llmtest.Options{APIKey: anKey, Text: "Anthropic answers."})
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data"), "PALISADE_ANTHROPIC_API_KEY": anKey}
	cap := &e2eCapture{}
	_, key := e2eSetup(t, env, cap)
	r := serve(t, env, "--openai-api-key", oaKey, "--openai-base-url", oa.URL, "--anthropic-base-url", an.URL,
		"--llm-models", "gpt-4o-mini,claude-3-5-haiku-latest",
		"--egress-policy", egressPolicyForAll(t, oa.URL, an.URL), "--unsafe-egress-allow-loopback=true")
	c := &e2eClient{t: t, base: r.public, key: key, cap: cap}

	for _, tc := range []struct {
		model, reply string
		fake         *llmtest.Server
		key          string
	}{
		{"gpt-4o-mini", "OpenAI answers.", oa, oaKey},
		{"claude-3-5-haiku-latest", "Anthropic answers.", an, anKey},
	} {
		bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Bot " + tc.model, "model": tc.model}, http.StatusCreated)
		id, _ := bot["id"].(string)
		out := c.json(http.MethodPost, "/api/v1/bots/"+id+"/chat", map[string]any{"user_id": "alice", "message": "Hello?"}, http.StatusOK)
		if out["reply"] != tc.reply || out["mode"] != conversation.ModeGenerated {
			t.Fatalf("bot on %s answered %v", tc.model, out)
		}
		reqs := tc.fake.Requests()
		if len(reqs) != 1 || reqs[0].Key != tc.key || reqs[0].Model != tc.model {
			t.Fatalf("the %s provider received %d requests (%+v)", tc.model, len(reqs), reqs)
		}
	}
	// Only the configured providers' models may be chosen (bot creations
	// are rate limited: five a minute, so two tries here).
	for _, m := range []string{"gemini-2.0-flash", llm.RetrievalOnly} {
		code, raw := c.do(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Other", "model": m})
		if code != http.StatusUnprocessableEntity && code != http.StatusBadRequest {
			t.Errorf("a bot on %s: %d %s, want refused", m, code, raw)
		}
	}
	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Default"}, http.StatusCreated)
	if m := bot["model"]; m != "claude-3-5-haiku-latest" && m != "gpt-4o-mini" {
		t.Errorf("a bot without a model got %v", m)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	log := r.stderr.String()
	cap.add("serve stderr (the log)", []byte(log))
	if !strings.Contains(log, `"llm_providers":"openai,anthropic"`) {
		t.Errorf("the start-up line does not name both providers:\n%s", log)
	}
	checkNoCanary(t, cap, oaKey)
	checkNoCanary(t, cap, anKey)
}

// TestNoProviderOffersRetrievalOnly: with no provider configured, the one
// model a bot can have names the retrieval-only mode, a bot on a provider's
// model cannot be created, and the start-up log says how to configure one.
func TestNoProviderOffersRetrievalOnly(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
	cap := &e2eCapture{}
	_, key := e2eSetup(t, env, cap)
	r := serve(t, env)
	c := &e2eClient{t: t, base: r.public, key: key, cap: cap}
	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Plain"}, http.StatusCreated)
	if bot["model"] != llm.RetrievalOnly {
		t.Fatalf("a bot without a provider got model %v", bot["model"])
	}
	id, _ := bot["id"].(string)
	out := c.json(http.MethodPost, "/api/v1/bots/"+id+"/chat", map[string]any{"user_id": "alice", "message": "Hello?"}, http.StatusOK)
	if out["mode"] != conversation.ModeRetrievalOnly {
		t.Fatalf("chat = %v", out)
	}
	if code, raw := c.do(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Other", "model": "gpt-4o-mini"}); code < 400 || code >= 500 {
		t.Fatalf("a bot on a model nothing serves: %d %s", code, raw)
	}
	r.stop()
	if log := r.stderr.String(); !strings.Contains(log, "retrieval-only mode") || !strings.Contains(log, "--openai-api-key") {
		t.Fatalf("the log does not say how to configure a provider:\n%s", log)
	}
}

// TestServeRefusesUnusableProviders: serve refuses to start, with one
// message naming the flag to fix, when a configured provider has no key
// or the egress policy refuses its endpoint; nothing listens meanwhile.
func TestServeRefusesUnusableProviders(t *testing.T) {
	t.Parallel()
	const apiKey = "sk-canary-refused-Ty5Ui7Op9As1Df3Gh5Jk7Lz"
	allowed := llmtest.NewOpenAI(t, llmtest.Options{APIKey: apiKey})
	outside := llmtest.NewOpenAI(t, llmtest.Options{APIKey: apiKey})
	policy := egressPolicyFor(t, allowed.URL)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"shorthand without a key", []string{"--llm-provider", "openai"},
			[]string{"--llm-provider openai has no API key: set --llm-api-key"}},
		{"provider base URL without a key", []string{"--gemini-base-url", allowed.URL},
			[]string{"the gemini provider has no API key: set --gemini-api-key"}},
		{"shorthand base URL outside the policy", []string{"--llm-provider", "openai", "--llm-api-key", apiKey, "--llm-base-url", outside.URL,
			"--egress-policy", policy, "--unsafe-egress-allow-loopback=true"},
			[]string{"the egress policy refuses the openai provider's requests for gpt-4o-mini (POST " + outside.URL + "/chat/completions: port)",
				"point --llm-base-url at an endpoint the policy allows"}},
		{"official endpoint outside the policy", []string{"--anthropic-api-key", apiKey, "--openai-api-key", apiKey, "--openai-base-url", allowed.URL,
			"--egress-policy", policy, "--unsafe-egress-allow-loopback=true"},
			[]string{"the egress policy refuses the anthropic provider's requests for claude-3-5-haiku-latest (POST https://api.anthropic.com/v1/messages: no_rule)",
				"add a rule for it, or set --anthropic-base-url"}},
		{"gemini model path outside the policy", []string{"--gemini-api-key", apiKey, "--egress-policy", policy},
			[]string{"POST https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent: no_rule", "--gemini-base-url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
			_, errOut, err := run(t, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", ""}, tc.args...)...)
			if !errors.Is(err, cli.ErrUsage) {
				t.Fatalf("serve = %v, want a usage error\n%s", err, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if strings.Contains(err.Error()+errOut, apiKey) {
				t.Fatal("the refusal quotes the key")
			}
		})
	}
	if n := len(allowed.Requests()) + len(outside.Requests()); n != 0 {
		t.Fatalf("a refused configuration reached a provider %d times", n)
	}
}
