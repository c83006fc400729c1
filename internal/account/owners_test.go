package account_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// openers open a fresh, migrated store of each dialect; PostgreSQL runs
// when its test URL is set, as the runtime role.
var openers = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) store.Store {
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
		s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), store.Options{}, postgres.OpenOptions{ScopeKey: scopeKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// ownerRaceRounds is how many workspaces each race runs in.
const ownerRaceRounds = 15

// Two owners demoting or removing each other at the same moment never
// leave their workspace without an owner: in every round one of the two
// changes is made and the other is refused as a conflict, on SQLite and
// on PostgreSQL.
func TestConcurrentOwnerChangesKeepAnOwner(t *testing.T) {
	t.Parallel()
	for dialect, open := range openers {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t)
			svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
				Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: time.Now})
			if err != nil {
				t.Fatal(err)
			}
			type change func(a account.Actor, other palisade.MembershipID) error
			demote := func(a account.Actor, other palisade.MembershipID) error {
				_, err := svc.ChangeRole(ctx, a, other, palisade.RoleEditor, account.Client{})
				return err
			}
			remove := func(a account.Actor, other palisade.MembershipID) error {
				return svc.RemoveMember(ctx, a, other, account.Client{})
			}
			races := []struct {
				name          string
				first, second change
			}{{"demote each other", demote, demote}, {"remove each other", remove, remove}, {"demote and remove", demote, remove}}
			for ri, race := range races {
				for round := range ownerRaceRounds {
					name := fmt.Sprintf("%s, round %d", race.name, round)
					first, ws, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: fmt.Sprintf("first-%d-%d@example.com", ri, round),
						Name: "F", WorkspaceName: name, Now: time.Now()})
					if err != nil {
						t.Fatal(err)
					}
					scope := palisade.ScopeFor(ws.ID)
					second, err := s.CreateUser(ctx, store.CreateUserParams{Email: fmt.Sprintf("second-%d-%d@example.com", ri, round), Name: "S", Now: time.Now()})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := s.AddMember(ctx, scope, second.ID, palisade.RoleOwner, time.Now()); err != nil {
						t.Fatal(err)
					}
					var actors [2]account.Actor
					var ids [2]palisade.MembershipID
					for i, u := range []palisade.User{first, second} {
						if actors[i], _, err = svc.EnterWorkspace(ctx, account.Current{User: u}, ws.ID); err != nil {
							t.Fatal(err)
						}
						m, err := s.GetMembership(ctx, scope, u.ID)
						if err != nil {
							t.Fatal(err)
						}
						ids[i] = m.ID
					}
					var errs [2]error
					var start, wg sync.WaitGroup
					start.Add(1)
					for i, fn := range []change{race.first, race.second} {
						wg.Go(func() {
							start.Wait()
							errs[i] = fn(actors[i], ids[1-i])
						})
					}
					start.Done()
					wg.Wait()
					ms, err := s.ListMembers(ctx, scope)
					if err != nil {
						t.Fatal(err)
					}
					owners := 0
					for _, m := range ms {
						if m.Role == palisade.RoleOwner {
							owners++
						}
					}
					if owners != 1 {
						t.Fatalf("%s: %d owners left (errors: %v; %v)", name, owners, errs[0], errs[1])
					}
					if e := errors.Join(errs[:]...); e == nil || palisade.ErrorCode(e) != palisade.CodeConflict {
						t.Fatalf("%s: errors %v; %v: want one conflict", name, errs[0], errs[1])
					}
				}
			}
		})
	}
}
