package postgres_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
)

// BenchmarkRLSCost is B6: the cost of Row Level Security. The same store
// calls run through two stores on one database: as the runtime role, where
// every statement goes through the policies and their verification of the
// scope's tag, and as the admin role, a superuser that RLS does not apply
// to. Each iteration runs a call on both, interleaved, so that the noise of
// the machine falls on both alike; each sub-benchmark reports the median
// of each and their ratio, measured in the same run.
//
// The data: three workspaces, the measured one with 50 bots, a bot with 40
// documents of 10 chunks each, and a conversation of 200 messages.
func BenchmarkRLSCost(b *testing.B) {
	ctx := b.Context()
	adminURL, appURL, _ := setup(b)
	sealer := sealtest.NewKeyring(b)
	opts := store.Options{Sealer: sealer}
	app, err := postgres.Open(ctx, appURL, opts, postgres.OpenOptions{ScopeKey: testScopeKey})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	admin, err := postgres.Open(ctx, adminURL, opts, postgres.OpenOptions{ScopeKey: testScopeKey, UnsafeAllowPrivilegedRole: true})
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()

	now := time.Now()
	var scope palisade.Scope
	var bot palisade.Bot
	var conv palisade.Conversation
	for w := range 3 {
		ws, err := app.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: fmt.Sprintf("w%d", w), Now: now})
		if err != nil {
			b.Fatal(err)
		}
		sc := palisade.ScopeFor(ws.ID)
		var first palisade.Bot
		for i := range 50 {
			bt, err := app.CreateBot(ctx, sc, palisade.Bot{Name: fmt.Sprintf("bot %d", i), Model: "gpt-4o-mini", CreatedAt: now})
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				first = bt
			}
		}
		for d := range 40 {
			chunks := make([]string, 10)
			for c := range chunks {
				chunks[c] = fmt.Sprintf("Opening hours of shop %d: weekdays nine to five, section %d of the delivery policy for parcels.", d, c)
			}
			if _, err := app.CreateDocument(ctx, sc, store.CreateDocumentParams{BotID: first.ID, Title: fmt.Sprintf("doc %d", d),
				ContentType: "text/plain", SizeBytes: 1000, Chunks: chunks, Now: now}); err != nil {
				b.Fatal(err)
			}
		}
		cv, err := app.OpenConversation(ctx, sc, store.OpenConversationParams{BotID: first.ID, Key: "agent:" + string(first.ID) + ":api:dm:u1",
			Channel: "api", ExternalUser: "u1", Now: now})
		if err != nil {
			b.Fatal(err)
		}
		for m := range 200 {
			if _, err := app.AppendMessage(ctx, sc, store.AppendMessageParams{ConversationID: cv.ID, Role: palisade.MessageUser,
				Body: fmt.Sprintf("message %d: where is my parcel?", m), Now: now}); err != nil {
				b.Fatal(err)
			}
		}
		if w == 1 {
			scope, bot, conv = sc, first, cv
		}
	}

	queries := []struct {
		name string
		run  func(s store.Store) error
	}{
		{"GetBot", func(s store.Store) error { _, err := s.GetBot(ctx, scope, bot.ID); return err }},
		{"ListBots", func(s store.Store) error {
			l, err := s.ListBots(ctx, scope)
			if err == nil && len(l) != 50 {
				err = fmt.Errorf("listed %d bots, want 50", len(l))
			}
			return err
		}},
		{"SearchChunks", func(s store.Store) error {
			p, err := s.SearchChunks(ctx, scope, bot.ID, []string{"opening", "hours"}, 5)
			if err == nil && len(p) != 5 {
				err = fmt.Errorf("found %d passages, want 5", len(p))
			}
			return err
		}},
		{"ListMessages", func(s store.Store) error {
			m, err := s.ListMessages(ctx, scope, conv.ID, 50)
			if err == nil && len(m) != 50 {
				err = fmt.Errorf("listed %d messages, want 50", len(m))
			}
			return err
		}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var rls, bypass []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := q.run(app); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := q.run(admin); err != nil {
					b.Fatal(err)
				}
				rls, bypass = append(rls, t1.Sub(t0)), append(bypass, time.Since(t1))
			}
			r, a := median(rls), median(bypass)
			b.ReportMetric(float64(r.Microseconds()), "rls_p50_us")
			b.ReportMetric(float64(a.Microseconds()), "admin_p50_us")
			b.ReportMetric(float64(r)/float64(a), "rls/admin_p50")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
