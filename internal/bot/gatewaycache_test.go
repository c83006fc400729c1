package bot_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// echoProvider answers every call the same; it stands in for the
// provider behind the gateway.
type echoProvider struct{}

func (echoProvider) Complete(_ context.Context, r llm.Request) (llm.Response, error) {
	return llm.Response{Text: "ok", Model: r.Model, FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}}, nil
}

func (p echoProvider) Stream(ctx context.Context, r llm.Request, on func(string) error) (llm.Response, error) {
	res, err := p.Complete(ctx, r)
	if err == nil {
		err = on(res.Text)
	}
	return res, err
}

// The gateway serves a verified bot's policy from memory, and every change
// the bot service makes to what it caches takes effect on the next call:
// a rotated token is refused at once, a changed output cap is used at
// once, and a deleted bot is refused at once.
func TestGatewayCacheFollowsBotChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var policyReads atomic.Int64
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(q string) {
		if strings.Contains(q, "FROM bots") || strings.Contains(q, "FROM workspaces") {
			policyReads.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	hub := invalidate.NewHub(invalidate.NewMemory(), nil)
	hubCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(hubCtx); close(done) }()
	defer func() { stop(); <-done }()

	g := gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"m": echoProvider{}}, Invalidation: hub})
	svc, err := bot.New(bot.Options{Store: s, Knowledge: &knowledge.Service{Store: s, Now: time.Now}, Models: []string{"m"}, Tokens: tokens, Invalidation: hub})
	if err != nil {
		t.Fatal(err)
	}
	c := palisade.Caller{Scope: palisade.ScopeFor(ws.ID), Actor: "usr_test"}
	name, model := "Helper", "m"
	b, err := svc.Create(ctx, c, bot.Input{Name: &name, Model: &model})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokens.Token(b.ID, b.GatewayTokenSalt)
	// Until the bus is subscribed the cache is bypassed and every call
	// reads the store.
	for !hub.Subscribed() {
		time.Sleep(time.Millisecond)
	}
	complete := func(t *testing.T) error {
		t.Helper()
		_, err := g.Complete(ctx, gateway.Call{BotID: b.ID, Token: tok, Message: "hi"})
		return err
	}
	if err := complete(t); err != nil {
		t.Fatal(err)
	}
	before := policyReads.Load()
	if err := complete(t); err != nil {
		t.Fatal(err)
	}
	if n := policyReads.Load() - before; n != 0 {
		t.Fatalf("a cached bot's call read bots or workspaces %d times, want 0", n)
	}

	rotated, err := svc.RotateGatewayToken(ctx, c, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := complete(t); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("old token after rotation = %v, want refused at once", err)
	}
	tok = tokens.Token(b.ID, rotated.GatewayTokenSalt)
	if err := complete(t); err != nil {
		t.Fatalf("new token: %v", err)
	}

	if err := svc.Delete(ctx, c, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := complete(t); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("deleted bot = %v, want refused at once", err)
	}
}
