package account_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// cachedService is one process's account service with its key cache, the
// queries its store runs and the notices its hub hears.
type cachedService struct {
	svc     *account.Service
	queries *atomic.Int64
	events  chan invalidate.Event
}

func newCachedService(t *testing.T, s store.Store, queries *atomic.Int64, bus invalidate.Bus) cachedService {
	t.Helper()
	events := make(chan invalidate.Event, 64)
	hub := invalidate.NewHub(bus, func(e invalidate.Event) { events <- e })
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Invalidation: hub})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c := cachedService{svc: svc, queries: queries, events: events}
	c.await(t, func(e invalidate.Event) bool { return e.Scope == "" && e.Up })
	return c
}

func (c cachedService) await(t *testing.T, want func(invalidate.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.events:
			if want(e) {
				return
			}
		case <-deadline:
			t.Fatal("the awaited notice never came")
		}
	}
}

// authCached authenticates key and reports how many queries it took.
func (c cachedService) authCached(t *testing.T, key secret.Secret) (account.KeyPrincipal, int64, error) {
	t.Helper()
	before := c.queries.Load()
	p, err := c.svc.AuthenticateAPIKey(t.Context(), key)
	return p, c.queries.Load() - before, err
}

// openSharedPostgres opens two stores on one PostgreSQL database, as two
// processes of one install would.
func openSharedPostgres(t *testing.T) (a, b *postgres.Store, qa, qb *atomic.Int64) {
	t.Helper()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	master, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
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
	qa, qb = new(atomic.Int64), new(atomic.Int64)
	open := func(q *atomic.Int64) *postgres.Store {
		s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), store.Options{QueryHook: func(string) { q.Add(1) }},
			postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(qa), open(qb), qa, qb
}

// A key authenticated by process B is served from B's memory; revoking it
// in process A reaches B through the notice (awaited, not timed), after
// which B refuses the key. On PostgreSQL alone the notice goes through
// LISTEN/NOTIFY, with Redis configured through pub/sub.
func TestAPIKeyRevokedInOneProcessRefusedInAnother(t *testing.T) {
	t.Parallel()
	buses := map[string]func(t *testing.T, a, b *postgres.Store) (invalidate.Bus, invalidate.Bus){
		"postgres": func(t *testing.T, a, b *postgres.Store) (invalidate.Bus, invalidate.Bus) {
			return invalidate.NewPostgres(a.Pool(), "palisade_invalidate"), invalidate.NewPostgres(b.Pool(), "palisade_invalidate")
		},
		"redis": func(t *testing.T, _, _ *postgres.Store) (invalidate.Bus, invalidate.Bus) {
			rdb, prefix := servicetest.Redis(t)
			other := redis.NewClient(rdb.Options())
			t.Cleanup(func() { _ = other.Close() })
			return invalidate.NewRedis(rdb, prefix+"invalidate"), invalidate.NewRedis(other, prefix+"invalidate")
		},
	}
	for name, mk := range buses {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			sa, sb, qa, qb := openSharedPostgres(t)
			busA, busB := mk(t, sa, sb)
			a := newCachedService(t, sa, qa, busA)
			b := newCachedService(t, sb, qb, busB)
			now := time.Now()
			_, ws, err := sa.CreateOwner(ctx, store.CreateOwnerParams{Email: "owner@example.com", Name: "O", WorkspaceName: "Acme", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			plain, prefix, hash := auth.NewAPIKey()
			k, err := sa.CreateAPIKey(ctx, palisade.ScopeFor(ws.ID), store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash,
				Scopes: []string{"keys:write"}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.authCached(t, plain); err != nil {
				t.Fatalf("first use in B: %v", err)
			}
			if _, n, err := b.authCached(t, plain); err != nil || n != 0 {
				t.Fatalf("second use in B = %d queries, %v; want 0 queries (cached)", n, err)
			}
			pa, _, err := a.authCached(t, plain)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.svc.RevokeKeyFor(ctx, pa, k.ID, account.Client{}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.authCached(t, plain); !errors.Is(err, account.ErrInvalidAPIKey) {
				t.Fatalf("A after revoking = %v, want refused at once", err)
			}
			b.await(t, func(e invalidate.Event) bool { return e.Scope == string(ws.ID) })
			if _, _, err := b.authCached(t, plain); !errors.Is(err, account.ErrInvalidAPIKey) {
				t.Fatalf("B after the notice = %v, want refused", err)
			}
		})
	}
}

// In one process (SQLite) every change that narrows a key takes effect at
// once: a cached key follows its creator's role change and dies with their
// removal, and a wrong key sharing a cached key's prefix is never served
// from the cache.
func TestCachedAPIKeyFollowsMembershipChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var queries atomic.Int64
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { queries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newCachedService(t, s, &queries, invalidate.NewMemory())
	now := time.Now()
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
	plain, prefix, hash := auth.NewAPIKey()
	if _, err := s.CreateAPIKey(ctx, scope, store.CreateAPIKeyParams{Name: "k", Prefix: prefix, Hash: hash, Scopes: []string{"bots:write"}, CreatedBy: ed.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.authCached(t, plain); err != nil {
		t.Fatal(err)
	}
	p, n, err := c.authCached(t, plain)
	if err != nil || n != 0 {
		t.Fatalf("cached use = %d queries, %v; want 0", n, err)
	}
	if err := p.Authorize(auth.PermBotsWrite); err != nil {
		t.Fatalf("editor's key refused bots:write: %v", err)
	}
	// The same prefix with another secret is a different key.
	forged := secret.New(plain.Reveal()[:len(plain.Reveal())-2] + "AA")
	if forged.Reveal() != plain.Reveal() {
		if _, _, err := c.authCached(t, forged); !errors.Is(err, account.ErrInvalidAPIKey) {
			t.Fatalf("forged key = %v, want refused", err)
		}
	}

	actor := account.Actor{Current: account.Current{User: owner}, Scope: scope, Role: palisade.RoleOwner}
	if _, err := c.svc.ChangeRole(ctx, actor, edm.ID, palisade.RoleViewer, account.Client{}); err != nil {
		t.Fatal(err)
	}
	p, _, err = c.authCached(t, plain)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(auth.PermBotsWrite); err == nil {
		t.Fatal("a cached key kept its creator's old role after a role change")
	}
	if err := c.svc.RemoveMember(ctx, actor, edm.ID, account.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.authCached(t, plain); !errors.Is(err, account.ErrInvalidAPIKey) {
		t.Fatalf("key of a removed member = %v, want refused at once", err)
	}
}

// A workspace's status is served from memory until a change is announced:
// a suspension made beside the server (by the CLI, which announces it)
// refuses the next request at once, and a resumption lets it through.
func TestCachedWorkspaceStatusFollowsSuspension(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var queries atomic.Int64
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { queries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bus := invalidate.NewMemory()
	c := newCachedService(t, s, &queries, bus)
	// The command's side: a hub of its own on the same bus.
	cli := invalidate.NewHub(bus, nil)
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	if err := c.svc.WorkspaceActive(ctx, scope); err != nil {
		t.Fatal(err)
	}
	before := queries.Load()
	if err := c.svc.WorkspaceActive(ctx, scope); err != nil || queries.Load() != before {
		t.Fatalf("cached status = %v after %d queries, want active from memory", err, queries.Load()-before)
	}
	for _, suspend := range []bool{true, false} {
		if _, err := s.SetWorkspaceSuspension(ctx, scope, store.SuspensionParams{Suspend: suspend, Reason: "test", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := cli.Invalidate(ctx, string(ws.ID)); err != nil {
			t.Fatal(err)
		}
		err := c.svc.WorkspaceActive(ctx, scope)
		if suspend && !errors.Is(err, palisade.ErrWorkspaceSuspended) {
			t.Fatalf("after a suspension = %v, want suspended at once", err)
		}
		if !suspend && err != nil {
			t.Fatalf("after resuming = %v, want active", err)
		}
	}
}
