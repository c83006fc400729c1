package gateway_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// sealedOpeners open stores that can hold sealed provider keys.
var sealedOpeners = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) store.Store {
		role, admin := servicetest.PostgresRole(t), servicetest.Postgres(t)
		master, err := seal.NewMasterKey(bytes.Repeat([]byte{0x12}, seal.KeySize))
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
		s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), store.Options{Sealer: sealtest.NewKeyring(t)},
			postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// TestWorkspaceProviderKeys: a workspace that brings its own key of the
// operator's provider has its bots' calls sent with that key, at the
// operator's endpoint; another workspace's bots, and the same workspace
// once its key is deleted, use the operator's key; a key of another
// provider changes nothing. Listings show the last four characters only.
func TestWorkspaceProviderKeys(t *testing.T) {
	t.Parallel()
	for name, open := range sealedOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			fake := llmtest.NewOpenAI(t, llmtest.Options{Text: "hello"})
			build := func(key secret.Secret) (llm.Provider, error) {
				return openai.New(openai.Config{BaseURL: fake.URL, APIKey: key, HTTPClient: fake.Client()})
			}
			operator, err := build(secret.New("sk-operator-key-000000000000"))
			if err != nil {
				t.Fatal(err)
			}
			g := gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"gpt-4o-mini": operator},
				Kinds: map[string]string{"gpt-4o-mini": llm.KindOpenAI}, OwnProviders: map[string]func(secret.Secret) (llm.Provider, error){llm.KindOpenAI: build}})
			tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			type tenant struct {
				scope palisade.Scope
				bot   palisade.BotID
				token secret.Secret
			}
			mk := func() tenant {
				ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				scope := palisade.ScopeFor(ws.ID)
				b := palisade.Bot{ID: palisade.NewBotID(), Name: "B", Model: "gpt-4o-mini", MaxOutputTokens: 100, CreatedAt: time.Now()}
				salt, hash := tokens.Issue(b.ID)
				b.GatewayTokenSalt, b.GatewayTokenHash = salt, hash
				if _, err := s.CreateBot(t.Context(), scope, b); err != nil {
					t.Fatal(err)
				}
				return tenant{scope, b.ID, tokens.Token(b.ID, salt)}
			}
			a, b := mk(), mk()
			keyUsed := func(tn tenant) string {
				t.Helper()
				if _, err := g.Complete(t.Context(), gateway.Call{BotID: tn.bot, Token: tn.token, Message: "hi"}); err != nil {
					t.Fatal(err)
				}
				reqs := fake.Requests()
				return reqs[len(reqs)-1].Key
			}
			pk := &gateway.ProviderKeys{Store: s, Now: time.Now}
			caller := palisade.Caller{Scope: a.scope, Actor: "key_test"}
			if got := keyUsed(a); got != "sk-operator-key-000000000000" {
				t.Fatalf("before any workspace key: %q", got)
			}
			if _, err := pk.Set(t.Context(), caller, "anthropic", secret.New("sk-ant-other-provider-0000")); err != nil {
				t.Fatal(err)
			}
			if got := keyUsed(a); got != "sk-operator-key-000000000000" {
				t.Fatalf("with a key of another provider: %q", got)
			}
			own, err := pk.Set(t.Context(), caller, "openai", secret.New("sk-workspace-a-key-00009876"))
			if err != nil || own.Last4 != "9876" {
				t.Fatalf("Set = %+v, %v", own, err)
			}
			if got := keyUsed(a); got != "sk-workspace-a-key-00009876" {
				t.Fatalf("with the workspace's key: %q", got)
			}
			if got := keyUsed(b); got != "sk-operator-key-000000000000" {
				t.Fatalf("another workspace: %q", got)
			}
			// Setting again replaces the key in place.
			again, err := pk.Set(t.Context(), caller, "openai", secret.New("sk-workspace-a-key-00005555"))
			if err != nil || again.ID != own.ID {
				t.Fatalf("replace = %+v, %v", again, err)
			}
			if got := keyUsed(a); got != "sk-workspace-a-key-00005555" {
				t.Fatalf("after replacing: %q", got)
			}
			list, err := pk.List(t.Context(), a.scope)
			if err != nil || len(list) != 2 {
				t.Fatalf("List = %+v, %v", list, err)
			}
			for _, k := range list {
				if strings.Contains(k.Last4, "sk-") || len(k.Last4) != 4 {
					t.Fatalf("listing shows %q", k.Last4)
				}
			}
			if err := pk.Delete(t.Context(), palisade.Caller{Scope: b.scope}, own.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
				t.Fatalf("another workspace deletes the key: %v", err)
			}
			if err := pk.Delete(t.Context(), caller, own.ID); err != nil {
				t.Fatal(err)
			}
			if got := keyUsed(a); got != "sk-operator-key-000000000000" {
				t.Fatalf("after deleting the workspace's key: %q", got)
			}
			for _, bad := range []struct{ provider, key string }{{"mistral", "sk-0000000000"}, {"openai", "short"}, {"openai", "has space in it 000"}} {
				if _, err := pk.Set(t.Context(), caller, bad.provider, secret.New(bad.key)); palisade.ErrorCode(err) != palisade.CodeInvalid {
					t.Errorf("Set(%q, %q) = %v, want invalid", bad.provider, bad.key, err)
				}
			}
		})
	}
}
