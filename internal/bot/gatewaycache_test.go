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
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
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

// Two processes sharing PostgreSQL: process B's gateway has a bot's policy
// cached; process A rotates the bot's token; B hears the notice through
// LISTEN/NOTIFY (awaited, not timed) and refuses the old token.
func TestGatewayCacheHearsRotationInAnotherProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	master, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	scopeKey, err := postgres.DeriveScopeKey(master)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, admin, postgres.MigrateOptions{AppRole: role, Master: master}); err != nil {
		t.Fatal(err)
	}
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, servicetest.WithUser(t, admin, role), store.Options{}, postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sa, sb := open(), open()
	events := make(chan invalidate.Event, 64)
	run := func(hub *invalidate.Hub) {
		hubCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { hub.Run(hubCtx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		for !hub.Subscribed() {
			time.Sleep(time.Millisecond)
		}
	}
	hubA := invalidate.NewHub(invalidate.NewPostgres(sa.Pool(), "palisade_invalidate"), nil)
	hubB := invalidate.NewHub(invalidate.NewPostgres(sb.Pool(), "palisade_invalidate"), func(e invalidate.Event) { events <- e })
	run(hubA)
	run(hubB)
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svcA, err := bot.New(bot.Options{Store: sa, Knowledge: &knowledge.Service{Store: sa, Now: time.Now}, Models: []string{"m"}, Tokens: tokens, Invalidation: hubA})
	if err != nil {
		t.Fatal(err)
	}
	gB := gateway.New(gateway.Options{Store: sb, Providers: map[string]llm.Provider{"m": echoProvider{}}, Invalidation: hubB})
	ws, err := sa.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c := palisade.Caller{Scope: palisade.ScopeFor(ws.ID), Actor: "usr_test"}
	name, model := "Helper", "m"
	b, err := svcA.Create(ctx, c, bot.Input{Name: &name, Model: &model})
	if err != nil {
		t.Fatal(err)
	}
	old := tokens.Token(b.ID, b.GatewayTokenSalt)
	if _, err := gB.Complete(ctx, gateway.Call{BotID: b.ID, Token: old, Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcA.RotateGatewayToken(ctx, c, b.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		select {
		case e := <-events:
			heard = e.Scope == string(ws.ID)
		case <-deadline:
			t.Fatal("process B never heard of the rotation")
		}
	}
	if _, err := gB.Complete(ctx, gateway.Call{BotID: b.ID, Token: old, Message: "hi"}); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("old token in B after the notice = %v, want refused", err)
	}
}
