package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/anthropic"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// TestRoutesEachModelToItsProvider: with two providers configured, a bot
// on a model of each is answered by its own provider, with that
// provider's key; a workspace's own key of one kind pays only for the
// models of that kind; a bot on a model whose provider is not configured
// is refused, the error naming the model and the missing provider, and
// no provider is called.
func TestRoutesEachModelToItsProvider(t *testing.T) {
	t.Parallel()
	for name, open := range sealedOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			oa := llmtest.NewOpenAI(t, llmtest.Options{Text: "from openai"})
			an := llmtest.NewAnthropic(t, llmtest.Options{Text: "from anthropic"})
			buildOA := func(key secret.Secret) (llm.Provider, error) {
				return openai.New(openai.Config{BaseURL: oa.URL, APIKey: key, HTTPClient: oa.Client()})
			}
			buildAN := func(key secret.Secret) (llm.Provider, error) {
				return anthropic.New(anthropic.Config{BaseURL: an.URL, APIKey: key, HTTPClient: an.Client()})
			}
			opOA, err := buildOA(secret.New("sk-operator-openai-0000000"))
			if err != nil {
				t.Fatal(err)
			}
			opAN, err := buildAN(secret.New("sk-ant-operator-anthropic-00"))
			if err != nil {
				t.Fatal(err)
			}
			g := gateway.New(gateway.Options{Store: s,
				Providers:    map[string]llm.Provider{"gpt-4o-mini": opOA, "claude-3-5-haiku-latest": opAN},
				Kinds:        map[string]string{"gpt-4o-mini": llm.KindOpenAI, "claude-3-5-haiku-latest": llm.KindAnthropic},
				OwnProviders: map[string]func(secret.Secret) (llm.Provider, error){llm.KindOpenAI: buildOA, llm.KindAnthropic: buildAN}})
			tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			scope := palisade.ScopeFor(ws.ID)
			ask := func(model string) (llm.Response, error) {
				t.Helper()
				b := palisade.Bot{ID: palisade.NewBotID(), Name: "B", Model: model, MaxOutputTokens: 100, CreatedAt: time.Now()}
				salt, hash := tokens.Issue(b.ID)
				b.GatewayTokenSalt, b.GatewayTokenHash = salt, hash
				if _, err := s.CreateBot(t.Context(), scope, b); err != nil {
					t.Fatal(err)
				}
				return g.Complete(t.Context(), gateway.Call{BotID: b.ID, Token: tokens.Token(b.ID, salt), Message: "hi"})
			}
			last := func(f *llmtest.Server) llmtest.Received {
				reqs := f.Requests()
				return reqs[len(reqs)-1]
			}

			if resp, err := ask("gpt-4o-mini"); err != nil || resp.Text != "from openai" || last(oa).Key != "sk-operator-openai-0000000" {
				t.Fatalf("bot on gpt-4o-mini: %+v, %v", resp, err)
			}
			if resp, err := ask("claude-3-5-haiku-latest"); err != nil || resp.Text != "from anthropic" || last(an).Key != "sk-ant-operator-anthropic-00" ||
				last(an).Model != "claude-3-5-haiku-latest" {
				t.Fatalf("bot on claude-3-5-haiku-latest: %+v, %v", resp, err)
			}
			if len(oa.Requests()) != 1 || len(an.Requests()) != 1 {
				t.Fatalf("requests: openai %d, anthropic %d; want one each", len(oa.Requests()), len(an.Requests()))
			}

			// A workspace's Anthropic key pays for the Anthropic model
			// only.
			pk := &gateway.ProviderKeys{Store: s, Now: time.Now}
			if _, err := pk.Set(t.Context(), palisade.Caller{Scope: scope, Actor: "t"}, llm.KindAnthropic, secret.New("sk-ant-workspace-own-key-01")); err != nil {
				t.Fatal(err)
			}
			if _, err := ask("claude-3-5-haiku-latest"); err != nil || last(an).Key != "sk-ant-workspace-own-key-01" {
				t.Fatalf("the workspace's anthropic key was not used: %v, %q", err, last(an).Key)
			}
			if _, err := ask("gpt-4o-mini"); err != nil || last(oa).Key != "sk-operator-openai-0000000" {
				t.Fatalf("the openai call used another key: %v, %q", err, last(oa).Key)
			}

			// Gemini is not configured: its model is refused, clearly.
			before := len(oa.Requests()) + len(an.Requests())
			_, err = ask("gemini-2.0-flash")
			if palisade.ErrorCode(err) != palisade.CodeForbidden || !strings.Contains(palisade.ErrorMessage(err), "gemini-2.0-flash is served by the gemini provider, which this server has not configured") {
				t.Fatalf("a model of an unconfigured provider: %v", err)
			}
			if _, err := ask("retrieval-only"); palisade.ErrorCode(err) != palisade.CodeForbidden || !strings.Contains(palisade.ErrorMessage(err), "retrieval-only") {
				t.Fatalf("a retrieval-only bot once a provider is configured: %v", err)
			}
			if _, err := ask("some-unknown-model"); palisade.ErrorCode(err) != palisade.CodeForbidden {
				t.Fatalf("a model off the allowlist: %v", err)
			}
			if n := len(oa.Requests()) + len(an.Requests()); n != before {
				t.Fatalf("a refused model reached a provider: %d requests, was %d", n, before)
			}
			if got := g.Models(); strings.Join(got, ",") != "claude-3-5-haiku-latest,gpt-4o-mini" {
				t.Fatalf("allowlist = %v", got)
			}
		})
	}
}
