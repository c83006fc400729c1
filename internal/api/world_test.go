package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// dialects open a fresh, migrated store on each database the API runs on.
var dialects = map[string]func(t *testing.T, opts store.Options) store.Store{
	"sqlite": func(t *testing.T, opts store.Options) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T, opts store.Options) store.Store {
		role := servicetest.PostgresRole(t)
		admin := servicetest.Postgres(t)
		master, err := seal.NewMasterKey(bytes.Repeat([]byte{0x21}, seal.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		scopeKey, err := postgres.DeriveScopeKey(master)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := postgres.Migrate(t.Context(), admin, postgres.MigrateOptions{AppRole: role, Master: master}); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), opts, postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// onBothDatabases runs fn once per database, in parallel.
func onBothDatabases(t *testing.T, fn func(t *testing.T, w *world)) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newWorld(t, open))
		})
	}
}

// world is the API served over one store, with a fake Telegram its
// tenants connect their channels to.
type world struct {
	srv     *httptest.Server
	store   store.Store
	fake    *channeltest.Telegram
	queries *atomic.Int64
}

func newWorld(t *testing.T, open func(*testing.T, store.Options) store.Store) *world {
	t.Helper()
	var n atomic.Int64
	s := open(t, store.Options{QueryHook: func(string) { n.Add(1) }, Sealer: sealtest.NewKeyring(t)})
	fake := channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	a := wire(t, s, botConfig{Telegram: fake, Audit: audit.New(s, audit.Options{})})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	t.Cleanup(srv.Close)
	return &world{srv: srv, store: s, fake: fake, queries: &n}
}

// tenant is a workspace with one of everything the API serves, made
// through the API itself.
type tenant struct {
	scope       palisade.Scope
	key         string // every scope, made by the operator
	keyID       palisade.APIKeyID
	bot         palisade.BotID // with a document, a conversation, a channel
	bare        palisade.BotID // with nothing: creating routes use it
	document    palisade.DocumentID
	conv        palisade.ConversationID
	channel     palisade.ChannelID
	providerKey store.ProviderKeyID
	otherKey    palisade.APIKeyID // another key, to read or revoke
	webhook     string            // an outgoing webhook endpoint
}

// ids are every id of the tenant, to look for in another's answers.
func (tn tenant) ids() []string {
	return []string{string(tn.scope.Workspace()), string(tn.keyID), string(tn.bot), string(tn.bare), string(tn.document), string(tn.conv),
		string(tn.channel), string(tn.providerKey), string(tn.otherKey), tn.webhook}
}

// param is the tenant's id for a path wildcard; creating routes get the
// bare bot.
func (tn tenant) param(t *testing.T, name, method string, status int) string {
	t.Helper()
	switch name {
	case "botId":
		if method == http.MethodPost && status == http.StatusCreated {
			return string(tn.bare)
		}
		return string(tn.bot)
	case "documentId":
		return string(tn.document)
	case "conversationId":
		return string(tn.conv)
	case "channelId":
		return string(tn.channel)
	case "keyId":
		return string(tn.otherKey)
	case "providerKeyId":
		return string(tn.providerKey)
	case "webhookId":
		return tn.webhook
	}
	t.Fatalf("wildcard {%s} has no fixture: give tenant one", name)
	return ""
}

func (w *world) allScopesKey(t *testing.T, scope palisade.Scope, by palisade.UserID) (string, palisade.APIKeyID) {
	t.Helper()
	plain, prefix, hash := auth.NewAPIKey()
	var scopes []string
	for _, s := range auth.AllScopes() {
		scopes = append(scopes, string(s))
	}
	k, err := w.store.CreateAPIKey(t.Context(), scope, store.CreateAPIKeyParams{Name: "all", Prefix: prefix, Hash: hash, Scopes: scopes,
		CreatedBy: by, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return plain.Reveal(), k.ID
}

func (w *world) tenant(t *testing.T) tenant {
	t.Helper()
	ws, err := w.store.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "T", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant{scope: palisade.ScopeFor(ws.ID)}
	tn.key, tn.keyID = w.allScopesKey(t, tn.scope, "")
	_, tn.otherKey = w.allScopesKey(t, tn.scope, "")
	id := func(method, path, body string) string {
		t.Helper()
		code, out := w.call(t, method, path, tn.key, body)
		if code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("fixture %s %s: %d %v", method, path, code, out)
		}
		for _, k := range []string{"id", "conversation_id"} {
			if v, ok := out[k].(string); ok {
				return v
			}
		}
		t.Fatalf("fixture %s %s: no id in %v", method, path, out)
		return ""
	}
	tn.bot = palisade.BotID(id(http.MethodPost, "/api/v1/bots", `{"name":"Support"}`))
	tn.bare = palisade.BotID(id(http.MethodPost, "/api/v1/bots", `{"name":"Bare"}`))
	botURL := "/api/v1/bots/" + string(tn.bot)
	tn.document = palisade.DocumentID(id(http.MethodPost, botURL+"/documents",
		`{"title":"Hours","content_type":"text/plain","content":"We open at nine in the morning and close at six."}`))
	tn.conv = palisade.ConversationID(id(http.MethodPost, botURL+"/chat", `{"user_id":"alice","message":"When do you open?"}`))
	token := fmt.Sprintf("%d:AA%s", 7_000_000_000+rand.Int64N(1_000_000_000), strings.Repeat("x", 33))
	w.fake.AddBot(token, "tenant_bot")
	tn.channel = palisade.ChannelID(id(http.MethodPost, botURL+"/channels", `{"type":"telegram","credentials":{"bot_token":"`+token+`"}}`))
	tn.providerKey = store.ProviderKeyID(id(http.MethodPost, "/api/v1/provider-keys", `{"provider":"openai","key":"sk-tenant-0000000000001234"}`))
	tn.webhook = id(http.MethodPost, "/api/v1/webhooks", `{"url":"https://hooks.example.com/tenant","events":["reply.sent"]}`)
	return tn
}

// call sends a JSON request and decodes a JSON answer (nil for none).
func (w *world) call(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	code, _, raw := w.raw(t, method, path, key, body, nil)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: non-JSON answer %q", method, path, raw)
		}
	}
	return code, out
}

// raw sends a request with extra headers and returns the status, the
// headers and the body as sent.
func (w *world) raw(t *testing.T, method, path, key, body string, h map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, w.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// fill puts the tenant's ids into a route pattern.
func (tn tenant) fill(t *testing.T, method, pattern string, status int) string {
	t.Helper()
	path := pattern
	for _, wc := range palisade.PathWildcards(pattern) {
		path = strings.Replace(path, "{"+wc+"}", tn.param(t, wc, method, status), 1)
	}
	return path
}

// keyWith makes the tenant a key with scopes, by the operator.
func (w *world) keyWith(t *testing.T, tn tenant, scopes ...string) string {
	t.Helper()
	plain, prefix, hash := auth.NewAPIKey()
	if _, err := w.store.CreateAPIKey(t.Context(), tn.scope, store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash, Scopes: scopes,
		Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return plain.Reveal()
}
