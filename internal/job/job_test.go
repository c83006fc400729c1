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
