package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

func testConversations(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot, other := mustBot(t, s, a, "a1"), mustBot(t, s, b, "b1")
	key := "agent:" + string(bot.ID) + ":api:dm:alice"

	c, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: key, Channel: "api", ExternalUser: "alice", Now: t0})
	if err != nil || c.BotID != bot.ID || c.Key != key || c.Channel != "api" || c.ExternalUser != "alice" || !c.CreatedAt.Equal(t0) {
		t.Fatalf("OpenConversation = %+v, %v", c, err)
	}
	again, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: key, Channel: "api", ExternalUser: "alice", Now: t0.Add(time.Hour)})
	if err != nil || again.ID != c.ID {
		t.Fatalf("second OpenConversation = %+v, %v; want the same conversation", again, err)
	}
	bob, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: key[:len(key)-5] + "bob", Channel: "api", Now: t0})
	if err != nil || bob.ID == c.ID {
		t.Fatalf("other key = %+v, %v; want a new conversation", bob, err)
	}
	// Another workspace's bot is not found; a key is never handed to
	// another bot.
	_, err = s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: other.ID, Key: "k", Channel: "api", Now: t0})
	wantErr(t, err, store.ErrNotFound, "conversation for B's bot from A")
	bot2 := mustBot(t, s, a, "a2")
	_, err = s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot2.ID, Key: key, Channel: "api", Now: t0})
	wantErr(t, err, store.ErrConflict, "key of one bot opened for another")

	// Messages written in the same instant keep their order.
	bodies := []string{"first", "second", "third"}
	for i, body := range bodies {
		role := palisade.MessageUser
		if i%2 == 1 {
			role = palisade.MessageAssistant
		}
		m, err := s.AppendMessage(ctx(t), a, store.AppendMessageParams{ConversationID: c.ID, Role: role, Body: body,
			InboundRef: "", TokensIn: int64(i), Now: t0.Add(time.Minute)})
		if err != nil || m.Seq != int64(i+1) || m.BotID != bot.ID || !palisade.ValidID(palisade.PrefixMessage, string(m.ID)) {
			t.Fatalf("AppendMessage %d = %+v, %v", i, m, err)
		}
	}
	msgs, err := s.ListMessages(ctx(t), a, c.ID, 10)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("ListMessages = %+v, %v", msgs, err)
	}
	for i, m := range msgs {
		if m.Body != bodies[i] || m.TokensIn != int64(i) || !m.CreatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("message %d = %+v", i, m)
		}
	}
	if msgs, _ := s.ListMessages(ctx(t), a, c.ID, 2); len(msgs) != 2 || msgs[0].Body != "second" ||
		msgs[1].Body != "third" {
		t.Fatalf("last two messages = %+v", msgs)
	}
	if got, err := s.GetConversation(ctx(t), a, c.ID); err != nil || !got.LastMessageAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("GetConversation = %+v, %v", got, err)
	}

	// A retried inbound delivery is stored once per role.
	ref := store.AppendMessageParams{ConversationID: bob.ID, Role: palisade.MessageUser, Body: "hi", InboundRef: "tg:42", Now: t0}
	if _, err := s.AppendMessage(ctx(t), a, ref); err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendMessage(ctx(t), a, ref)
	wantErr(t, err, store.ErrConflict, "duplicate inbound message")
	_, err = s.FindMessageByRef(ctx(t), a, bob.ID, palisade.MessageAssistant, "tg:42")
	wantErr(t, err, store.ErrNotFound, "reply before it exists")
	ref.Role = palisade.MessageAssistant
	ref.Body = "hello bob"
	if _, err := s.AppendMessage(ctx(t), a, ref); err != nil {
		t.Fatalf("reply to the inbound message: %v", err)
	}
	m, err := s.FindMessageByRef(ctx(t), a, bob.ID, palisade.MessageAssistant, "tg:42")
	if err != nil || m.Body != "hello bob" {
		t.Fatalf("FindMessageByRef = %+v, %v", m, err)
	}
	// The body is sealed in the database, never in clear.
	if raw := rawGet(t, s, a.Workspace(), "messages", "sealed_body", string(m.ID)); len(raw) == 0 || strings.Contains(string(raw), "hello bob") {
		t.Fatalf("message body stored in clear: %q", raw)
	}
	if len(m.Sources) != 0 || rawGet(t, s, a.Workspace(), "messages", "sealed_sources", string(m.ID)) != nil {
		t.Fatalf("an answer stored without sources has sources: %+v", m.Sources)
	}

	// An answer's cited sources are stored with it, sealed like its body,
	// and read back by every way of reading messages.
	cited := []palisade.MessageSource{{DocumentID: palisade.NewDocumentID(), Title: "Opening hours", Excerpt: "open daily from nine"},
		{DocumentID: palisade.NewDocumentID(), Title: "Prices", Excerpt: "tickets cost ten"}}
	withSources, err := s.AppendMessage(ctx(t), a, store.AppendMessageParams{ConversationID: bob.ID, Role: palisade.MessageAssistant,
		Body: "see the sources", InboundRef: "tg:43", Sources: cited, Now: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawGet(t, s, a.Workspace(), "messages", "sealed_sources", string(withSources.ID))
	if len(raw) == 0 || strings.Contains(string(raw), "open daily") || strings.Contains(string(raw), "Opening hours") {
		t.Fatalf("sources stored in clear: %q", raw)
	}
	if got, err := s.FindMessageByRef(ctx(t), a, bob.ID, palisade.MessageAssistant, "tg:43"); err != nil || !slices.Equal(got.Sources, cited) {
		t.Fatalf("FindMessageByRef sources = %+v, %v", got.Sources, err)
	}
	if msgs, err := s.ListMessages(ctx(t), a, bob.ID, 1); err != nil || len(msgs) != 1 || !slices.Equal(msgs[0].Sources, cited) {
		t.Fatalf("ListMessages = %+v, %v", msgs, err)
	}
	if msgs, err := s.ListMessagesAfter(ctx(t), a, bob.ID, withSources.Seq-1, 10); err != nil || len(msgs) != 1 || !slices.Equal(msgs[0].Sources, cited) {
		t.Fatalf("ListMessagesAfter = %+v, %v", msgs, err)
	}
	// Sealed values are bound to their row: another message's sources
	// copied over do not open.
	rawSet(t, s, a.Workspace(), "messages", "sealed_sources", string(m.ID), raw)
	if _, err := s.FindMessageByRef(ctx(t), a, bob.ID, palisade.MessageAssistant, "tg:42"); err == nil {
		t.Fatal("sources copied to another message opened")
	}
	rawSet(t, s, a.Workspace(), "messages", "sealed_sources", string(m.ID), nil)
	_, err = s.FindMessageByRef(ctx(t), b, bob.ID, palisade.MessageAssistant, "tg:42")
	wantErr(t, err, store.ErrNotFound, "A's reply from B")

	// Another workspace sees none of it.
	_, err = s.GetConversation(ctx(t), b, c.ID)
	wantErr(t, err, store.ErrNotFound, "A's conversation from B")
	_, err = s.AppendMessage(ctx(t), b, store.AppendMessageParams{ConversationID: c.ID, Role: palisade.MessageUser, Body: "x", Now: t0})
	wantErr(t, err, store.ErrNotFound, "append to A's conversation from B")
	if msgs, err := s.ListMessages(ctx(t), b, c.ID, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("A's messages from B = %+v, %v", msgs, err)
	}
	_, err = s.AppendMessage(ctx(t), a, store.AppendMessageParams{ConversationID: palisade.NewConversationID(), Role: palisade.MessageUser, Body: "x", Now: t0})
	wantErr(t, err, store.ErrNotFound, "append to unknown conversation")
}
