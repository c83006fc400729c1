//go:build linux

package conversation_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestMain lets the test binary be a bot worker, as palisade is: the pool
// re-executes /proc/self/exe with "worker".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		fs := flag.NewFlagSet("worker", flag.ExitOnError)
		c := sandbox.WorkerFlags(fs)
		_ = fs.Parse(os.Args[2:])
		if err := sandbox.WorkerMain(context.Background(), *c, workerTestTasks()); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func workerTestTasks() map[string]sandbox.Handler {
	return map[string]sandbox.Handler{
		conversation.TurnKind: conversation.TurnHandler,
		// What a worker holds apart from its task: its environment.
		"environ": func(context.Context, *sandbox.Task) ([]byte, error) { return json.Marshal(os.Environ()) },
		// A worker trying to call the gateway as another bot.
		"other-bot": func(ctx context.Context, t *sandbox.Task) ([]byte, error) {
			return t.Call(ctx, "gateway.complete", t.Payload, nil)
		},
	}
}

// TestTurnThroughWorker: a bot's turn runs in its confined worker, which
// gets the bot's token and the turn's parts and calls the gateway through
// the parent; the answer, streamed or not, is the one the gateway gives
// in process, the provider sees the same request, and a worker can call
// for its own bot only.
func TestTurnThroughWorker(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	newBot := func() palisade.Bot {
		b := palisade.Bot{ID: palisade.NewBotID(), Name: "Helper", SystemPrompt: "You are Helper.", Model: "gpt-4o-mini", MaxOutputTokens: 500, CreatedAt: t0}
		b.GatewayTokenSalt, b.GatewayTokenHash = tokens.Issue(b.ID)
		if b, err = s.CreateBot(ctx, scope, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	bot, other := newBot(), newBot()
	kn := &knowledge.Service{Store: s, Now: func() time.Time { return t0 }}
	if _, err := kn.Add(ctx, scope, bot.ID, knowledge.NewDocument{Title: "Refunds", ContentType: knowledge.TypePlain,
		Content: "Refunds are issued within 14 days of the return."}); err != nil {
		t.Fatal(err)
	}
	const reply = "Refunds take up to 14 days."
	fake := llmtest.NewOpenAI(t, llmtest.Options{Text: reply})
	prov, err := openai.New(openai.Config{BaseURL: fake.URL, APIKey: secret.New("sk-test"), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"gpt-4o-mini": prov}, Now: func() time.Time { return t0 }})
	pool, err := sandbox.New(ctx, sandbox.Options{Mode: sandbox.ModeRequire, Calls: conversation.GatewayCalls(gw)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	through := &conversation.Service{Store: s, Knowledge: kn, Generator: &conversation.WorkerGenerator{Workers: pool, Tokens: tokens},
		Now: func() time.Time { return t0 }}
	inProcess := &conversation.Service{Store: s, Knowledge: kn, Generator: &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens},
		Now: func() time.Time { return t0 }}

	in := conversation.Inbound{BotID: bot.ID, Channel: "api", UserID: "alice", Text: "How long do refunds take?"}
	r, err := through.Handle(ctx, scope, in)
	if err != nil || r.Text != reply || r.Mode != conversation.ModeGenerated || len(r.Sources) == 0 || r.TokensOut == 0 {
		t.Fatalf("through the worker: %+v, %v", r, err)
	}
	in.UserID = "bob"
	r2, err := inProcess.Handle(ctx, scope, in)
	if err != nil || r2.Text != r.Text || r2.TokensIn != r.TokensIn || r2.TokensOut != r.TokensOut {
		t.Fatalf("in process %+v, through the worker %+v (%v)", r2, r, err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].System != reqs[1].System || fmt.Sprint(reqs[0].Messages) != fmt.Sprint(reqs[1].Messages) {
		t.Fatalf("the provider saw different requests: %+v", reqs)
	}

	// Streaming: the deltas cross the worker and join to the answer.
	var deltas []string
	in.UserID, in.OnDelta = "carol", func(d string) error { deltas = append(deltas, d); return nil }
	r, err = through.Handle(ctx, scope, in)
	if err != nil || r.Text != reply || len(deltas) < 2 || strings.Join(deltas, "") != reply {
		t.Fatalf("streamed through the worker: %+v, %v, deltas %q", r, err, deltas)
	}

	// The worker's environment holds nothing of the server's.
	out, err := pool.Run(ctx, string(bot.ID), "environ", nil, nil)
	if err != nil || string(out) != "[]" {
		t.Fatalf("the worker's environment: %s, %v", out, err)
	}
	// With the other bot's real token, the bot's worker is still refused:
	// a worker calls for its own bot only.
	call, _ := json.Marshal(map[string]any{"bot_id": other.ID, "token": tokens.Token(other.ID, other.GatewayTokenSalt).Reveal(), "message": "hi"})
	_, err = pool.Run(ctx, string(bot.ID), "other-bot", call, nil)
	var pe *palisade.Error
	if !errors.As(err, &pe) || pe.Code != palisade.CodeForbidden {
		t.Fatalf("a call for another bot: %v, want forbidden", err)
	}
	if n := len(fake.Requests()); n != 3 {
		t.Fatalf("the provider saw %d requests, want 3", n)
	}
}
