package cli_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/cli"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// runCLI runs one palisade command in-process.
func runCLI(t testing.TB, ctx context.Context, env map[string]string, stderr io.Writer, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	if stderr == nil {
		stderr = &syncBuffer{}
	}
	err := cli.RunEnv(ctx, args, &cli.Env{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: stderr})
	return out.String(), err
}

func mustCLI(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	var errOut syncBuffer
	out, err := runCLI(t, t.Context(), env, &errOut, args...)
	if err != nil {
		t.Fatalf("palisade %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out
}

// backends are the environments the key commands are tested on: embedded
// SQLite always, PostgreSQL when configured, migrated by `palisade migrate`
// (which makes the first KEK). On PostgreSQL the environment also names the
// admin role's URL (adminURLKey) for the one key command that needs it,
// keys rotate.
func keyBackends(t *testing.T) map[string]func(t *testing.T) map[string]string {
	return map[string]func(t *testing.T) map[string]string{
		"sqlite": func(t *testing.T) map[string]string {
			return map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
		},
		"postgres": func(t *testing.T) map[string]string {
			role := servicetest.PostgresRole(t)
			admin := servicetest.Postgres(t)
			env := map[string]string{"PALISADE_DATABASE_URL": admin, "PALISADE_APP_ROLE": role, "PALISADE_DATA_DIR": t.TempDir(),
				"PALISADE_MASTER_KEY": base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
			mustCLI(t, env, "migrate")
			env[adminURLKey] = admin
			env["PALISADE_DATABASE_URL"] = servicetest.WithUser(t, admin, role)
			return env
		},
	}
}

// adminURLKey holds, in a PostgreSQL test environment, the admin role's URL.
const adminURLKey = "TEST_ADMIN_DATABASE_URL"

// asAdmin is env with the admin role's database URL, where there is one.
func asAdmin(env map[string]string) map[string]string {
	out := maps.Clone(env)
	if u := env[adminURLKey]; u != "" {
		out["PALISADE_DATABASE_URL"] = u
	}
	return out
}

// keyStore is either dialect's key store.
type keyStore interface {
	seal.KeyStore
	Close() error
}

// sealedStore opens the store and a fresh keyring the way serve does, for
// the test to seed and inspect; a fresh keyring holds no cached key, so what
// it opens, the stored keys open.
type sealedStore struct {
	store.Store
	keys    keyStore
	keyring *seal.Keyring
	once    sync.Once
}

func openSealed(t testing.TB, env map[string]string) *sealedStore {
	t.Helper()
	ctx := t.Context()
	mk, err := seal.LoadMasterKey(seal.MasterKeyConfig{Key: secret.New(env["PALISADE_MASTER_KEY"]), Dir: env["PALISADE_DATA_DIR"]})
	if env["PALISADE_MASTER_KEY"] == "" {
		mk, err = seal.LoadMasterKey(seal.MasterKeyConfig{Dir: env["PALISADE_DATA_DIR"]})
	}
	if err != nil {
		t.Fatal(err)
	}
	scopeKey, err := postgres.DeriveScopeKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	var ks keyStore
	if u := env["PALISADE_DATABASE_URL"]; u != "" {
		ks, err = postgres.OpenKeyStore(ctx, u, scopeKey)
	} else {
		ks, err = sqlite.OpenKeyStore(ctx, filepath.Join(env["PALISADE_DATA_DIR"], sqlite.KeyFileName))
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKeyring(ctx, mk, ks, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	users, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{Sealer: k, UserSealer: users}
	var s store.Store
	if u := env["PALISADE_DATABASE_URL"]; u != "" {
		s, err = postgres.Open(ctx, u, opts, postgres.OpenOptions{ScopeKey: scopeKey})
	} else {
		s, err = sqlite.Open(ctx, filepath.Join(env["PALISADE_DATA_DIR"], "palisade.db"), opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	ss := &sealedStore{Store: s, keys: ks, keyring: k}
	t.Cleanup(ss.close)
	return ss
}

func (s *sealedStore) close() { s.once.Do(func() { s.Store.Close(); s.keys.Close() }) }

// envelopeVersions reads every sealed value of the workspace raw and
// returns the data key version of each.
func (s *sealedStore) envelopeVersions(t *testing.T, ws palisade.WorkspaceID) []uint32 {
	t.Helper()
	d := s.Store.(interface{ Driver() sqlstore.Driver }).Driver()
	var out []uint32
	err := d.InTx(t.Context(), sqlstore.TxScope{Workspace: ws}, func(tx sqlstore.Tx) error {
		for _, c := range store.SealedColumns {
			rows, err := tx.Query(t.Context(), `SELECT `+c.Column+` FROM `+c.Table+` WHERE workspace_id = $1 AND `+c.Column+` IS NOT NULL`, string(ws))
			if err != nil {
				return err
			}
			for rows.Next() {
				var b []byte
				if err := rows.Scan(&b); err != nil {
					rows.Close()
					return err
				}
				_, v, err := seal.EnvelopeInfo(b)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, v)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var wsLine = regexp.MustCompile(`workspace (ws_[a-z2-7]{26}) created`)

func createWorkspace(t testing.TB, env map[string]string, name string) palisade.Scope {
	t.Helper()
	out := mustCLI(t, env, "workspace", "create", "--name", name, "--owner-email", "owner@example.com")
	m := wsLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no workspace id in %q", out)
	}
	return palisade.ScopeFor(palisade.WorkspaceID(m[1]))
}

// seedSecrets stores n provider keys and a channel with credentials and a
// secret; it returns the provider key ids and their plaintexts.
func seedSecrets(t *testing.T, s *sealedStore, scope palisade.Scope, n int) map[store.ProviderKeyID]string {
	t.Helper()
	ctx := t.Context()
	bot, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "b", Model: "gpt-4o-mini", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateChannel(ctx, scope, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Credentials: secret.New("123:tok"), Secret: secret.New("whsec"), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A message body: sealed by the store, resealed by reencrypt like
	// every other sealed column.
	conv, err := s.OpenConversation(ctx, scope, store.OpenConversationParams{BotID: bot.ID, Key: "agent:" + string(bot.ID) + ":api:dm:seed",
		Channel: "api", ExternalUser: "seed", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendMessage(ctx, scope, store.AppendMessageParams{ConversationID: conv.ID, Role: palisade.MessageUser, Body: "hello from " + string(scope.Workspace()), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	keys := map[store.ProviderKeyID]string{}
	for i := range n {
		v := fmt.Sprintf("sk-seed-%d-%s", i, scope.Workspace())
		pk, err := s.CreateProviderKey(ctx, scope, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New(v), Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		keys[pk.ID] = v
	}
	return keys
}

func checkOpen(t *testing.T, s *sealedStore, scope palisade.Scope, keys map[store.ProviderKeyID]string) {
	t.Helper()
	for id, want := range keys {
		k, err := s.GetProviderKey(t.Context(), scope, id)
		if err != nil || k.Key.Reveal() != want {
			t.Fatalf("provider key %s does not open to its value: %v", id, err)
		}
	}
}

func kekVersions(t *testing.T, s *sealedStore) (all []uint32, wrapping []uint32) {
	t.Helper()
	keks, err := s.keys.ListKEKs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keks {
		all = append(all, k.Version)
	}
	dks, err := s.keys.ListDataKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dks {
		if !slices.Contains(wrapping, d.KEKVersion) {
			wrapping = append(wrapping, d.KEKVersion)
		}
	}
	return all, wrapping
}

// TestKeysRotateAndReencrypt, through cli.Run on both
// stores: after `keys rotate` old data opens and new data uses the new KEK;
// after `keys reencrypt` every field is under a new data key, no old data
// key or KEK remains; an interrupted reencrypt resumes without rotating
// again.
func TestKeysRotateAndReencrypt(t *testing.T) {
	t.Parallel()
	for name, setup := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := setup(t)
			a := createWorkspace(t, env, "Acme")
			s := openSealed(t, env)
			keysA := seedSecrets(t, s, a, 3)
			s.close()

			if out := mustCLI(t, env, "keys", "status"); !strings.Contains(out, "KEK v1 (current)") || !strings.Contains(out, "wraps 1 data key(s)") {
				t.Fatalf("keys status = %q", out)
			}

			// Rotate: a new KEK, every data key rewrapped, the old KEK gone.
			// On PostgreSQL only the admin role may.
			if name == "postgres" {
				if _, err := runCLI(t, t.Context(), env, nil, "keys", "rotate"); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "only the admin role") {
					t.Fatalf("keys rotate as the runtime role = %v, want a refusal naming the admin role", err)
				}
			}
			out := mustCLI(t, asAdmin(env), "keys", "rotate")
			if !strings.Contains(out, "KEK v2 is current and wraps 1 data key(s)") || !strings.Contains(out, "retired KEK v1") {
				t.Fatalf("keys rotate = %q", out)
			}
			s = openSealed(t, env)
			checkOpen(t, s, a, keysA) // old data still opens
			b := createWorkspace(t, env, "Beta")
			keysB := seedSecrets(t, s, b, 1) // new data: a data key under KEK v2
			if all, wrapping := kekVersions(t, s); !slices.Equal(all, []uint32{2}) || !slices.Equal(wrapping, []uint32{2}) {
				t.Fatalf("after rotate: KEKs %v, wrapping %v; want only v2", all, wrapping)
			}
			s.close()

			// Reencrypt: every field of every workspace under data key v2.
			out = mustCLI(t, env, "keys", "reencrypt", "--settle", "0", "--batch", "2")
			if !strings.Contains(out, "resealed 10 of 10 field(s) in 2 workspace(s); retired 2 old data key(s)") {
				t.Fatalf("keys reencrypt = %q", out)
			}
			s = openSealed(t, env)
			for _, sc := range []palisade.Scope{a, b} {
				for _, v := range s.envelopeVersions(t, sc.Workspace()) {
					if v != 2 {
						t.Fatalf("a field of %s is still under data key v%d", sc.Workspace(), v)
					}
				}
				if vs, err := s.keyring.DataKeyVersions(t.Context(), sc.Workspace()); err != nil || !slices.Equal(vs, []uint32{2}) {
					t.Fatalf("data keys of %s after reencrypt: %v, %v", sc.Workspace(), vs, err)
				}
			}
			checkOpen(t, s, a, keysA)
			checkOpen(t, s, b, keysB)
			s.close()

			// Interrupted: cancel when the first batch has been counted.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stop := &cancelOnProgress{cancel: cancel}
			_, err := runCLI(t, ctx, env, stop, "keys", "reencrypt", "--settle", "0", "--batch", "1", "--workspace", string(a.Workspace()))
			if err == nil {
				t.Fatal("the interrupted reencrypt reported success")
			}
			s = openSealed(t, env)
			if vs, _ := s.keyring.DataKeyVersions(t.Context(), a.Workspace()); !slices.Equal(vs, []uint32{2, 3}) {
				t.Fatalf("after interruption the data keys are %v, want a pending rotation [2 3]", vs)
			}
			vs := s.envelopeVersions(t, a.Workspace())
			if !slices.Contains(vs, 2) || !slices.Contains(vs, 3) {
				t.Fatalf("interruption did not stop half-way: versions %v", vs)
			}
			checkOpen(t, s, a, keysA)
			s.close()

			out = mustCLI(t, env, "keys", "reencrypt", "--settle", "0", "--batch", "1", "--workspace", string(a.Workspace()))
			if !strings.Contains(out, "retired 1 old data key(s)") {
				t.Fatalf("resumed reencrypt = %q", out)
			}
			s = openSealed(t, env)
			if vs, _ := s.keyring.DataKeyVersions(t.Context(), a.Workspace()); !slices.Equal(vs, []uint32{3}) {
				t.Fatalf("after resuming the data keys are %v, want [3] (no second rotation)", vs)
			}
			for _, v := range s.envelopeVersions(t, a.Workspace()) {
				if v != 3 {
					t.Fatalf("after resuming a field is under v%d", v)
				}
			}
			checkOpen(t, s, a, keysA)
			checkOpen(t, s, b, keysB)
		})
	}
}

// cancelOnProgress is a stderr that cancels the command once the progress
// bar shows a first batch done: a deterministic interruption mid-pass.
type cancelOnProgress struct {
	mu     sync.Mutex
	cancel func()
	buf    strings.Builder
}

var progressDone = regexp.MustCompile(`\] ([1-9][0-9]*)/`)

func (c *cancelOnProgress) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if progressDone.MatchString(c.buf.String()) {
		c.cancel()
	}
	return len(p), nil
}

func TestKeysUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "d")}
	for _, args := range [][]string{{"keys"}, {"keys", "nope"}, {"keys", "reencrypt", "--batch", "0"}} {
		if _, err := runCLI(t, t.Context(), env, nil, args...); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("palisade %v = %v, want a usage error", args, err)
		}
	}
	if out := mustCLI(t, env, "keys", "--help"); !strings.Contains(out, "reencrypt") {
		t.Errorf("keys --help = %q", out)
	}
}
