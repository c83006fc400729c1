package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// testConversationListing: keyset pages of conversations are newest first,
// never repeat or skip a row, honour every filter, and see nothing of
// another workspace; transcripts page by sequence number; deleting a
// conversation takes its messages with it.
func testConversationListing(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot1, bot2, other := mustBot(t, s, a, "a1"), mustBot(t, s, a, "a2"), mustBot(t, s, b, "b1")
	var all []palisade.Conversation
	for i := range 7 {
		bot, ch := bot1, "api"
		if i%3 == 2 {
			bot, ch = bot2, "telegram"
		}
		// Two conversations share each creation time, so the id decides.
		at := t0.Add(time.Duration(i/2) * time.Minute)
		c, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: fmt.Sprintf("agent:%s:%s:dm:u%d", bot.ID, ch, i),
			Channel: ch, ExternalUser: fmt.Sprint("u", i), Now: at})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	if _, err := s.OpenConversation(ctx(t), b, store.OpenConversationParams{BotID: other.ID, Key: "agent:b:api:dm:x", Channel: "api", Now: t0}); err != nil {
		t.Fatal(err)
	}
	page := func(p store.ListConversationsParams) []palisade.Conversation {
		t.Helper()
		var got []palisade.Conversation
		for range 20 {
			list, err := s.ListConversations(ctx(t), a, p)
			if err != nil {
				t.Fatalf("ListConversations(%+v): %v", p, err)
			}
			got = append(got, list...)
			if len(list) < p.Limit {
				return got
			}
			last := list[len(list)-1]
			p.After = &store.ConversationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		t.Fatal("listing never ended")
		return nil
	}
	got := page(store.ListConversationsParams{Limit: 2})
	if len(got) != len(all) {
		t.Fatalf("paged %d conversations, want %d", len(got), len(all))
	}
	seen := map[palisade.ConversationID]bool{}
	for i, c := range got {
		if seen[c.ID] || c.WorkspaceID != a.Workspace() {
			t.Fatalf("conversation %s repeated or foreign: %+v", c.ID, c)
		}
		seen[c.ID] = true
		if i > 0 {
			p := got[i-1]
			if c.CreatedAt.After(p.CreatedAt) || (c.CreatedAt.Equal(p.CreatedAt) && c.ID > p.ID) {
				t.Fatalf("order broken at %d: %v/%s after %v/%s", i, c.CreatedAt, c.ID, p.CreatedAt, p.ID)
			}
		}
	}
	if n := len(page(store.ListConversationsParams{BotID: bot2.ID, Limit: 1})); n != 2 {
		t.Fatalf("bot filter: %d conversations, want 2", n)
	}
	if n := len(page(store.ListConversationsParams{Channel: "telegram", Limit: 5})); n != 2 {
		t.Fatalf("channel filter: %d conversations, want 2", n)
	}
	if n := len(page(store.ListConversationsParams{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute), Limit: 3})); n != 4 {
		t.Fatalf("time window: %d conversations, want 4", n)
	}
	_, err := s.ListConversations(ctx(t), a, store.ListConversationsParams{BotID: other.ID})
	wantErr(t, err, store.ErrNotFound, "listing B's bot from A")

	// Transcript pages.
	conv := all[0]
	for i := range 5 {
		if _, err := s.AppendMessage(ctx(t), a, store.AppendMessageParams{ConversationID: conv.ID, Role: palisade.MessageUser,
			Body: fmt.Sprint("m", i), Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var bodies []string
	after := int64(0)
	for {
		msgs, err := s.ListMessagesAfter(ctx(t), a, conv.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			bodies = append(bodies, m.Body)
		}
		if len(msgs) < 2 {
			break
		}
		after = msgs[len(msgs)-1].Seq
	}
	if fmt.Sprint(bodies) != "[m0 m1 m2 m3 m4]" {
		t.Fatalf("transcript = %v", bodies)
	}
	if msgs, err := s.ListMessagesAfter(ctx(t), b, conv.ID, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("B read A's transcript: %v, %v", msgs, err)
	}
	wantErr(t, s.DeleteConversation(ctx(t), b, conv.ID), store.ErrNotFound, "B deletes A's conversation")
	if err := s.DeleteConversation(ctx(t), a, conv.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetConversation(ctx(t), a, conv.ID)
	wantErr(t, err, store.ErrNotFound, "deleted conversation")
	if msgs, err := s.ListMessagesAfter(ctx(t), a, conv.ID, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("messages outlived their conversation: %v, %v", msgs, err)
	}
	wantErr(t, s.DeleteConversation(ctx(t), a, conv.ID), store.ErrNotFound, "second delete")
}

// testIdempotency: a key is claimed once per workspace and principal; the
// completed response is kept sealed and read back; an expired record is
// replaced; a released claim can be claimed again.
func testIdempotency(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	p := store.ClaimIdempotencyParams{Principal: "key_a", Key: "k1", RequestHash: []byte{1, 2, 3}, Now: t0, ExpiresAt: t0.Add(time.Hour)}
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), a, p); err != nil || !ok {
		t.Fatalf("first claim: %v, %v", ok, err)
	}
	rec, ok, err := s.ClaimIdempotencyKey(ctx(t), a, p)
	if err != nil || ok || rec.Status != 0 || !bytes.Equal(rec.RequestHash, p.RequestHash) {
		t.Fatalf("second claim while in progress: %+v, %v, %v", rec, ok, err)
	}
	// Other principals and other workspaces have their own keys.
	other := p
	other.Principal = "key_b"
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), a, other); err != nil || !ok {
		t.Fatalf("other principal: %v, %v", ok, err)
	}
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), b, p); err != nil || !ok {
		t.Fatalf("other workspace: %v, %v", ok, err)
	}
	if err := s.CompleteIdempotencyKey(ctx(t), a, "key_a", "k1", 201, []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.CompleteIdempotencyKey(ctx(t), a, "key_a", "k1", 201, []byte(`{}`)), store.ErrNotFound, "completing twice")
	rec, ok, err = s.ClaimIdempotencyKey(ctx(t), a, p)
	if err != nil || ok || rec.Status != 201 || string(rec.Response) != `{"id":"x"}` {
		t.Fatalf("replay: %+v, %v, %v", rec, ok, err)
	}
	// The stored response is sealed, never plain.
	if n, err := s.CountSealedFields(ctx(t), a); err != nil || n != 1 {
		t.Fatalf("sealed fields = %d, %v; want the response", n, err)
	}
	// Expired: replaced by a new claim.
	later := p
	later.Now, later.ExpiresAt, later.RequestHash = t0.Add(2*time.Hour), t0.Add(3*time.Hour), []byte{9}
	if rec, ok, err := s.ClaimIdempotencyKey(ctx(t), a, later); err != nil || !ok || rec.Status != 0 {
		t.Fatalf("claim after expiry: %+v, %v, %v", rec, ok, err)
	}
	// Released: claimable again.
	if err := s.ReleaseIdempotencyKey(ctx(t), a, "key_b", "k1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), a, other); err != nil || !ok {
		t.Fatalf("claim after release: %v, %v", ok, err)
	}
	// Pruned once expired.
	if n, err := s.PruneExpired(ctx(t), t0.Add(48*time.Hour), 24*time.Hour); err != nil || n < 3 {
		t.Fatalf("PruneExpired = %d, %v", n, err)
	}
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), b, later); err != nil || !ok {
		t.Fatalf("claim after prune: %v, %v", ok, err)
	}
}

// testAuditFilters: the workspace listing filters by action, actor and
// time, and pages by seq under the filters.
func testAuditFilters(t *testing.T, open Opener) {
	clock := t0
	s := open(t, store.Options{Now: func() time.Time { return clock }})
	a := mustWS(t, s, "A")
	for i := range 6 {
		clock = t0.Add(time.Duration(i) * time.Minute)
		e := auditEntry("bot.created", fmt.Sprint("t", i), clock)
		if i%2 == 1 {
			e.Action = "bot.deleted"
		}
		if i >= 4 {
			e.Actor = "key_z"
		}
		if _, err := s.AppendAudit(ctx(t), a, e, testSeal); err != nil {
			t.Fatal(err)
		}
	}
	list := func(p store.ListAuditParams) []string {
		t.Helper()
		got, err := s.ListAudit(ctx(t), a, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.Target)
		}
		return out
	}
	if got := fmt.Sprint(list(store.ListAuditParams{Action: "bot.deleted"})); got != "[t5 t3 t1]" {
		t.Fatalf("action filter: %s", got)
	}
	if got := fmt.Sprint(list(store.ListAuditParams{Actor: "key_z"})); got != "[t5 t4]" {
		t.Fatalf("actor filter: %s", got)
	}
	if got := fmt.Sprint(list(store.ListAuditParams{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)})); got != "[t2 t1]" {
		t.Fatalf("time filter: %s", got)
	}
	if got := fmt.Sprint(list(store.ListAuditParams{Action: "bot.created", BeforeSeq: 5, Limit: 1})); got != "[t2]" {
		t.Fatalf("paged filter: %s", got)
	}
}
