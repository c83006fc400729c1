package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
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

// testUsageReservations: a reservation sets aside budget that counts with
// what the day spent until it is released with the real usage or expires;
// it is granted in full, cut down to what is left (never below its
// minimum), or refused, and another workspace's reservations never count.
func testUsageReservations(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "bot")
	other := mustBot(t, s, b, "other")
	if err := s.AddUsage(ctx(t), a, store.AddUsageParams{BotID: bot.ID, Day: t0, TokensIn: 11, TokensOut: 22}); err != nil {
		t.Fatal(err)
	}
	reserve := func(scope palisade.Scope, id palisade.BotID, tokens, minimum int64, now time.Time) store.Reservation {
		t.Helper()
		r, err := s.ReserveUsage(ctx(t), scope, store.ReserveUsageParams{BotID: id, Day: t0, Budget: 1000, Tokens: tokens, Min: minimum,
			Now: now, ExpiresAt: now.Add(10 * time.Minute)})
		if err != nil {
			t.Fatalf("ReserveUsage(%d, %d): %v", tokens, minimum, err)
		}
		if (r.Tokens == 0) != (r.ID == "") {
			t.Fatalf("reservation %+v: an id without tokens or tokens without an id", r)
		}
		return r
	}
	// Another workspace's reservations and spending never count here.
	if r := reserve(b, other.ID, 1000, 1000, t0); r.Tokens != 1000 {
		t.Fatalf("workspace B's reservation = %+v", r)
	}
	first := reserve(a, bot.ID, 600, 100, t0)
	if first.Tokens != 600 {
		t.Fatalf("first reservation = %+v, want 600", first)
	}
	// 1000 - 33 spent - 600 held = 367 left: granted, cut down.
	if r := reserve(a, bot.ID, 600, 100, t0); r.Tokens != 367 {
		t.Fatalf("second reservation = %+v, want 367", r)
	}
	if r := reserve(a, bot.ID, 600, 1, t0); r.Tokens != 0 {
		t.Fatalf("reservation past the budget = %+v", r)
	}
	// Releasing the first with its real usage frees the rest of it.
	if err := s.AddUsage(ctx(t), a, store.AddUsageParams{BotID: bot.ID, Day: t0, TokensIn: 10, TokensOut: 20, Reservation: first.ID}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UsageOn(ctx(t), a, bot.ID, t0); u.Requests != 2 || u.TokensIn+u.TokensOut != 63 {
		t.Fatalf("usage after release = %+v", u)
	}
	// 1000 - 63 - 367 = 570 left.
	if r := reserve(a, bot.ID, 600, 600, t0); r.Tokens != 0 {
		t.Fatalf("reservation above what is left = %+v", r)
	}
	if r := reserve(a, bot.ID, 600, 570, t0); r.Tokens != 570 {
		t.Fatalf("reservation of exactly what is left = %+v", r)
	}
	// Expired reservations no longer count; the next day starts empty.
	if r := reserve(a, bot.ID, 900, 900, t0.Add(11*time.Minute)); r.Tokens != 900 {
		t.Fatalf("reservation after the others expired = %+v", r)
	}
	r, err := s.ReserveUsage(ctx(t), a, store.ReserveUsageParams{BotID: bot.ID, Day: t0.Add(24 * time.Hour), Budget: 1000, Tokens: 1000, Min: 1000,
		Now: t0, ExpiresAt: t0.Add(time.Minute)})
	if err != nil || r.Tokens != 1000 {
		t.Fatalf("next day's reservation = %+v, %v", r, err)
	}
	for _, p := range []store.ReserveUsageParams{{BotID: bot.ID, Budget: 0, Tokens: 1, Min: 1}, {BotID: bot.ID, Budget: 10, Tokens: 1, Min: 2},
		{BotID: bot.ID, Budget: 10, Tokens: 1, Min: 0}} {
		if _, err := s.ReserveUsage(ctx(t), a, p); err == nil {
			t.Errorf("ReserveUsage(%+v) accepted", p)
		}
	}
	_, err = s.ReserveUsage(ctx(t), palisade.Scope{}, store.ReserveUsageParams{BotID: bot.ID, Budget: 10, Tokens: 1, Min: 1})
	wantErr(t, err, store.ErrNoScope, "ReserveUsage without scope")
}

// testUsageReservationsConcurrent: many calls reserving at once, as from
// several gateway processes, are never granted more than the budget.
func testUsageReservationsConcurrent(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	bot := mustBot(t, s, a, "bot")
	const n, each, budget = 24, 100, 1000
	var (
		wg      sync.WaitGroup
		granted atomic.Int64
		fails   atomic.Int64
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := s.ReserveUsage(ctx(t), a, store.ReserveUsageParams{BotID: bot.ID, Day: t0, Budget: budget, Tokens: each, Min: each,
				Now: t0, ExpiresAt: t0.Add(time.Minute)})
			if err != nil {
				fails.Add(1)
				t.Errorf("ReserveUsage: %v", err)
				return
			}
			granted.Add(r.Tokens)
		}()
	}
	close(start)
	wg.Wait()
	if fails.Load() == 0 && granted.Load() != budget {
		t.Fatalf("%d concurrent reservations of %d granted %d tokens of a budget of %d", n, each, granted.Load(), budget)
	}
}

// testGatewayNonces: a nonce is new once until it expires, and pruning
// removes only expired ones.
func testGatewayNonces(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	claim := func(nonce string, now time.Time) bool {
		t.Helper()
		ok, err := s.ClaimGatewayNonce(ctx(t), nonce, now, now.Add(2*time.Minute))
		if err != nil {
			t.Fatalf("ClaimGatewayNonce: %v", err)
		}
		return ok
	}
	if !claim("n1", t0) || !claim("n2", t0.Add(time.Minute)) {
		t.Fatal("fresh nonces refused")
	}
	if claim("n1", t0.Add(time.Minute)) || claim("n2", t0.Add(2*time.Minute)) {
		t.Fatal("a nonce was claimed twice within its window")
	}
	// n1 expired at t0+2m: it may be claimed afresh.
	if !claim("n1", t0.Add(2*time.Minute)) {
		t.Fatal("an expired nonce cannot be claimed again")
	}
	n, err := s.PruneGatewayNonces(ctx(t), t0.Add(3*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneGatewayNonces = %d, %v; want 1 (n2)", n, err)
	}
	if claim("n1", t0.Add(3*time.Minute)) {
		t.Fatal("pruning removed an unexpired nonce")
	}
}
