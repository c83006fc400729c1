package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// walk follows next_cursor from path (which may carry filters) with
// limit, and returns every item in order. It fails on a repeated id.
func (w *world) walk(t *testing.T, key, path string, limit int) []map[string]any {
	t.Helper()
	return w.walkFrom(t, key, path, limit, "")
}

// walkFrom is walk starting at cursor.
func (w *world) walkFrom(t *testing.T, key, path string, limit int, cursor string) []map[string]any {
	t.Helper()
	var all []map[string]any
	seen := map[string]bool{}
	for range 100 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		u := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		code, out := w.call(t, http.MethodGet, u, key, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", u, code, out)
		}
		data, _ := out["data"].([]any)
		if len(data) > limit {
			t.Fatalf("GET %s: %d items, limit %d", u, len(data), limit)
		}
		for _, d := range data {
			item := d.(map[string]any)
			id := fmt.Sprint(item["id"])
			if seen[id] {
				t.Fatalf("GET %s: %s seen on an earlier page", path, id)
			}
			seen[id] = true
			all = append(all, item)
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			if out["next_cursor"] != nil {
				t.Fatalf("GET %s: next_cursor %v", u, out["next_cursor"])
			}
			return all
		}
		cursor = next
	}
	t.Fatalf("GET %s: the pages never end", path)
	return nil
}

func timeOf(t *testing.T, item map[string]any, field string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, fmt.Sprint(item[field]))
	if err != nil {
		t.Fatalf("%s of %v: %v", field, item, err)
	}
	return v
}

// TestPagination: every listing pages in a stable order with no item
// repeated or left out, under filters too; an item added between pages
// does not shift the pages still to come; a bad cursor or limit is a 400.
func TestPagination(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, w *world) {
		tn := w.tenant(t)
		botURL := "/api/v1/bots/" + string(tn.bot)
		for i := range 6 {
			if code, out := w.call(t, http.MethodPost, botURL+"/documents", tn.key,
				fmt.Sprintf(`{"title":"Doc %d","content_type":"text/plain","content":"Text number %d."}`, i, i)); code != http.StatusCreated {
				t.Fatalf("document %d: %d %v", i, code, out)
			}
			if code, out := w.call(t, http.MethodPost, botURL+"/chat", tn.key, fmt.Sprintf(`{"user_id":"user%d","message":"Hello"}`, i)); code != http.StatusOK {
				t.Fatalf("chat %d: %d %v", i, code, out)
			}
		}
		// Documents: oldest first.
		docs := w.walk(t, tn.key, botURL+"/documents", 3)
		if len(docs) != 7 {
			t.Fatalf("%d documents paged, want 7", len(docs))
		}
		for i := 1; i < len(docs); i++ {
			a, b := timeOf(t, docs[i-1], "created_at"), timeOf(t, docs[i], "created_at")
			if b.Before(a) || (b.Equal(a) && fmt.Sprint(docs[i]["id"]) < fmt.Sprint(docs[i-1]["id"])) {
				t.Fatalf("documents out of order at %d", i)
			}
		}
		// Conversations: newest first; one started between pages comes
		// before the cursor and leaves the later pages as they were.
		code, first := w.call(t, http.MethodGet, "/api/v1/conversations?limit=3", tn.key, "")
		if code != http.StatusOK || first["next_cursor"] == nil {
			t.Fatalf("first page: %d %v", code, first)
		}
		if code, out := w.call(t, http.MethodPost, botURL+"/chat", tn.key, `{"user_id":"latecomer","message":"Hi"}`); code != http.StatusOK {
			t.Fatalf("late chat: %d %v", code, out)
		}
		rest := w.walkFrom(t, tn.key, "/api/v1/conversations", 3, first["next_cursor"].(string))
		ids := map[string]bool{}
		for _, c := range append(first["data"].([]any), anySlice(rest)...) {
			id := fmt.Sprint(c.(map[string]any)["id"])
			if ids[id] {
				t.Fatalf("conversation %s twice", id)
			}
			ids[id] = true
		}
		if len(ids) != 7 {
			t.Fatalf("%d conversations over the pages, want the 7 there at the start", len(ids))
		}
		all := w.walk(t, tn.key, "/api/v1/conversations", 2)
		if len(all) != 8 || all[0]["user_id"] != "latecomer" {
			t.Fatalf("conversations: %d, first %v", len(all), all[0])
		}
		for i := 1; i < len(all); i++ {
			if timeOf(t, all[i], "created_at").After(timeOf(t, all[i-1], "created_at")) {
				t.Fatalf("conversations out of order at %d", i)
			}
		}
		if n := len(w.walk(t, tn.key, "/api/v1/conversations?channel=api&bot_id="+string(tn.bot), 5)); n != 8 {
			t.Fatalf("filtered conversations: %d", n)
		}
		if n := len(w.walk(t, tn.key, "/api/v1/conversations?bot_id="+string(tn.bare), 5)); n != 0 {
			t.Fatalf("the bare bot's conversations: %d", n)
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if n := len(w.walk(t, tn.key, "/api/v1/conversations?since="+future, 5)); n != 0 {
			t.Fatalf("conversations active after an hour from now: %d", n)
		}
		if n := len(w.walk(t, tn.key, "/api/v1/conversations?until="+future, 5)); n != 8 {
			t.Fatalf("conversations active before an hour from now: %d", n)
		}
		// A transcript: oldest first, by sequence number.
		convURL := "/api/v1/conversations/" + string(tn.conv)
		for i := range 3 {
			if code, out := w.call(t, http.MethodPost, convURL+"/messages", tn.key, fmt.Sprintf(`{"message":"Question %d"}`, i)); code != http.StatusOK ||
				out["conversation_id"] != string(tn.conv) {
				t.Fatalf("message %d: %d %v", i, code, out)
			}
		}
		msgs := w.walk(t, tn.key, convURL+"/messages", 1)
		if len(msgs) != 8 || msgs[0]["role"] != palisade.MessageUser || msgs[0]["text"] != "When do you open?" || msgs[6]["text"] != "Question 2" {
			t.Fatalf("transcript: %d messages %v", len(msgs), msgs)
		}
		for i, m := range msgs {
			if m["seq"] != float64(i+1) {
				t.Fatalf("transcript seq %v at %d", m["seq"], i)
			}
		}
		// The audit log: newest first, filtered.
		entries := w.walk(t, tn.key, "/api/v1/audit", 2)
		for i := 1; i < len(entries); i++ {
			if entries[i]["seq"].(float64) >= entries[i-1]["seq"].(float64) {
				t.Fatalf("audit out of order at %d", i)
			}
		}
		added := w.walk(t, tn.key, "/api/v1/audit?action=document.added&actor="+string(tn.keyID), 4)
		if len(added) != 7 {
			t.Fatalf("document.added entries: %d", len(added))
		}
		if n := len(w.walk(t, tn.key, "/api/v1/audit?since="+future, 4)); n != 0 {
			t.Fatalf("audit entries in the future: %d", n)
		}
		// Small lists page the same way.
		for _, path := range []string{"/api/v1/bots", "/api/v1/keys", "/api/v1/provider-keys", botURL + "/channels"} {
			if n := len(w.walk(t, tn.key, path, 1)); n < 1 {
				t.Fatalf("%s: nothing listed", path)
			}
		}

		// Bad cursors and limits.
		_, docsPage := w.call(t, http.MethodGet, botURL+"/documents?limit=1", tn.key, "")
		docCursor := docsPage["next_cursor"].(string)
		raw, _ := base64.RawURLEncoding.DecodeString(docCursor)
		tampered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"i":"doc_`, `"i":"doc_'`, 1)))
		for _, q := range []string{
			"/api/v1/conversations?cursor=not-a-cursor",
			"/api/v1/conversations?cursor=" + url.QueryEscape(docCursor), // another list's
			botURL + "/documents?cursor=" + tampered,
			botURL + "/documents?cursor=" + strings.Repeat("A", 400),
			"/api/v1/audit?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"audit","s":-4}`)),
			"/api/v1/conversations?limit=0", "/api/v1/conversations?limit=201", "/api/v1/conversations?limit=ten",
			"/api/v1/conversations?since=yesterday", "/api/v1/conversations?bot_id=bot_nope",
			"/api/v1/audit?action=" + url.QueryEscape("x' OR 1=1"),
		} {
			code, out := w.call(t, http.MethodGet, q, tn.key, "")
			if c, _, _ := errField(out); code != http.StatusBadRequest || c != "invalid" {
				t.Errorf("GET %s: %d %v, want 400", q, code, out)
			}
		}
	})
}

func anySlice(items []map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

// TestMalformedQueryRunsNoQuery: a malformed id, cursor, time or limit in
// a listing's query is refused before the handler reads anything: the
// request runs no more queries than authenticating its key does.
func TestMalformedQueryRunsNoQuery(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	tn := w.tenant(t)
	count := func(path string) int64 {
		t.Helper()
		before := w.queries.Load()
		if code, out := w.call(t, http.MethodGet, path, tn.key, ""); code != http.StatusBadRequest {
			t.Fatalf("GET %s: %d %v", path, code, out)
		}
		return w.queries.Load() - before
	}
	// Authentication alone: the limit is refused before anything else.
	auth := count("/api/v1/conversations?limit=0")
	for _, path := range []string{
		"/api/v1/conversations?bot_id=bot_short",
		"/api/v1/conversations?bot_id=" + url.QueryEscape("bot_aaaaaaaaaaaaaaaaaaaaaaaaa' OR '1'='1"),
		"/api/v1/conversations?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"conversations","i":"conv_x"}`)),
		"/api/v1/conversations?until=tomorrow",
		"/api/v1/conversations?channel=" + url.QueryEscape("api'--"),
		"/api/v1/audit?actor=" + url.QueryEscape("key_x; DROP TABLE audit_log"),
		"/api/v1/bots/" + string(tn.bot) + "/documents?cursor=%%",
	} {
		if n := count(path); n != auth {
			t.Errorf("GET %s ran %d queries, authenticating runs %d", path, n, auth)
		}
	}
}
