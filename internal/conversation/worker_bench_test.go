//go:build linux

package conversation_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// BenchmarkTurnThroughWorker measures, in the same run, a generated turn
// (history, passages, the gateway call to a local fake provider) made in
// process and made through the bot's live confined worker; the difference
// is what the worker adds (two frames each way, the token and the parts
// encoded twice). The worker is started before the timing.
func BenchmarkTurnThroughWorker(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		b.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	bot := palisade.Bot{ID: palisade.NewBotID(), Name: "Helper", SystemPrompt: "You are Helper.", Model: "gpt-4o-mini", MaxOutputTokens: 500, CreatedAt: t0}
	bot.GatewayTokenSalt, bot.GatewayTokenHash = tokens.Issue(bot.ID)
	if bot, err = s.CreateBot(ctx, scope, bot); err != nil {
		b.Fatal(err)
	}
	fake := llmtest.NewOpenAI(b, llmtest.Options{Text: "Refunds take up to 14 days."})
	prov, err := openai.New(openai.Config{BaseURL: fake.URL, APIKey: secret.New("sk-test"), HTTPClient: fake.Client()})
	if err != nil {
		b.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"gpt-4o-mini": prov}, Now: time.Now})
	pool, err := sandbox.New(ctx, sandbox.Options{Mode: sandbox.ModeRequire, Calls: conversation.GatewayCalls(gw)})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	req := conversation.Request{Bot: bot, Message: "How long do refunds take?",
		History: []conversation.Turn{{Role: palisade.MessageUser, Content: "hi"}, {Role: palisade.MessageAssistant, Content: "hello"}},
		Sources: []knowledge.Source{{Title: "Refunds", Passage: "Refunds are issued within 14 days of the return."}}}
	gens := []struct {
		name string
		gen  conversation.Generator
	}{
		{"in-process", &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens}},
		{"worker", &conversation.WorkerGenerator{Workers: pool, Tokens: tokens}},
	}
	for _, g := range gens {
		// Warm: the worker is live, the connections to the fake open.
		if _, err := g.gen.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	// Interleaved, so both see the same machine: each iteration is one
	// turn each way.
	var inProcess, worker time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := gens[0].gen.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := gens[1].gen.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
		inProcess += mid.Sub(start)
		worker += time.Since(mid)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inProcess.Nanoseconds())/n, "ns-in-process/turn")
	b.ReportMetric(float64(worker.Nanoseconds())/n, "ns-worker/turn")
	b.ReportMetric(float64((worker-inProcess).Nanoseconds())/n, "ns-added/turn")
}
