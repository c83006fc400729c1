package bot_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// interleaved runs during in the middle of an update: after the update
// has read the bot and before it writes it back.
type interleaved struct {
	bot.Store
	during func()
}

func (s *interleaved) GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error) {
	b, err := s.Store.GetBot(ctx, scope, id)
	if s.during != nil {
		f := s.during
		s.during = nil
		f()
	}
	return b, err
}

// A token rotated while an edit of the same bot is in flight stays
// rotated: the edit never writes the token columns, so it cannot bring the
// old token back to life.
func TestConcurrentEditKeepsRotatedToken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
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
	slow := &interleaved{Store: s}
	know := &knowledge.Service{Store: s, Now: time.Now}
	editor, err := bot.New(bot.Options{Store: slow, Knowledge: know, Models: []string{"m"}, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	rotator, err := bot.New(bot.Options{Store: s, Knowledge: know, Models: []string{"m"}, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	c := palisade.Caller{Scope: palisade.ScopeFor(ws.ID), Actor: "usr_test"}
	name := "Helper"
	b, err := editor.Create(ctx, c, bot.Input{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	oldToken := tokens.Token(b.ID, b.GatewayTokenSalt)
	var rotated palisade.Bot
	slow.during = func() {
		if rotated, err = rotator.RotateGatewayToken(ctx, c, b.ID); err != nil {
			t.Error(err)
		}
	}
	renamed := "Renamed"
	if _, err := editor.Update(ctx, c, b.ID, bot.Input{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBot(ctx, c.Scope, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != renamed {
		t.Errorf("name = %q, want the edit kept", got.Name)
	}
	if bytes.Equal(got.GatewayTokenHash, gateway.HashToken(oldToken)) {
		t.Fatal("the edit restored the token rotated while it ran: the old token works again")
	}
	newToken := tokens.Token(b.ID, rotated.GatewayTokenSalt)
	if !bytes.Equal(got.GatewayTokenHash, gateway.HashToken(newToken)) {
		t.Fatal("the stored token is neither the old nor the rotated one")
	}
}
