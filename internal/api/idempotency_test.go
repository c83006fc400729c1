package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestIdempotencyKeys: a creating POST sent again with the same
// Idempotency-Key and body replays the first answer byte for byte and
// creates nothing more; a different body under the same key is a 409; the
// key is the calling API key's own; a refused request leaves its key
// free; a malformed key is a 400.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, w *world) {
		tn := w.tenant(t)
		other, _ := w.allScopesKey(t, tn.scope, "")
		idem := func(key, idemKey, method, path, body string) (int, http.Header, []byte) {
			t.Helper()
			return w.raw(t, method, path, key, body, map[string]string{"Idempotency-Key": idemKey})
		}
		countBots := func() int {
			t.Helper()
			return len(w.walk(t, tn.key, "/api/v1/bots", 200))
		}
		before := countBots()
		code1, h1, body1 := idem(tn.key, "create-bot-1", http.MethodPost, "/api/v1/bots", `{"name":"Once"}`)
		code2, h2, body2 := idem(tn.key, "create-bot-1", http.MethodPost, "/api/v1/bots", `{"name":"Once"}`)
		if code1 != http.StatusCreated || code2 != http.StatusCreated || string(body1) != string(body2) {
			t.Fatalf("replay: %d %s / %d %s", code1, body1, code2, body2)
		}
		if h1.Get("Idempotent-Replayed") != "" || h2.Get("Idempotent-Replayed") != "true" || !strings.HasPrefix(h2.Get("Content-Type"), "application/json") {
			t.Fatalf("headers: first %v, replay %v", h1, h2)
		}
		if n := countBots(); n != before+1 {
			t.Fatalf("%d bots after a replayed create, want %d", n, before+1)
		}
		if code, _, body := idem(tn.key, "create-bot-1", http.MethodPost, "/api/v1/bots", `{"name":"Twice"}`); code != http.StatusConflict {
			t.Fatalf("same key, other body: %d %s", code, body)
		}
		if code, _, body := idem(tn.key, "create-bot-1", http.MethodPost, "/api/v1/bots/"+string(tn.bot)+"/documents",
			`{"name":"Once"}`); code != http.StatusConflict {
			t.Fatalf("same key, other route: %d %s", code, body)
		}
		// Another API key has keys of its own.
		code3, _, body3 := idem(other, "create-bot-1", http.MethodPost, "/api/v1/bots", `{"name":"Once"}`)
		if code3 != http.StatusCreated || string(body3) == string(body1) {
			t.Fatalf("another API key, same idempotency key: %d %s", code3, body3)
		}
		// A refused request is not stored: corrected, it goes through.
		if code, _, body := idem(tn.key, "fix-me", http.MethodPost, "/api/v1/bots", `{"name":""}`); code != http.StatusBadRequest {
			t.Fatalf("refused create: %d %s", code, body)
		}
		if code, _, body := idem(tn.key, "fix-me", http.MethodPost, "/api/v1/bots", `{"name":"Fixed"}`); code != http.StatusCreated {
			t.Fatalf("corrected create under the same key: %d %s", code, body)
		}
		// A key shown once is shown again only to a replay of its own
		// creation, from the store's sealed record.
		_, _, k1 := idem(tn.key, "new-key", http.MethodPost, "/api/v1/keys", `{"name":"ci","scopes":["bots:read"]}`)
		_, _, k2 := idem(tn.key, "new-key", http.MethodPost, "/api/v1/keys", `{"name":"ci","scopes":["bots:read"]}`)
		var nk1, nk2 map[string]any
		_ = json.Unmarshal(k1, &nk1)
		_ = json.Unmarshal(k2, &nk2)
		if nk1["key"] == nil || nk1["key"] != nk2["key"] || nk1["id"] != nk2["id"] {
			t.Fatalf("replayed key creation: %s / %s", k1, k2)
		}
		if n := len(w.walk(t, tn.key, "/api/v1/keys", 200)); n != 4 {
			t.Fatalf("%d keys, want 4 (two of the fixture, the other, one created)", n)
		}
		// A message sent twice under one key is answered once.
		convURL := "/api/v1/conversations/" + string(tn.conv)
		before = len(w.walk(t, tn.key, convURL+"/messages", 200))
		for range 2 {
			if code, _, body := idem(tn.key, "ask-once", http.MethodPost, convURL+"/messages", `{"message":"Are you open today?"}`); code != http.StatusOK {
				t.Fatalf("message: %d %s", code, body)
			}
		}
		if n := len(w.walk(t, tn.key, convURL+"/messages", 200)); n != before+2 {
			t.Fatalf("%d messages after a replayed send, want %d", n, before+2)
		}
		for _, bad := range []string{"has space", strings.Repeat("k", 256), "tab\there"} {
			if code, _, body := idem(tn.key, bad, http.MethodPost, "/api/v1/bots", `{"name":"Bad"}`); code != http.StatusBadRequest {
				t.Errorf("Idempotency-Key %q: %d %s", bad, code, body)
			}
		}
	})
}
