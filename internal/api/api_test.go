package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

type bundle struct {
	srv     *httptest.Server
	store   store.Store
	queries *atomic.Int64
	scope   palisade.Scope
}

func setup(t *testing.T) bundle {
	t.Helper()
	var n atomic.Int64
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { n.Add(1) }, Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	a := wire(t, s, botConfig{})
	h := httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return bundle{srv: srv, store: s, queries: &n, scope: palisade.ScopeFor(ws.ID)}
}

func (b bundle) key(t *testing.T, scopes ...string) string {
	t.Helper()
	plain, prefix, hash := auth.NewAPIKey()
	if _, err := b.store.CreateAPIKey(t.Context(), b.scope, store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash, Scopes: scopes, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return plain.Reveal()
}

func do(t *testing.T, method, url, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEveryWildcardIsAKnownID fails when a route carries a path parameter
// that the id check does not know.
func TestEveryWildcardIsAKnownID(t *testing.T) {
	t.Parallel()
	for _, rt := range (&api.API{}).Routes() {
		if !rt.Perm.Valid() {
			t.Errorf("%s %s: no valid permission declared", rt.Method, rt.Pattern)
		}
		for _, w := range palisade.PathWildcards(rt.Pattern) {
			if _, ok := palisade.PathParamPrefix(w); !ok {
				t.Errorf("%s %s: wildcard {%s} is not a known id kind", rt.Method, rt.Pattern, w)
			}
		}
	}
}

// TestMalformedIDRunsNoQuery: a malformed
// id in any path returns 404 without touching the database, even with a
// valid key (which itself would need a query).
func TestMalformedIDRunsNoQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := b.key(t, "bots:read")
	malformed := []string{"bot_short", "BOT_aaaaaaaaaaaaaaaaaaaaaaaaaa", "bot_aaaaaaaaaaaaaaaaaaaaaaaaa1", "ws_aaaaaaaaaaaaaaaaaaaaaaaaaa",
		"bot_aaaaaaaaaaaaaaaaaaaaaaaaaaa", "%27%20OR%201%3D1--", "bot_%00aaaaaaaaaaaaaaaaaaaaaaaaa", "..%2f..%2fetc"}
	routes := 0
	for _, rt := range (&api.API{}).Routes() {
		if len(palisade.PathWildcards(rt.Pattern)) == 0 {
			continue
		}
		routes++
		for _, bad := range malformed {
			path := rt.Pattern
			for _, w := range palisade.PathWildcards(rt.Pattern) {
				path = strings.Replace(path, "{"+w+"}", bad, 1)
			}
			before := b.queries.Load()
			resp := do(t, rt.Method, b.srv.URL+path, key)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 404 or 400", rt.Method, path, resp.StatusCode)
			}
			if d := b.queries.Load() - before; d != 0 {
				t.Errorf("%s %s: %d queries ran for a malformed id", rt.Method, path, d)
			}
		}
	}
	if routes == 0 {
		t.Fatal("no route with an id to test")
	}
	// The hook does count: a well-formed unknown id is looked up.
	before := b.queries.Load()
	resp := do(t, http.MethodGet, b.srv.URL+"/api/v1/bots/"+string(palisade.NewBotID()), key)
	if resp.StatusCode != http.StatusNotFound || b.queries.Load() == before {
		t.Fatalf("well-formed unknown id: status %d, queries %d", resp.StatusCode, b.queries.Load()-before)
	}
}

func TestBearerKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bot, err := b.store.CreateBot(t.Context(), b.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	good := b.key(t, "bots:read")
	noScope := b.key(t, "messages:send")
	url := b.srv.URL + "/api/v1/bots/" + string(bot.ID)

	resp := do(t, http.MethodGet, url, good)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("good key: %d, cache %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	var got map[string]any
	json.NewDecoder(resp.Body).Decode(&got)
	if got["name"] != "Helper" || got["id"] != string(bot.ID) {
		t.Fatalf("body %v", got)
	}
	if _, leaked := got["gateway_token_hash"]; leaked {
		t.Fatal("gateway token hash in response")
	}
	for name, key := range map[string]string{"none": "", "garbage": "pal_nope", "forged secret": good[:len(good)-4] + "AAAA"} {
		if resp := do(t, http.MethodGet, url, key); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s key: status %d", name, resp.StatusCode)
		}
	}
	if resp := do(t, http.MethodGet, url, noScope); resp.StatusCode != http.StatusForbidden {
		t.Errorf("key without bots:read: status %d", resp.StatusCode)
	}
	// Another workspace's key sees nothing of this one.
	other, _ := b.store.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "B", Now: time.Now()})
	ob := b
	ob.scope = palisade.ScopeFor(other.ID)
	if resp := do(t, http.MethodGet, url, ob.key(t, "bots:read")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other workspace's key: status %d, want 404", resp.StatusCode)
	}
	keys, _ := b.store.ListAPIKeys(t.Context(), b.scope)
	for _, k := range keys {
		if err := b.store.RevokeAPIKey(t.Context(), b.scope, k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if resp := do(t, http.MethodGet, url, good); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked key: status %d", resp.StatusCode)
	}
}

// TestRateLimitPerKeyAndClass: a key's flood of reads is refused with 429,
// Retry-After and RateLimit headers, while another key and the key's own
// message class are unaffected; the refusals are counted for the key's
// workspace's dashboard.
func TestRateLimitPerKeyAndClass(t *testing.T) {
	t.Parallel()
	b := setup(t)
	table := ratelimit.Defaults()
	if err := table.Set(ratelimit.ClassMgmtRead, "3/min"); err != nil {
		t.Fatal(err)
	}
	a := wire(t, b.store, botConfig{})
	a.Limiter, a.Limits = ratelimit.NewMemory(ratelimit.MemoryOptions{}), table
	refusals := conversation.NewRefusalCounter(b.store, nil, nil)
	a.OnRateLimited = refusals.Refused
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	defer srv.Close()
	k1, k2 := b.key(t, "bots:read"), b.key(t, "bots:read")
	for i := 0; i < 3; i++ {
		if resp := do(t, http.MethodGet, srv.URL+"/api/v1/bots", k1); resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit") == "" {
			t.Fatalf("request %d: %d, RateLimit %q", i, resp.StatusCode, resp.Header.Get("RateLimit"))
		}
	}
	resp := do(t, http.MethodGet, srv.URL+"/api/v1/bots", k1)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Policy") == "" {
		t.Fatalf("4th request: %d, Retry-After %q, policy %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Policy"))
	}
	if resp := do(t, http.MethodGet, srv.URL+"/api/v1/bots", k2); resp.StatusCode != http.StatusOK {
		t.Fatalf("another key was limited: %d", resp.StatusCode)
	}
	for range 4 {
		if resp := do(t, http.MethodGet, srv.URL+"/api/v1/bots", k1); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a later request: %d", resp.StatusCode)
		}
	}
	if err := refusals.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	days, err := (&conversation.Dashboard{Store: b.store}).Days(t.Context(), b.scope, 1)
	if err != nil || len(days) != 1 || days[0].RateLimited != 5 {
		t.Fatalf("activity = %+v, %v; want the 5 refusals counted", days, err)
	}
}

// TestExpiredKeyRefused: a key past its expiry is refused at once.
func TestExpiredKeyRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	plain, prefix, hash := auth.NewAPIKey()
	exp := time.Now().Add(-time.Second)
	if _, err := b.store.CreateAPIKey(t.Context(), b.scope, store.CreateAPIKeyParams{Name: "old", Prefix: prefix, Hash: hash,
		Scopes: []string{"bots:read"}, Now: time.Now().Add(-time.Hour), ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if resp := do(t, http.MethodGet, b.srv.URL+"/api/v1/bots", plain.Reveal()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired key: status %d", resp.StatusCode)
	}
}

// TestWorkspaceModelAllowlist: a workspace's own allowlist narrows the
// operator's for bots created or changed through the API.
func TestWorkspaceModelAllowlist(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := wire(t, b.store, botConfig{Models: []string{"m-small", "m-large"}})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	defer srv.Close()
	key := b.key(t, "bots:write")
	if err := b.store.SetWorkspaceModels(t.Context(), b.scope, []string{"m-small"}); err != nil {
		t.Fatal(err)
	}
	post := func(model string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/bots", strings.NewReader(`{"name":"x","model":"`+model+`"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("m-large"); code != http.StatusBadRequest {
		t.Fatalf("model the workspace does not allow: %d", code)
	}
	if code := post("m-small"); code != http.StatusCreated {
		t.Fatalf("allowed model: %d", code)
	}
}

// TestChangesAreAudited: bot changes through the API land in the
// workspace's audit chain, acting as the key.
func TestChangesAreAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := wire(t, b.store, botConfig{Audit: audit.New(b.store, audit.Options{})})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	defer srv.Close()
	key := b.key(t, "bots:write")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/bots", strings.NewReader(`{"name":"Audited"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var bot map[string]any
	json.NewDecoder(resp.Body).Decode(&bot)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	entries, err := b.store.ListAudit(t.Context(), b.scope, store.ListAuditParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Action != string(audit.ActionBotCreated) || entries[0].Target != bot["id"] || !strings.HasPrefix(entries[0].Actor, "key_") {
		t.Fatalf("audit entries = %+v", entries)
	}
	// The entry says where the key was used from.
	if entries[0].IP != "127.0.0.1" {
		t.Fatalf("audit entry's client IP = %q, want 127.0.0.1", entries[0].IP)
	}
}

// TestLastUsedRecorded: a key's first use records its last-used time.
func TestLastUsedRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := b.key(t, "bots:read")
	if resp := do(t, http.MethodGet, b.srv.URL+"/api/v1/bots", key); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	keys, err := b.store.ListAPIKeys(t.Context(), b.scope)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("last use not recorded: %+v, %v", keys, err)
	}
}

// TestDocumentIngestionHasItsOwnClass: adding documents through the API
// spends the ingestion budget, not the management writes: more documents
// than the write limit allows go through, the one past the ingestion limit
// is refused naming its class, and deleting one is still a management
// write.
func TestDocumentIngestionHasItsOwnClass(t *testing.T) {
	t.Parallel()
	b := setup(t)
	table := ratelimit.Defaults()
	if err := table.Set(ratelimit.ClassIngest, "8/min"); err != nil {
		t.Fatal(err)
	}
	a := wire(t, b.store, botConfig{})
	a.Limiter, a.Limits = ratelimit.NewMemory(ratelimit.MemoryOptions{}), table
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	defer srv.Close()
	key := b.key(t, "bots:write", "documents:write")
	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := call(http.MethodPost, "/api/v1/bots", `{"name":"Handbook"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("bot: %d", resp.StatusCode)
	}
	docs := strings.TrimPrefix(resp.Header.Get("Location"), srv.URL) + "/documents"
	for i := range 8 {
		if resp := call(http.MethodPost, docs, `{"title":"Page","content_type":"text/plain","content":"Chapter text."}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("document %d: %d", i+1, resp.StatusCode)
		}
	}
	resp = call(http.MethodPost, docs, `{"title":"Page","content_type":"text/plain","content":"Chapter text."}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("RateLimit-Policy"), `"ingest"`) {
		t.Fatalf("9th document: %d, policy %q", resp.StatusCode, resp.Header.Get("RateLimit-Policy"))
	}
	if resp := call(http.MethodPost, "/api/v1/bots", `{"name":"Second"}`); resp.StatusCode != http.StatusCreated ||
		!strings.HasPrefix(resp.Header.Get("RateLimit-Policy"), `"mgmt_write"`) {
		t.Fatalf("a management write after the uploads: %d, policy %q", resp.StatusCode, resp.Header.Get("RateLimit-Policy"))
	}
}
