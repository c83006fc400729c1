package account_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// An API key acts with the intersection of its scopes and its creator's
// current role, and stops when its creator leaves: removing them revokes
// it, and a key whose creator is not a member (made while they were being
// removed) is refused too. The operator's keys are bounded by their scopes
// alone. A malformed key is refused before any query.
func TestAPIKeyBoundedByCreator(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var queries atomic.Int64
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { queries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	owner, ws, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "owner@example.com", Name: "O", WorkspaceName: "Acme", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	ed, err := s.CreateUser(ctx, store.CreateUserParams{Email: "ed@example.com", Name: "Ed", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	edm, err := s.AddMember(ctx, scope, ed.ID, palisade.RoleEditor, now)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := s.CreateUser(ctx, store.CreateUserParams{Email: "stranger@example.com", Name: "S", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	newKey := func(by palisade.UserID, scopes ...string) secret.Secret {
		t.Helper()
		plain, prefix, hash := auth.NewAPIKey()
		if _, err := s.CreateAPIKey(ctx, scope, store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash, Scopes: scopes, CreatedBy: by, Now: now}); err != nil {
			t.Fatal(err)
		}
		return plain
	}
	edKey := newKey(ed.ID, "bots:write", "messages:send")
	cliKey := newKey("", "bots:write", "keys:write")
	orphanKey := newKey(stranger.ID, "bots:read")

	p, err := svc.AuthenticateAPIKey(ctx, edKey)
	if err != nil || p.Scope != scope || p.CreatedBy != ed.ID || p.CreatorRole != palisade.RoleEditor {
		t.Fatalf("editor's key = %+v, %v", p, err)
	}
	for perm, want := range map[auth.Permission]palisade.Code{auth.PermBotsWrite: "", auth.PermMessagesSend: "", auth.PermKeysWrite: palisade.CodeForbidden} {
		if got := palisade.ErrorCode(p.Authorize(perm)); got != want {
			t.Errorf("editor's key under %s: %q, want %q", perm, got, want)
		}
	}
	a, _, err := svc.EnterWorkspace(ctx, account.Current{User: owner}, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ChangeRole(ctx, a, edm.ID, palisade.RoleViewer, account.Client{}); err != nil {
		t.Fatal(err)
	}
	p, err = svc.AuthenticateAPIKey(ctx, edKey)
	if err != nil || p.CreatorRole != palisade.RoleViewer {
		t.Fatalf("demoted editor's key = %+v, %v", p, err)
	}
	for perm, want := range map[auth.Permission]palisade.Code{auth.PermBotsRead: "", auth.PermBotsWrite: palisade.CodeForbidden, auth.PermMessagesSend: palisade.CodeForbidden} {
		if got := palisade.ErrorCode(p.Authorize(perm)); got != want {
			t.Errorf("demoted editor's key under %s: %q, want %q", perm, got, want)
		}
	}
	if err := svc.RemoveMember(ctx, a, edm.ID, account.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateAPIKey(ctx, edKey); !errors.Is(err, account.ErrInvalidAPIKey) {
		t.Errorf("key of a removed member: %v, want ErrInvalidAPIKey", err)
	}
	if _, err := s.AddMember(ctx, scope, ed.ID, palisade.RoleAdmin, now); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateAPIKey(ctx, edKey); !errors.Is(err, account.ErrInvalidAPIKey) {
		t.Errorf("key of a member removed and invited again: %v, want ErrInvalidAPIKey", err)
	}
	if _, err := svc.AuthenticateAPIKey(ctx, orphanKey); !errors.Is(err, account.ErrInvalidAPIKey) {
		t.Errorf("key whose creator is not a member: %v, want ErrInvalidAPIKey", err)
	}

	p, err = svc.AuthenticateAPIKey(ctx, cliKey)
	if err != nil || p.CreatedBy != "" {
		t.Fatalf("operator's key = %+v, %v", p, err)
	}
	for perm, want := range map[auth.Permission]palisade.Code{auth.PermBotsWrite: "", auth.PermKeysWrite: "", auth.PermMessagesSend: palisade.CodeForbidden} {
		if got := palisade.ErrorCode(p.Authorize(perm)); got != want {
			t.Errorf("operator's key under %s: %q, want %q", perm, got, want)
		}
	}

	before := queries.Load()
	for _, bad := range []string{"", "pal_nope", cliKey.Reveal()[:len(cliKey.Reveal())-1], " " + cliKey.Reveal(), "PAL_" + cliKey.Reveal()[4:]} {
		if _, err := svc.AuthenticateAPIKey(ctx, secret.New(bad)); !errors.Is(err, account.ErrInvalidAPIKey) {
			t.Errorf("malformed key %q: %v, want ErrInvalidAPIKey", bad, err)
		}
	}
	if n := queries.Load() - before; n != 0 {
		t.Errorf("%d queries ran for malformed keys", n)
	}
}
