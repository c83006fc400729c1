package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// testActivity sums a workspace's messages, model tokens and refusals per
// UTC day, days without traffic included, a message at midnight in the day
// it starts, and nothing of another workspace.
func testActivity(t *testing.T, open Opener) {
	// The audit log stamps entries with the store's clock (and keeps a
	// chain's times in order, so they are appended in order).
	clock := t0
	s := open(t, store.Options{Sealer: newKeyring(t), Now: func() time.Time { return clock }})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "a")
	other := mustBot(t, s, b, "b")
	midnight := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	add := func(scope palisade.Scope, id palisade.BotID, at time.Time, roles ...string) {
		t.Helper()
		conv, err := s.OpenConversation(ctx(t), scope, store.OpenConversationParams{BotID: id, Key: "k" + at.String(), Channel: "api", ExternalUser: "u", Now: at})
		if err != nil {
			t.Fatal(err)
		}
		for _, role := range roles {
			if _, err := s.AppendMessage(ctx(t), scope, store.AppendMessageParams{ConversationID: conv.ID, Role: role, Body: "hi", Now: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(a, bot.ID, t0.Add(-48*time.Hour), palisade.MessageUser, palisade.MessageAssistant)
	add(a, bot.ID, midnight, palisade.MessageUser)
	add(a, bot.ID, midnight.Add(-time.Microsecond), palisade.MessageUser)
	add(a, bot.ID, t0, palisade.MessageUser, palisade.MessageAssistant)
	add(a, bot.ID, t0.Add(time.Hour), palisade.MessageUser, palisade.MessageAssistant)
	add(b, other.ID, t0, palisade.MessageUser, palisade.MessageAssistant)
	for _, u := range []struct {
		scope palisade.Scope
		bot   palisade.BotID
		day   time.Time
		in    int64
	}{{a, bot.ID, t0, 10}, {a, bot.ID, t0.Add(time.Hour), 1}, {b, other.ID, t0, 1000}} {
		if err := s.AddUsage(ctx(t), u.scope, store.AddUsageParams{BotID: u.bot, Day: u.day, TokensIn: u.in, TokensOut: 2 * u.in}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []struct {
		scope  palisade.Scope
		action string
		at     time.Time
	}{{a, "egress.denied", midnight.Add(time.Hour)}, {a, "webhook.rejected", t0}, {a, "bot.created", t0}, {b, "webhook.rejected", t0}} {
		clock = e.at
		if _, err := s.AppendAudit(ctx(t), e.scope, auditEntry(e.action, "x", e.at), testSeal); err != nil {
			t.Fatal(err)
		}
	}
	// Rate-limit refusals arrive as counts, summed over their kinds.
	for _, r := range []struct {
		scope palisade.Scope
		day   string
		kind  string
		n     int64
	}{{a, "2026-11-24", "api_message", 5}, {a, "2026-11-24", "api_message", 2}, {a, "2026-11-24", "widget_session", 1},
		{a, "2026-11-22", "webhook", 3}, {b, "2026-11-24", "api_message", 100}} {
		if err := s.AddRefusals(ctx(t), r.scope, r.day, r.kind, r.n); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []struct {
		day, kind string
		n         int64
	}{{"24.11.2026", "api_message", 1}, {"2026-11-24", "", 1}, {"2026-11-24", "api_message", 0}, {"2026-11-24", "api_message", -3}} {
		if err := s.AddRefusals(ctx(t), a, bad.day, bad.kind, bad.n); err == nil {
			t.Fatalf("AddRefusals(%q, %q, %d) accepted", bad.day, bad.kind, bad.n)
		}
	}
	refusals := []string{"webhook.rejected", "egress.denied", "policy.denied"}
	got, err := s.DailyActivity(ctx(t), a, store.ActivityParams{From: t0.Add(-72 * time.Hour), To: t0, Refusals: refusals})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DayActivity{
		{Day: "2026-11-21"},
		{Day: "2026-11-22", Questions: 2, Answers: 1, RateLimited: 3},
		{Day: "2026-11-23", Questions: 1, Refusals: 1},
		{Day: "2026-11-24", Questions: 2, Answers: 2, TokensIn: 11, TokensOut: 22, Refusals: 1, RateLimited: 8},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("DailyActivity =\n%v\nwant\n%v", got, want)
	}
	// One day, no refusal actions asked for.
	got, err = s.DailyActivity(ctx(t), a, store.ActivityParams{From: t0, To: t0})
	if err != nil || len(got) != 1 || got[0].Refusals != 0 || got[0].Questions != 2 || got[0].TokensIn != 11 {
		t.Fatalf("one day = %v, %v", got, err)
	}
	if _, err := s.DailyActivity(ctx(t), a, store.ActivityParams{From: t0, To: t0.Add(-24 * time.Hour)}); err == nil {
		t.Fatal("a span running backwards was accepted")
	}
	if _, err := s.DailyActivity(ctx(t), a, store.ActivityParams{From: t0.Add(-store.MaxActivityDays * 24 * time.Hour), To: t0}); err == nil {
		t.Fatal("a span over the maximum was accepted")
	}
}
