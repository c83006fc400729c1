package cli_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestPruneCommand: `palisade prune` deletes, on both stores, the messages
// older than their retention (a bot's own winning over the workspace's)
// and reports the count of each kind; newer messages stay.
func TestPruneCommand(t *testing.T) {
	t.Parallel()
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			scope := createWorkspace(t, env, "Retained")
			s := openSealed(t, env)
			ctx := t.Context()
			now := time.Now()
			day := 24 * time.Hour
			inherit, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "inherits", Model: "m", CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			own, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "own", Model: "m", RetentionDays: 7, CreatedAt: now})
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
			// The workspace keeps the default 90 days.
			c1 := conv(inherit.ID, 91*day, 10*day)
			c2 := conv(own.ID, 8*day, 6*day)
			s.close()

			out := mustCLI(t, env, "prune")
			if !regexp.MustCompile(`(?m)^messages\s+2$`).MatchString(out) || !regexp.MustCompile(`(?m)^total\s+\d+$`).MatchString(out) {
				t.Fatalf("prune printed %q; want 2 messages and a total", out)
			}
			s = openSealed(t, env)
			for c, want := range map[palisade.ConversationID]string{c1: (10 * day).String(), c2: (6 * day).String()} {
				ms, err := s.ListMessages(ctx, scope, c, 10)
				if err != nil || len(ms) != 1 || ms[0].Body != want {
					t.Fatalf("after prune, conversation %s holds %+v, %v; want only %q", c, ms, err, want)
				}
			}
			if out := mustCLI(t, env, "prune"); !regexp.MustCompile(`(?m)^messages\s+0$`).MatchString(out) {
				t.Fatalf("second prune printed %q; want 0 messages", out)
			}
		})
	}
}
