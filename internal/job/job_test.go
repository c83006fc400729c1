package job_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
)

// TestPruneJob proves a real job is inserted and worked on both databases:
// an expired token is gone after the periodic prune runs on start.
func TestPruneJob(t *testing.T) {
	t.Parallel()
	for name, open := range jobOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, store.Options{})
			defer s.Close()
			now := time.Now()
			conv := &conversation.Service{Store: s, Knowledge: &knowledge.Service{Store: s, Now: time.Now}, Now: time.Now}
			runner := newRunner(t, s, job.Deps{Store: s, ArgsKey: testArgsKey(t), Conversations: conv, Mail: noMail{}, Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			hash := []byte("expired-token-hash")
			if err := s.CreateOneTimeToken(t.Context(), store.CreateTokenParams{Purpose: palisade.TokenVerifyEmail, Hash: hash,
				Now: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			// Enqueue explicitly as well as the periodic run-on-start.
			if err := s.Jobs().Enqueue(t.Context(), job.PruneArgs{}); err != nil {
				t.Fatal(err)
			}
			if err := runner.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := runner.Stop(ctx); err != nil {
					t.Error(err)
				}
				if err := runner.Stop(ctx); err != nil {
					t.Errorf("a second Stop: %v", err)
				}
			}()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if gone := tokenGone(t, s, hash, now); gone {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatal("the prune job never deleted the expired token")
		})
	}
}

// tokenGone checks through a fresh token with the same hash: creating it
// only succeeds once the expired one was deleted.
func tokenGone(t *testing.T, s store.Store, hash []byte, now time.Time) bool {
	err := s.CreateOneTimeToken(t.Context(), store.CreateTokenParams{Purpose: palisade.TokenVerifyEmail, Hash: hash, Now: now, ExpiresAt: now.Add(time.Hour)})
	return err == nil
}

// TestPruneJobRetention proves the periodic prune job applies retention on
// both databases: a message older than the workspace's retention, and one
// older than a bot's shorter own retention, are gone once it runs; newer
// messages stay.
func TestPruneJobRetention(t *testing.T) {
	t.Parallel()
	for name, open := range jobOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, store.Options{Sealer: sealtest.NewKeyring(t)})
			defer s.Close()
			ctx := t.Context()
			now := time.Now()
			day := 24 * time.Hour
			w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "w", Now: now.Add(-365 * day)})
			if err != nil {
				t.Fatal(err)
			}
			scope := palisade.ScopeFor(w.ID)
			if err := s.SetWorkspaceRetention(ctx, scope, 30); err != nil {
				t.Fatal(err)
			}
			inherit, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "a", Model: "m", CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			own, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "b", Model: "m", RetentionDays: 2, CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			conv := func(b palisade.BotID, ages ...time.Duration) palisade.ConversationID {
				c, err := s.OpenConversation(ctx, scope, store.OpenConversationParams{BotID: b, Key: string(b), Channel: "api", Now: now.Add(-ages[0])})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range ages {
					if _, err := s.AppendMessage(ctx, scope, store.AppendMessageParams{ConversationID: c.ID, Role: "user", Body: a.String(), Now: now.Add(-a)}); err != nil {
						t.Fatal(err)
					}
				}
				return c.ID
			}
			c1 := conv(inherit.ID, 31*day, 29*day)
			c2 := conv(own.ID, 3*day, day)
			runner := newRunner(t, s, job.Deps{Store: s, ArgsKey: testArgsKey(t), Conversations: &conversation.Service{Store: s, Now: time.Now},
				Mail: noMail{}, Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := runner.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = runner.Stop(stop)
			}()
			bodies := func(c palisade.ConversationID) []string {
				ms, err := s.ListMessages(ctx, scope, c, 10)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, m := range ms {
					out = append(out, m.Body)
				}
				return out
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				b1, b2 := bodies(c1), bodies(c2)
				if len(b1) == 1 && len(b2) == 1 {
					if b1[0] != (29*day).String() || b2[0] != day.String() {
						t.Fatalf("kept %q and %q; want the newer message of each", b1, b2)
					}
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("the prune job never applied retention: %q, %q", bodies(c1), bodies(c2))
		})
	}
}
