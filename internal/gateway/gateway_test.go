package gateway_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// fakeProvider is a hand-written llm.Provider recording what it was sent.
type fakeProvider struct {
	mu    sync.Mutex
	calls []llm.Request
	fail  error
}

var _ llm.Provider = (*fakeProvider)(nil)

func (f *fakeProvider) Complete(ctx context.Context, r llm.Request) (llm.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, r)
	f.mu.Unlock()
	if f.fail != nil {
		return llm.Response{}, f.fail
	}
	return llm.Response{Text: "hello there", Model: r.Model, FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 30, OutputTokens: 20}}, nil
}

func (f *fakeProvider) Stream(ctx context.Context, r llm.Request, on func(string) error) (llm.Response, error) {
	resp, err := f.Complete(ctx, r)
	if err != nil {
		return resp, err
	}
	for _, d := range []string{"hello", " there"} {
		if err := on(d); err != nil {
			return llm.Response{}, err
		}
	}
	return resp, nil
}

func (f *fakeProvider) last() llm.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

func (f *fakeProvider) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	g         *gateway.Gateway
	store     store.Store
	provider  *fakeProvider
	clock     *clock
	botA      palisade.Bot
	tokenA    secret.Secret
	botB      palisade.Bot
	tokenB    secret.Secret
	tokens    *gateway.Tokens
	workspace palisade.Scope
}

func setup(t testing.TB) fixture {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)}
	ws, _ := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: c.now()})
	scope := palisade.ScopeFor(ws.ID)
	mk := func(name string, budget int64) (palisade.Bot, secret.Secret) {
		id := palisade.NewBotID()
		salt, hash := tokens.Issue(id)
		b, err := s.CreateBot(t.Context(), scope, palisade.Bot{ID: id, Name: name, Model: "gpt-4o-mini", MaxOutputTokens: 1000,
			GatewayTokenHash: hash, GatewayTokenSalt: salt, DailyTokenBudget: budget, CreatedAt: c.now()})
		if err != nil {
			t.Fatal(err)
		}
		return b, tokens.Token(id, salt)
	}
	f := fixture{store: s, provider: &fakeProvider{}, clock: c, tokens: tokens, workspace: scope}
	f.botA, f.tokenA = mk("A", 0)
	f.botB, f.tokenB = mk("B", 100)
	f.g = gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"gpt-4o-mini": f.provider}, Now: c.now})
	return f
}

func call(bot palisade.BotID, tok secret.Secret, msg string) gateway.Call {
	return gateway.Call{BotID: bot, Token: tok, Request: llm.Request{Model: "gpt-4o-mini", System: "be brief",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: msg}}}}
}

func code(err error) palisade.Code { return palisade.ErrorCode(err) }

// TestGatewayRefusals: the gateway refuses a missing, forged or another
// bot's token, an unknown or malformed bot id, an inbound message over 4,000
// characters and a model off the operator's or the workspace's allowlist,
// each before any provider is called.
func TestGatewayRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	if len(f.tokenA.Reveal()) < 32 || f.tokenA.Equal(f.tokenB) {
		t.Fatal("tokens are short or shared")
	}
	// 256-bit HMAC output, base64url: 43 characters after the prefix.
	if got := len(strings.TrimPrefix(f.tokenA.Reveal(), "gwt_")); got*6 < 190 {
		t.Fatalf("token carries %d bits", got*6)
	}
	cases := []struct {
		name string
		c    gateway.Call
		want palisade.Code
	}{
		{"no token", call(f.botA.ID, secret.Secret{}, "hi"), palisade.CodeUnauthorized},
		{"another bot's token", call(f.botA.ID, f.tokenB, "hi"), palisade.CodeUnauthorized},
		{"forged token", call(f.botA.ID, secret.New(f.tokenA.Reveal()[:len(f.tokenA.Reveal())-1]+"x"), "hi"), palisade.CodeUnauthorized},
		{"unknown bot", call(palisade.NewBotID(), f.tokenA, "hi"), palisade.CodeUnauthorized},
		{"malformed bot id", call("bot_../../x", f.tokenA, "hi"), palisade.CodeUnauthorized},
		{"4,001 characters", call(f.botA.ID, f.tokenA, strings.Repeat("é", 4001)), palisade.CodeInvalid},
	}
	offList := call(f.botA.ID, f.tokenA, "hi")
	offList.Request.Model = "gpt-5-ultra"
	cases = append(cases, struct {
		name string
		c    gateway.Call
		want palisade.Code
	}{"model off the allowlist", offList, palisade.CodeForbidden})
	for _, tc := range cases {
		if _, err := f.g.Complete(ctx, tc.c); code(err) != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
	if n := f.provider.count(); n != 0 {
		t.Fatalf("the provider was called %d times for refused calls", n)
	}
	// A workspace's own allowlist narrows the operator's: a model the
	// operator allows but the workspace does not is refused.
	if err := f.store.SetWorkspaceModels(ctx, f.workspace, []string{"claude-3-5-haiku-latest"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Complete(ctx, call(f.botA.ID, f.tokenA, "hi")); code(err) != palisade.CodeForbidden {
		t.Fatalf("model off the workspace allowlist: %v", err)
	}
	if err := f.store.SetWorkspaceModels(ctx, f.workspace, nil); err != nil {
		t.Fatal(err)
	}
	// Exactly 4,000 characters pass.
	if _, err := f.g.Complete(ctx, call(f.botA.ID, f.tokenA, strings.Repeat("é", 4000))); err != nil {
		t.Fatalf("4,000 characters refused: %v", err)
	}
	// Max tokens: above the bot's cap are clamped to it; unset gets it.
	c := call(f.botA.ID, f.tokenA, "hi")
	c.Request.MaxTokens = 100000
	if _, err := f.g.Complete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := f.provider.last().MaxTokens; got != 1000 {
		t.Fatalf("max tokens sent = %d, want clamped to 1000", got)
	}
	c.Request.MaxTokens = 200
	f.g.Complete(ctx, c)
	if got := f.provider.last().MaxTokens; got != 200 {
		t.Fatalf("max tokens sent = %d, want 200", got)
	}
	// The system prompt stays the system prompt; user text stays a message.
	if last := f.provider.last(); last.System != "be brief" || last.Messages[0].Role != llm.RoleUser {
		t.Fatalf("request reshaped: %+v", last)
	}
}

func TestGatewayBudgetAndUsage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	// Bot B has a budget of 100 tokens a day; each call spends 50.
	for i := 0; i < 2; i++ {
		if _, err := f.g.Complete(ctx, call(f.botB.ID, f.tokenB, "hi")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := f.g.Complete(ctx, call(f.botB.ID, f.tokenB, "hi")); code(err) != palisade.CodeRateLimited {
		t.Fatalf("over budget: %v", err)
	}
	// Bot A is unaffected by B's budget.
	if _, err := f.g.Complete(ctx, call(f.botA.ID, f.tokenA, "hi")); err != nil {
		t.Fatalf("bot A refused: %v", err)
	}
	u, err := f.store.UsageOn(ctx, f.workspace, f.botB.ID, f.clock.now())
	if err != nil || u.Requests != 2 || u.TokensIn != 60 || u.TokensOut != 40 {
		t.Fatalf("usage = %+v, %v", u, err)
	}
	// The next UTC day the budget is fresh.
	f.clock.add(2 * time.Hour)
	if _, err := f.g.Complete(ctx, call(f.botB.ID, f.tokenB, "hi")); err != nil {
		t.Fatalf("next day: %v", err)
	}
	// Rotating the token (a new salt) makes the old one useless.
	salt, hash := f.tokens.Issue(f.botA.ID)
	if _, err := f.store.RotateBotToken(ctx, f.workspace, f.botA.ID, salt, hash, f.clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Complete(ctx, call(f.botA.ID, f.tokenA, "hi")); code(err) != palisade.CodeUnauthorized {
		t.Fatalf("old token after rotation: %v", err)
	}
	if _, err := f.g.Complete(ctx, call(f.botA.ID, f.tokens.Token(f.botA.ID, salt), "hi")); err != nil {
		t.Fatalf("new token after rotation: %v", err)
	}
}

func TestProviderErrorIsGeneric(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.provider.fail = &llm.Error{Provider: "openai", Status: 500, Type: "server_error", Message: "upstream exploded at node 17"}
	_, err := f.g.Complete(t.Context(), call(f.botA.ID, f.tokenA, "hi"))
	if code(err) != palisade.CodeUnavailable || strings.Contains(palisade.ErrorMessage(err), "node 17") {
		t.Fatalf("provider error: %v / %q", err, palisade.ErrorMessage(err))
	}
	u, _ := f.store.UsageOn(t.Context(), f.workspace, f.botA.ID, f.clock.now())
	if u.Errors != 1 {
		t.Fatalf("failure not recorded: %+v", u)
	}
}
