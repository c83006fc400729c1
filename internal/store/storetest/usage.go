package storetest

import (
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/store"
)

func testUsage(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "bot")
	for i, p := range []store.AddUsageParams{
		{BotID: bot.ID, Day: t0, TokensIn: 10, TokensOut: 20, Latency: 100 * time.Millisecond},
		{BotID: bot.ID, Day: t0.Add(time.Hour), TokensIn: 1, TokensOut: 2, Latency: 50 * time.Millisecond, Failed: true},
		{BotID: bot.ID, Day: t0.Add(24 * time.Hour), TokensIn: 7},
	} {
		if err := s.AddUsage(ctx(t), a, p); err != nil {
			t.Fatalf("AddUsage %d: %v", i, err)
		}
	}
	u, err := s.UsageOn(ctx(t), a, bot.ID, t0)
	if err != nil || u.Requests != 2 || u.TokensIn != 11 || u.TokensOut != 22 || u.Errors != 1 || u.LatencyMS != 150 || u.Day != "2026-11-24" {
		t.Fatalf("UsageOn = %+v, %v", u, err)
	}
	if u, _ := s.UsageOn(ctx(t), a, bot.ID, t0.Add(24*time.Hour)); u.TokensIn != 7 || u.Requests != 1 {
		t.Fatalf("next day = %+v", u)
	}
	if u, err := s.UsageOn(ctx(t), b, bot.ID, t0); err != nil || u.Requests != 0 {
		t.Fatalf("workspace B sees A's usage: %+v, %v", u, err)
	}
}
