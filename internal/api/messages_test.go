package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestSendMessageOnlyIntoAPIConversations: a message sent by conversation
// id continues that conversation as its own user, and only a
// conversation of the api channel: a chat platform's user speaks for
// themselves. A conversation deleted is gone with its transcript.
func TestSendMessageOnlyIntoAPIConversations(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	tn := w.tenant(t)
	tg, err := w.store.OpenConversation(t.Context(), tn.scope, store.OpenConversationParams{BotID: tn.bot,
		Key: "agent:" + string(tn.bot) + ":telegram:dm:555", Channel: "telegram", ExternalUser: "555", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := w.call(t, http.MethodPost, "/api/v1/conversations/"+string(tg.ID)+"/messages", tn.key, `{"message":"hi"}`); code != http.StatusConflict {
		t.Fatalf("into a Telegram conversation: %d %v", code, out)
	}
	code, out := w.call(t, http.MethodPost, "/api/v1/conversations/"+string(tn.conv)+"/messages", tn.key, `{"message":"When do you close?"}`)
	if code != http.StatusOK || out["conversation_id"] != string(tn.conv) || out["reply"] == "" {
		t.Fatalf("into the API conversation: %d %v", code, out)
	}
	// The same user through /chat lands in the same conversation.
	if code, out := w.call(t, http.MethodPost, "/api/v1/bots/"+string(tn.bot)+"/chat", tn.key, `{"user_id":"alice","message":"Thanks"}`); code != http.StatusOK ||
		out["conversation_id"] != string(tn.conv) {
		t.Fatalf("chat as the same user: %d %v", code, out)
	}
	transcript := w.walk(t, tn.key, "/api/v1/conversations/"+string(tn.conv)+"/messages", 50)
	if n := len(transcript); n != 6 {
		t.Fatalf("transcript of %d messages, want 6", n)
	}
	// Each answer carries the sources it cited, as stored with it; a
	// question carries none.
	for _, m := range transcript {
		if sources, ok := m["sources"].([]any); !ok || (m["role"] == palisade.MessageUser && len(sources) != 0) {
			t.Fatalf("message sources: %v", m)
		}
	}
	if first := transcript[1]["sources"].([]any); transcript[1]["role"] != palisade.MessageAssistant || len(first) == 0 ||
		first[0].(map[string]any)["title"] != "Hours" {
		t.Fatalf("the first answer's sources: %v", transcript[1])
	}
	for _, body := range []string{`{"message":""}`, `{"message":"x","stream":"yes"}`} {
		if code, out := w.call(t, http.MethodPost, "/api/v1/conversations/"+string(tn.conv)+"/messages", tn.key, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
	if code, _ := w.call(t, http.MethodDelete, "/api/v1/conversations/"+string(tn.conv), tn.key, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	deleted := w.walk(t, tn.key, "/api/v1/audit?action=conversation.deleted", 10)
	if len(deleted) != 1 || deleted[0]["target"] != string(tn.conv) || deleted[0]["actor"] != string(tn.keyID) {
		t.Fatalf("the deletion is not audited: %v", deleted)
	}
	for _, path := range []string{"/api/v1/conversations/" + string(tn.conv), "/api/v1/conversations/" + string(tn.conv) + "/messages"} {
		if code, _ := w.call(t, http.MethodGet, path, tn.key, ""); code != http.StatusNotFound {
			t.Fatalf("%s after delete: %d", path, code)
		}
	}
	// Reading conversations is not deleting them.
	reader := w.keyWith(t, tn, "conversations:read")
	if code, _ := w.call(t, http.MethodDelete, "/api/v1/conversations/"+string(tg.ID), reader, ""); code != http.StatusForbidden {
		t.Fatalf("delete with conversations:read: %d", code)
	}
}
