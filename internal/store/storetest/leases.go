package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/store"
)

// testLeases: a lease is held by one owner at a time; the owner renews it,
// another takes it only once it expired (or was released), and
// concurrent acquirers of a free lease end with exactly one holder.
func testLeases(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	const ttl = 10 * time.Second
	const name = "discord-gateway:ch_one"

	if ok, err := s.AcquireLease(ctx(t), name, "proc-a", t0, ttl); err != nil || !ok {
		t.Fatalf("acquiring a free lease = %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx(t), name, "proc-b", t0.Add(ttl-time.Millisecond), ttl); err != nil || ok {
		t.Fatalf("acquiring a live lease of another owner = %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx(t), name, "proc-a", t0.Add(time.Second), ttl); err != nil || !ok {
		t.Fatalf("acquiring one's own lease again = %v, %v", ok, err)
	}
	// Renewal extends every live lease of the owner and names them.
	if ok, err := s.AcquireLease(ctx(t), "discord-gateway:ch_two", "proc-a", t0, ttl); err != nil || !ok {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx(t), "other:x", "proc-b", t0, ttl); err != nil || !ok {
		t.Fatal(err)
	}
	names, err := s.RenewLeases(ctx(t), "proc-a", t0.Add(5*time.Second), ttl)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"discord-gateway:ch_one", "discord-gateway:ch_two"}) {
		t.Fatalf("RenewLeases = %v, %v", names, err)
	}
	// Renewed to t0+15s: still held at t0+14s, taken over after.
	if ok, _ := s.AcquireLease(ctx(t), name, "proc-b", t0.Add(14*time.Second), ttl); ok {
		t.Fatal("a renewed lease was taken before it expired")
	}
	ls, err := s.ListLeases(ctx(t), "discord-gateway:", t0.Add(14*time.Second))
	if err != nil || len(ls) != 2 || ls[0].Name != name || ls[0].Owner != "proc-a" || !ls[0].ExpiresAt.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("ListLeases = %+v, %v", ls, err)
	}
	if ok, err := s.AcquireLease(ctx(t), name, "proc-b", t0.Add(15*time.Second), ttl); err != nil || !ok {
		t.Fatalf("taking over an expired lease = %v, %v", ok, err)
	}
	// The old owner's renewal no longer names it.
	names, err = s.RenewLeases(ctx(t), "proc-a", t0.Add(15*time.Second), ttl)
	if err != nil || slices.Contains(names, name) {
		t.Fatalf("RenewLeases after a take-over = %v, %v", names, err)
	}
	if ls, _ := s.ListLeases(ctx(t), "discord-gateway:", t0.Add(100*time.Second)); len(ls) != 0 {
		t.Fatalf("expired leases listed: %+v", ls)
	}
	// Release: only the owner's.
	if err := s.ReleaseLease(ctx(t), name, "proc-a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(ctx(t), name, "proc-c", t0.Add(16*time.Second), ttl); ok {
		t.Fatal("another owner's release freed the lease")
	}
	if err := s.ReleaseLease(ctx(t), name, "proc-b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx(t), name, "proc-c", t0.Add(16*time.Second), ttl); err != nil || !ok {
		t.Fatalf("acquiring a released lease = %v, %v", ok, err)
	}
	// A prefix is matched literally: '%' and '_' are no wildcards.
	if ls, _ := s.ListLeases(ctx(t), "discord%", t0.Add(16*time.Second)); len(ls) != 0 {
		t.Fatalf("a wildcard prefix matched %+v", ls)
	}

	// Concurrent acquirers of a free lease: exactly one holds it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AcquireLease(ctx(t), "discord-gateway:race", "racer-"+string(rune('a'+i)), t0, ttl)
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d racers hold the lease", winners)
	}
}

// testChannelsOfKind: a workspace's channels of one kind, and none of
// another workspace.
func testChannelsOfKind(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot1, bot2, botB := mustBot(t, s, a, "one"), mustBot(t, s, a, "two"), mustBot(t, s, b, "b")
	c1, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot1.ID, Kind: "discord", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot2.ID, Kind: "discord", Now: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot1.ID, Kind: "telegram", Now: t0}); err != nil {
		t.Fatal(err)
	}
	cb, err := s.CreateChannel(ctx(t), b, store.CreateChannelParams{BotID: botB.ID, Kind: "discord", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ListChannelsOfKind(ctx(t), a, "discord")
	if err != nil || len(got) != 2 || got[0].ID != c1.ID || got[1].ID != c2.ID {
		t.Fatalf("ListChannelsOfKind(A) = %+v, %v", got, err)
	}
	got, err = s.ListChannelsOfKind(ctx(t), b, "discord")
	if err != nil || len(got) != 1 || got[0].ID != cb.ID {
		t.Fatalf("ListChannelsOfKind(B) = %+v, %v", got, err)
	}
}
