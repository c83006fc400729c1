package conversation_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/palisade"
)

// TestPIIBeforeStorageStableAndHashedIDs: with before_storage and a PII
// key, a value keeps one placeholder in every message of its conversation
// (numbered by the store through a keyed hash, each message by its own
// Redactor), and a WhatsApp number or an e-mail address used as the user
// id is stored as a keyed hash that still finds the same conversation; no
// original value reaches the SQLite file (with its WAL) or the logs.
func TestPIIBeforeStorageStableAndHashedIDs(t *testing.T) {
	t.Parallel()
	s, path := openPlainSQLite(t)
	e := setupPII(t, s, palisade.PIIBeforeStorage)
	e.svc.PIIKey = []byte("a test key for personal data hashes")
	const phone, mailUser = "+447700900123", "carol@example.net"
	var convs []palisade.ConversationID
	for _, user := range []struct{ channel, id string }{{"whatsapp", phone}, {"api", mailUser}} {
		var conv palisade.ConversationID
		for i, text := range piiMessages {
			r, err := e.svc.Handle(t.Context(), e.scope, conversation.Inbound{BotID: e.bot.ID, Channel: user.channel, UserID: user.id,
				Text: text, InboundRef: fmt.Sprintf("%s-%d", user.channel, i)})
			if err != nil {
				t.Fatal(err)
			}
			if conv != "" && r.ConversationID != conv {
				t.Fatalf("message %d of %s opened another conversation", i, user.channel)
			}
			conv = r.ConversationID
		}
		c, err := e.store.GetConversation(t.Context(), e.scope, conv)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.ExternalUser, conversation.HashedPrefix) || strings.Contains(c.Key, user.id) {
			t.Fatalf("%s conversation stored key %q, user %q: want keyed hashes", user.channel, c.Key, c.ExternalUser)
		}
		convs = append(convs, conv)
	}
	if convs[0] == convs[1] {
		t.Fatal("two users share a conversation")
	}
	msgs, err := e.store.ListMessages(t.Context(), e.scope, convs[0], 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 6 {
		t.Fatalf("%d messages", len(msgs))
	}
	// The user's address is the first e-mail of the conversation and the
	// model's the second, in every message that holds them.
	if !strings.Contains(msgs[0].Body, "Mail me at [EMAIL_1]") || !strings.Contains(msgs[4].Body, "again, [EMAIL_1]") {
		t.Errorf("a repeated value got another placeholder: %q, %q", msgs[0].Body, msgs[4].Body)
	}
	for _, i := range []int{1, 3, 5} {
		if !strings.Contains(msgs[i].Body, "write to [EMAIL_2]") {
			t.Errorf("reply %d: %q; want the model's address as [EMAIL_2] every time", i, msgs[i].Body)
		}
	}
	forbidden := append([]string{leakedByModel, phone, "447700900123", mailUser}, piiValues...)
	assertAbsent(t, "logs", e.logs.Bytes(), forbidden...)
	// The workspace's export, which decrypts every message, holds the
	// placeholders and none of the values either.
	var exported bytes.Buffer
	if err := export.New(export.Options{Store: e.store}).Workspace(t.Context(), palisade.Caller{Scope: e.scope, Actor: "test"}, &exported); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, "export", exported.Bytes(), forbidden...)
	if !bytes.Contains(exported.Bytes(), []byte("[EMAIL_1]")) || !bytes.Contains(exported.Bytes(), []byte(`"complete": true`)) && !bytes.Contains(exported.Bytes(), []byte(`"complete":true`)) {
		t.Fatal("the export holds no placeholder or is incomplete: the search proves nothing")
	}
	raw := fileBytes(t, s, path)
	assertAbsent(t, "database file", raw, forbidden...)
	if !bytes.Contains(raw, []byte("[EMAIL_1]")) {
		t.Fatal("the file holds no placeholder: the search proves nothing")
	}
}
