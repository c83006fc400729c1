package storetest

import (
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// testRetention: PruneAll deletes the messages older than the retention
// of their bot (its own, or else its workspace's) and the conversations
// whose last message is; newer messages, and another workspace's, stay.
func testRetention(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	// A keeps 30 days; B keeps the default 90.
	if err := s.SetWorkspaceRetention(ctx(t), a, 30); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{0, -1, 3651} {
		if err := s.SetWorkspaceRetention(ctx(t), a, bad); err == nil {
			t.Fatalf("SetWorkspaceRetention(%d) accepted", bad)
		}
	}
	wantErr(t, s.SetWorkspaceRetention(ctx(t), palisade.ScopeFor(palisade.NewWorkspaceID()), 10), store.ErrNotFound, "unknown workspace")
	if w, err := s.GetWorkspace(ctx(t), a); err != nil || w.RetentionDays != 30 {
		t.Fatalf("workspace = %+v, %v; want 30 days", w, err)
	}
	inherit := mustBot(t, s, a, "inherits")
	own := mustBot(t, s, a, "own")
	own.RetentionDays = 5
	if _, err := s.UpdateBot(ctx(t), a, own); err != nil {
		t.Fatal(err)
	}
	other := mustBot(t, s, b, "b")
	now := t0.Add(365 * 24 * time.Hour)
	day := 24 * time.Hour

	type conv struct {
		scope palisade.Scope
		bot   palisade.BotID
		key   string
		ages  []time.Duration // of its messages, oldest first
	}
	convs := map[string]conv{
		// Every message past A's 30 days: the conversation goes.
		"old":   {a, inherit.ID, "old", []time.Duration{40 * day, 31 * day}},
		"mixed": {a, inherit.ID, "mixed", []time.Duration{45 * day, 29 * day}},
		// The bot's own 5 days win over the workspace's 30.
		"own": {a, own.ID, "own", []time.Duration{10 * day, 4 * day}},
		// B keeps 90 days.
		"b": {b, other.ID, "b", []time.Duration{80 * day}},
	}
	ids := map[string]palisade.ConversationID{}
	for name, c := range convs {
		cv, err := s.OpenConversation(ctx(t), c.scope, store.OpenConversationParams{BotID: c.bot, Key: c.key, Channel: "api", Now: now.Add(-c.ages[0])})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = cv.ID
		for i, age := range c.ages {
			// Every message cites a source, so the sources' going with
			// their messages is counted too.
			if _, err := s.AppendMessage(ctx(t), c.scope, store.AppendMessageParams{ConversationID: cv.ID, Role: "user",
				Body: name + string(rune('0'+i)), Sources: []palisade.MessageSource{{Title: "t", Excerpt: name}}, Now: now.Add(-age)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := s.PruneAll(ctx(t), now, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows("messages") != 4 || r.Rows("conversations") != 1 {
		t.Fatalf("PruneAll = %+v; want 4 messages and 1 conversation", r)
	}
	left := func(name string) []string {
		t.Helper()
		c := convs[name]
		ms, err := s.ListMessages(ctx(t), c.scope, ids[name], 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Body)
		}
		return out
	}
	if _, err := s.GetConversation(ctx(t), a, ids["old"]); err == nil {
		t.Fatal("a conversation past its retention was kept")
	}
	if got := left("mixed"); len(got) != 1 || got[0] != "mixed1" {
		t.Fatalf("mixed conversation kept %q; want only the newer message", got)
	}
	if got := left("own"); len(got) != 1 || got[0] != "own1" {
		t.Fatalf("bot with its own retention kept %q; want only the 4-day-old message", got)
	}
	if got := left("b"); len(got) != 1 {
		t.Fatalf("B's message within its 90 days was pruned: %q", got)
	}
	// The cited sources went with their messages: only the three messages
	// kept still hold any.
	cited := 0
	for _, sc := range []palisade.Scope{a, b} {
		err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: sc.Workspace()}, func(tx sqlstore.Tx) error {
			var n int
			err := tx.QueryRow(ctx(t), `SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND sealed_sources IS NOT NULL`, string(sc.Workspace())).Scan(&n)
			cited += n
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if cited != 3 {
		t.Fatalf("%d messages hold sources after pruning; want the 3 kept", cited)
	}
	for _, name := range []string{"mixed", "own", "b"} {
		ms, err := s.ListMessages(ctx(t), convs[name].scope, ids[name], 100)
		if err != nil || len(ms) != 1 || len(ms[0].Sources) != 1 || ms[0].Sources[0].Excerpt != name {
			t.Fatalf("the kept message of %s = %+v, %v", name, ms, err)
		}
	}
	// Nothing more to do a second time.
	if r, err := s.PruneAll(ctx(t), now, 48*time.Hour); err != nil || r.Rows("messages") != 0 || r.Rows("conversations") != 0 {
		t.Fatalf("second PruneAll = %+v, %v", r, err)
	}
}

// testPruneSessions: expired and revoked sessions are deleted, a live one
// stays.
func testPruneSessions(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	u := mustUser(t, s, "sessions-prune@example.com")
	mk := func(h byte, exp time.Time) palisade.Session {
		x, err := s.CreateSession(ctx(t), store.CreateSessionParams{UserID: u.ID, TokenHash: []byte{h, 7, 7}, Now: t0.Add(-time.Hour), ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	mk(1, t0)
	revoked := mk(2, t0.Add(time.Hour))
	mk(3, t0.Add(time.Hour))
	if err := s.RevokeSession(ctx(t), u.ID, revoked.ID, t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := s.PruneAll(ctx(t), t0, 48*time.Hour)
	if err != nil || r.Rows("sessions") != 2 {
		t.Fatalf("PruneAll = %+v, %v; want 2 sessions", r, err)
	}
	for h, want := range map[byte]bool{1: false, 2: false, 3: true} {
		_, err := s.GetSessionByHash(ctx(t), []byte{h, 7, 7})
		if (err == nil) != want {
			t.Errorf("session %d: found = %v, want %v", h, err == nil, want)
		}
	}
}

// testExpiryBoundary: short-lived records stop working at their expiry,
// before any prune has run: a one-time token, an invitation, a known
// device and an idempotency record are refused (or replaced) at exactly
// their expiry time and still honoured a moment before it.
func testExpiryBoundary(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a := mustWS(t, s, "A")
	exp := t0.Add(time.Hour)
	before := exp.Add(-time.Millisecond)

	// One-time tokens: two alike, one consumed just before, one at expiry.
	for i, at := range []time.Time{before, exp} {
		h := []byte{42, byte(i)}
		if err := s.CreateOneTimeToken(ctx(t), store.CreateTokenParams{Purpose: palisade.TokenResetPassword, Hash: h, Now: t0, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		_, err := s.ConsumeOneTimeToken(ctx(t), palisade.TokenResetPassword, h, at)
		if (err == nil) != at.Before(exp) {
			t.Fatalf("reset token consumed at %v: %v", at.Sub(exp), err)
		}
	}

	// Invitations: accepted just before expiry, refused at it.
	for i, at := range []time.Time{before, exp} {
		u := mustUser(t, s, string(rune('a'+i))+"-expiry@example.com")
		inv, err := s.CreateInvitation(ctx(t), a, store.CreateInvitationParams{Email: u.Email, Role: palisade.RoleViewer,
			TokenHashHex: string(rune('a'+i)) + "0ff1ce", Now: t0, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.AcceptInvitation(ctx(t), a, inv.ID, u.ID, at)
		if (err == nil) != at.Before(exp) {
			t.Fatalf("invitation accepted at %v: %v", at.Sub(exp), err)
		}
	}

	// Known devices.
	u := mustUser(t, s, "device-expiry@example.com")
	if err := s.CreateDevice(ctx(t), store.CreateDeviceParams{UserID: u.ID, Hash: []byte{5, 5}, Now: t0, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDevice(ctx(t), []byte{5, 5}, before); err != nil {
		t.Fatalf("device before expiry: %v", err)
	}
	_, err := s.GetDevice(ctx(t), []byte{5, 5}, exp)
	wantErr(t, err, store.ErrNotFound, "device at expiry")

	// Idempotency records: replayed before expiry, a fresh claim at it.
	claim := func(at time.Time, hash byte) bool {
		t.Helper()
		_, claimed, err := s.ClaimIdempotencyKey(ctx(t), a, store.ClaimIdempotencyParams{Principal: "key_x", Key: "k", RequestHash: []byte{hash},
			Now: at, ExpiresAt: at.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return claimed
	}
	if !claim(t0, 1) {
		t.Fatal("first claim not claimed")
	}
	if claim(t0.Add(time.Hour-time.Millisecond), 1) {
		t.Fatal("an idempotency record was replaced before its expiry")
	}
	if !claim(t0.Add(time.Hour), 2) {
		t.Fatal("an expired idempotency record was still replayed")
	}
}

// testPlaceholders: a redacted value keeps its number in its
// conversation; numbers are per kind and per conversation; another
// workspace's conversation reads as not found.
func testPlaceholders(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot, other := mustBot(t, s, a, "a"), mustBot(t, s, b, "b")
	c1, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: "one", Channel: "api", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: "two", Channel: "api", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := s.OpenConversation(ctx(t), b, store.OpenConversationParams{BotID: other.ID, Key: "b", Channel: "api", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	num := func(sc palisade.Scope, c palisade.ConversationID, kind string, mac byte) int {
		t.Helper()
		n, err := s.PlaceholderNumber(ctx(t), sc, c, kind, []byte{mac, 1, 2})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		c    palisade.ConversationID
		kind string
		mac  byte
		want int
	}{
		{c1.ID, "EMAIL", 1, 1}, {c1.ID, "EMAIL", 2, 2}, {c1.ID, "EMAIL", 1, 1}, {c1.ID, "PHONE", 1, 1},
		{c2.ID, "EMAIL", 2, 1}, {c1.ID, "EMAIL", 3, 3}, {c1.ID, "EMAIL", 2, 2},
	} {
		if got := num(a, tc.c, tc.kind, tc.mac); got != tc.want {
			t.Fatalf("number of %s %d in %s = %d, want %d", tc.kind, tc.mac, tc.c, got, tc.want)
		}
	}
	_, err = s.PlaceholderNumber(ctx(t), a, cb.ID, "EMAIL", []byte{9})
	wantErr(t, err, store.ErrNotFound, "another workspace's conversation")
	if got := num(b, cb.ID, "EMAIL", 1); got != 1 {
		t.Fatalf("B's first number = %d", got)
	}
}
