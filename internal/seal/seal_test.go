package seal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

// fixture is what most tests need: a keyring over an in-memory store, and
// one workspace.
type fixture struct {
	master seal.MasterKey
	store  *faultStore
	kr     *seal.Keyring
	ws     palisade.WorkspaceID
}

func setup(t testing.TB) fixture {
	t.Helper()
	master := newMaster(t)
	store := &faultStore{KeyStore: sealtest.NewMemoryKeyStore()}
	return fixture{master: master, store: store, kr: newKeyring(t, master, store, seal.Options{}), ws: palisade.NewWorkspaceID()}
}

func newMaster(t testing.TB) seal.MasterKey {
	t.Helper()
	b := make([]byte, seal.KeySize)
	_, _ = rand.Read(b)
	m, err := seal.NewMasterKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newKeyring(t testing.TB, m seal.MasterKey, s seal.KeyStore, opts seal.Options) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring(context.Background(), m, s, opts)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return kr
}

// faultStore is a KeyStore whose RewrapDataKey can be made to fail.
type faultStore struct {
	seal.KeyStore
	mu                sync.Mutex
	RewrapDataKeyFunc func(k seal.WrappedDataKey, fromKEK uint32) error
}

func (f *faultStore) RewrapDataKey(ctx context.Context, k seal.WrappedDataKey, fromKEK uint32) (bool, error) {
	f.mu.Lock()
	fn := f.RewrapDataKeyFunc
	f.mu.Unlock()
	if fn != nil {
		if err := fn(k, fromKEK); err != nil {
			return false, err
		}
	}
	return f.KeyStore.RewrapDataKey(ctx, k, fromKEK)
}

func (f *faultStore) setRewrap(fn func(seal.WrappedDataKey, uint32) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.RewrapDataKeyFunc = fn
}

var (
	ctx   = context.Background()
	field = seal.Field{Table: "channels", Column: "bot_token", RowID: "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa"}
)

func mustSeal(t testing.TB, kr *seal.Keyring, ws palisade.WorkspaceID, f seal.Field, pt string) []byte {
	t.Helper()
	env, err := kr.Seal(ctx, ws, f, []byte(pt))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return env
}

func mustOpen(t testing.TB, kr *seal.Keyring, ws palisade.WorkspaceID, f seal.Field, env []byte, want string) {
	t.Helper()
	pt, err := kr.Open(ctx, ws, f, env)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if string(pt) != want {
		t.Fatalf("Open = %q, want %q", pt, want)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	for _, pt := range []string{"", "x", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq", string(bytes.Repeat([]byte{0, 0xff}, 5000))} {
		env := mustSeal(t, fx.kr, fx.ws, field, pt)
		if len(env) != len(pt)+seal.Overhead {
			t.Errorf("envelope of %d bytes for %d bytes of plaintext, want overhead %d", len(env), len(pt), seal.Overhead)
		}
		if len(pt) > 8 && bytes.Contains(env, []byte(pt)) {
			t.Error("plaintext visible in the envelope")
		}
		mustOpen(t, fx.kr, fx.ws, field, env, pt)
	}
	sec, err := fx.kr.OpenSecret(ctx, fx.ws, field, mustSeal(t, fx.kr, fx.ws, field, "tok"))
	if err != nil || sec.Reveal() != "tok" || fmt.Sprint(sec) != "[REDACTED]" {
		t.Errorf("OpenSecret = %v, %v", sec, err)
	}
}

func TestSealRejectsBadInput(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	for _, c := range []struct {
		ws palisade.WorkspaceID
		f  seal.Field
	}{
		{"", field},
		{"ws_short", field},
		{"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa", field},
		{fx.ws, seal.Field{Column: "c", RowID: "r"}},
		{fx.ws, seal.Field{Table: "t", RowID: "r"}},
		{fx.ws, seal.Field{Table: "t", Column: "c"}},
	} {
		if _, err := fx.kr.Seal(ctx, c.ws, c.f, []byte("x")); err == nil {
			t.Errorf("Seal(%q, %+v) accepted", c.ws, c.f)
		}
		if _, err := fx.kr.Open(ctx, c.ws, c.f, make([]byte, 64)); err == nil {
			t.Errorf("Open(%q, %+v) accepted", c.ws, c.f)
		}
	}
}

func TestCopiedEnvelopeFailsToOpen(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	other := palisade.NewWorkspaceID()
	mustSeal(t, fx.kr, other, field, "other workspace has keys too")
	env := mustSeal(t, fx.kr, fx.ws, field, "secret bot token")
	cases := []struct {
		name string
		ws   palisade.WorkspaceID
		f    seal.Field
	}{
		{"other row", fx.ws, seal.Field{Table: field.Table, Column: field.Column, RowID: "ch_bbbbbbbbbbbbbbbbbbbbbbbbbb"}},
		{"other column", fx.ws, seal.Field{Table: field.Table, Column: "webhook_secret", RowID: field.RowID}},
		{"other table", fx.ws, seal.Field{Table: "bots", Column: field.Column, RowID: field.RowID}},
		{"other workspace", other, field},
		// Without length prefixes these would give the same associated data.
		{"boundary moved between table and column", fx.ws, seal.Field{Table: "channelsb", Column: "ot_token", RowID: field.RowID}},
		{"boundary moved between column and row", fx.ws, seal.Field{Table: field.Table, Column: "bot_tokench", RowID: "_aaaaaaaaaaaaaaaaaaaaaaaaaa"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if pt, err := fx.kr.Open(ctx, c.ws, c.f, env); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("Open = %q, %v; want ErrOpen", pt, err)
			}
		})
	}
	mustOpen(t, fx.kr, fx.ws, field, env, "secret bot token")
}

// One million seals of one plaintext under one key: every nonce differs.
func TestNoncesNeverRepeat(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	const n = 1_000_000
	pt := []byte("the same plaintext every time")
	seen := make(map[[seal.NonceSize]byte]struct{}, n)
	for range n {
		env, err := fx.kr.Seal(ctx, fx.ws, field, pt)
		if err != nil {
			t.Fatal(err)
		}
		var nonce [seal.NonceSize]byte
		copy(nonce[:], env[5:5+seal.NonceSize])
		seen[nonce] = struct{}{}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct nonces in %d seals", len(seen), n)
	}
	if v, _ := fx.kr.DataKeyVersions(ctx, fx.ws); len(v) != 1 {
		t.Fatalf("seals used %d data keys, want one", len(v))
	}
}

func TestEveryFlippedBitFailsToOpen(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	env := mustSeal(t, fx.kr, fx.ws, field, "a provider key: sk-ant-api03-0123456789")
	for i := range len(env) * 8 {
		bad := bytes.Clone(env)
		bad[i/8] ^= 1 << (i % 8)
		if pt, err := fx.kr.Open(ctx, fx.ws, field, bad); err == nil {
			t.Fatalf("bit %d flipped: opened to %q", i, pt)
		}
	}
	for n := range len(env) {
		if _, err := fx.kr.Open(ctx, fx.ws, field, env[:n]); err == nil {
			t.Fatalf("envelope cut to %d bytes opened", n)
		}
	}
	if _, err := fx.kr.Open(ctx, fx.ws, field, append(bytes.Clone(env), 0)); err == nil {
		t.Fatal("envelope with a byte appended opened")
	}
	mustOpen(t, fx.kr, fx.ws, field, env, "a provider key: sk-ant-api03-0123456789")
}

func TestWrongMasterKeyIsRefused(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	mustSeal(t, fx.kr, fx.ws, field, "x")
	if _, err := seal.NewKeyring(ctx, newMaster(t), fx.store, seal.Options{}); !errors.Is(err, seal.ErrWrongMasterKey) {
		t.Fatalf("NewKeyring with another master key: %v, want ErrWrongMasterKey", err)
	}
	// The same master key in a new process opens what the first sealed.
	env := mustSeal(t, fx.kr, fx.ws, field, "survives a restart")
	mustOpen(t, newKeyring(t, fx.master, fx.store, seal.Options{}), fx.ws, field, env, "survives a restart")
}

func TestRotateKEK(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	other := palisade.NewWorkspaceID()
	old1 := mustSeal(t, fx.kr, fx.ws, field, "sealed before rotation")
	old2 := mustSeal(t, fx.kr, other, field, "also before")

	v, err := fx.kr.RotateKEK(ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateKEK = %d, %v; want 2", v, err)
	}
	all, _ := fx.store.ListDataKeys(ctx)
	for _, d := range all {
		if d.KEKVersion != 2 {
			t.Errorf("data key v%d of %s still under KEK v%d", d.Version, d.Workspace, d.KEKVersion)
		}
	}
	mustOpen(t, fx.kr, fx.ws, field, old1, "sealed before rotation")
	fresh := newKeyring(t, fx.master, fx.store, seal.Options{})
	mustOpen(t, fresh, other, field, old2, "also before")

	// A new workspace's data key is wrapped by the new KEK.
	third := palisade.NewWorkspaceID()
	mustSeal(t, fx.kr, third, field, "after")
	dks, _ := fx.store.DataKeys(ctx, third)
	if len(dks) != 1 || dks[0].KEKVersion != 2 {
		t.Errorf("new data key under KEK v%d, want 2", dks[0].KEKVersion)
	}

	if err := fx.kr.RetireKEK(ctx, 2); !errors.Is(err, seal.ErrKeyInUse) {
		t.Errorf("RetireKEK(current) = %v, want ErrKeyInUse", err)
	}
	if err := fx.kr.RetireKEK(ctx, 1); err != nil {
		t.Fatalf("RetireKEK(1) after a full rewrap: %v", err)
	}
	if err := fx.kr.RetireKEK(ctx, 1); !errors.Is(err, seal.ErrKeyNotFound) {
		t.Errorf("RetireKEK twice = %v, want ErrKeyNotFound", err)
	}
	mustOpen(t, newKeyring(t, fx.master, fx.store, seal.Options{}), fx.ws, field, old1, "sealed before rotation")
	infos, err := fx.kr.KEKs(ctx)
	if err != nil || len(infos) != 1 || infos[0].Version != 2 || !infos[0].Current || infos[0].DataKeys != 3 {
		t.Errorf("KEKs = %+v, %v", infos, err)
	}
}

func TestRetireKEKRefusesWhileInUse(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	wss := []palisade.WorkspaceID{palisade.NewWorkspaceID(), palisade.NewWorkspaceID(), palisade.NewWorkspaceID()}
	envs := make([][]byte, len(wss))
	for i, ws := range wss {
		envs[i] = mustSeal(t, fx.kr, ws, field, "v")
	}
	// The rotation is interrupted after the first rewrap.
	var calls int
	fx.store.setRewrap(func(seal.WrappedDataKey, uint32) error {
		calls++
		if calls > 1 {
			return errors.New("connection reset")
		}
		return nil
	})
	if _, err := fx.kr.RotateKEK(ctx); err == nil {
		t.Fatal("RotateKEK reported success although rewrapping failed")
	}
	if err := fx.kr.RetireKEK(ctx, 1); !errors.Is(err, seal.ErrKeyInUse) {
		t.Fatalf("RetireKEK while data keys are under it = %v, want ErrKeyInUse", err)
	}
	for i, ws := range wss {
		mustOpen(t, newKeyring(t, fx.master, fx.store, seal.Options{}), ws, field, envs[i], "v")
	}
	fx.store.setRewrap(nil)
	n, err := fx.kr.RewrapDataKeys(ctx)
	if err != nil || n != len(wss)-1 {
		t.Fatalf("RewrapDataKeys = %d, %v; want %d", n, err, len(wss)-1)
	}
	if err := fx.kr.RetireKEK(ctx, 1); err != nil {
		t.Fatalf("RetireKEK after the rewrap finished: %v", err)
	}
	for i, ws := range wss {
		mustOpen(t, newKeyring(t, fx.master, fx.store, seal.Options{}), ws, field, envs[i], "v")
	}
}

// Another process's rotation is seen when this one makes a data key.
func TestRotationSeenByOtherProcess(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	other := newKeyring(t, fx.master, fx.store, seal.Options{})
	if _, err := other.RotateKEK(ctx); err != nil {
		t.Fatal(err)
	}
	ws := palisade.NewWorkspaceID()
	env := mustSeal(t, fx.kr, ws, field, "x")
	dks, _ := fx.store.DataKeys(ctx, ws)
	if dks[0].KEKVersion != 2 {
		t.Errorf("data key made under KEK v%d after another process rotated to v2", dks[0].KEKVersion)
	}
	mustOpen(t, other, ws, field, env, "x")
}

func TestDataKeyRotationAndReseal(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	old := mustSeal(t, fx.kr, fx.ws, field, "message body")
	if needs, err := fx.kr.NeedsReseal(ctx, fx.ws, old); err != nil || needs {
		t.Fatalf("NeedsReseal before rotation = %v, %v", needs, err)
	}
	v, err := fx.kr.RotateDataKey(ctx, fx.ws)
	if err != nil || v != 2 {
		t.Fatalf("RotateDataKey = %d, %v; want 2", v, err)
	}
	if _, ver, _ := seal.EnvelopeInfo(mustSeal(t, fx.kr, fx.ws, field, "new")); ver != 2 {
		t.Errorf("new seal under data key v%d, want 2", ver)
	}
	mustOpen(t, fx.kr, fx.ws, field, old, "message body")
	if needs, err := fx.kr.NeedsReseal(ctx, fx.ws, old); err != nil || !needs {
		t.Fatalf("NeedsReseal(old) = %v, %v; want true", needs, err)
	}
	if _, err := fx.kr.Reseal(ctx, fx.ws, seal.Field{Table: "t", Column: "c", RowID: "elsewhere"}, old); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Reseal of an envelope from another field = %v, want ErrOpen", err)
	}
	resealed, err := fx.kr.Reseal(ctx, fx.ws, field, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, ver, _ := seal.EnvelopeInfo(resealed); ver != 2 {
		t.Errorf("resealed under v%d, want 2", ver)
	}
	again, err := fx.kr.Reseal(ctx, fx.ws, field, resealed)
	if err != nil || !bytes.Equal(again, resealed) {
		t.Errorf("Reseal of a current envelope changed it (%v)", err)
	}
	if vs, _ := fx.kr.DataKeyVersions(ctx, fx.ws); fmt.Sprint(vs) != "[1 2]" {
		t.Errorf("DataKeyVersions = %v, want [1 2] (a reseal pass pending)", vs)
	}
	n, err := fx.kr.RetireDataKeys(ctx, fx.ws)
	if err != nil || n != 1 {
		t.Fatalf("RetireDataKeys = %d, %v; want 1", n, err)
	}
	mustOpen(t, fx.kr, fx.ws, field, resealed, "message body")
	if _, err := fx.kr.Open(ctx, fx.ws, field, old); !errors.Is(err, seal.ErrKeyNotFound) || !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Open under a retired data key = %v, want ErrOpen and ErrKeyNotFound", err)
	}
	if vs, _ := fx.kr.DataKeyVersions(ctx, fx.ws); fmt.Sprint(vs) != "[2]" {
		t.Errorf("DataKeyVersions after retire = %v", vs)
	}
	// Another process, with nothing cached, agrees.
	fresh := newKeyring(t, fx.master, fx.store, seal.Options{})
	mustOpen(t, fresh, fx.ws, field, resealed, "message body")
	if _, err := fresh.Open(ctx, fx.ws, field, old); !errors.Is(err, seal.ErrKeyNotFound) {
		t.Errorf("fresh Open under a retired data key = %v", err)
	}
}

func TestDestroyWorkspace(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	other := palisade.NewWorkspaceID()
	// A "backup": envelopes copied before the deletion.
	backup := [][]byte{
		mustSeal(t, fx.kr, fx.ws, field, "bot token"),
		mustSeal(t, fx.kr, fx.ws, seal.Field{Table: "messages", Column: "body", RowID: "msg_1"}, "hello"),
	}
	if _, err := fx.kr.RotateDataKey(ctx, fx.ws); err != nil {
		t.Fatal(err)
	}
	backup = append(backup, mustSeal(t, fx.kr, fx.ws, field, "under v2"))
	keep := mustSeal(t, fx.kr, other, field, "other tenant")

	if err := fx.kr.DestroyWorkspace(ctx, fx.ws); err != nil {
		t.Fatal(err)
	}
	fields := []seal.Field{field, {Table: "messages", Column: "body", RowID: "msg_1"}, field}
	for _, kr := range []*seal.Keyring{fx.kr, newKeyring(t, fx.master, fx.store, seal.Options{})} {
		for i, env := range backup {
			if pt, err := kr.Open(ctx, fx.ws, fields[i], env); !errors.Is(err, seal.ErrKeyDestroyed) {
				t.Errorf("Open after destroy = %q, %v; want ErrKeyDestroyed", pt, err)
			}
		}
		if _, err := kr.Seal(ctx, fx.ws, field, []byte("new")); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Errorf("Seal after destroy = %v, want ErrKeyDestroyed", err)
		}
		if _, err := kr.RotateDataKey(ctx, fx.ws); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Errorf("RotateDataKey after destroy = %v, want ErrKeyDestroyed", err)
		}
		mustOpen(t, kr, other, field, keep, "other tenant")
	}
	// Nothing of the workspace is left in the store to unwrap.
	all, _ := fx.store.ListDataKeys(ctx)
	for _, d := range all {
		if d.Workspace == fx.ws {
			t.Errorf("data key v%d of the destroyed workspace still stored", d.Version)
		}
	}
}

// A process that cached a workspace's key stops using it once the entry
// expires after another process destroyed the workspace.
func TestDestroySeenByOtherProcessAfterTTL(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cached := newKeyring(t, fx.master, fx.store, seal.Options{CacheTTL: time.Minute, Now: clock})
	env := mustSeal(t, fx.kr, fx.ws, field, "x")
	mustOpen(t, cached, fx.ws, field, env, "x")
	if err := fx.kr.DestroyWorkspace(ctx, fx.ws); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, err := cached.Open(ctx, fx.ws, field, env); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Open after the cache entry expired = %v, want ErrKeyDestroyed", err)
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	master := newMaster(t)
	store := sealtest.NewMemoryKeyStore()
	ws := palisade.NewWorkspaceID()
	const n = 8
	krs := make([]*seal.Keyring, n)
	envs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each "process" starts on an empty store and seals at once.
			kr, err := seal.NewKeyring(ctx, master, store, seal.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			krs[i] = kr
			envs[i], errs[i] = kr.Seal(ctx, ws, field, fmt.Appendf(nil, "value %d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	if keks, _ := store.ListKEKs(ctx); len(keks) != 1 {
		t.Errorf("%d KEKs after a concurrent first start, want 1", len(keks))
	}
	if dks, _ := store.DataKeys(ctx, ws); len(dks) != 1 {
		t.Errorf("%d data keys after concurrent first seals, want 1", len(dks))
	}
	for i := range n {
		mustOpen(t, krs[(i+1)%n], ws, field, envs[i], fmt.Sprintf("value %d", i))
	}
}

func ExampleKeyring_Seal() {
	master, _ := seal.NewMasterKey(make([]byte, seal.KeySize)) // use LoadMasterKey in real code
	kr, _ := seal.NewKeyring(context.Background(), master, sealtest.NewMemoryKeyStore(), seal.Options{})
	ws := palisade.NewWorkspaceID()
	f := seal.Field{Table: "channels", Column: "bot_token", RowID: "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa"}

	env, _ := kr.Seal(context.Background(), ws, f, []byte("123456:ABC-DEF"))
	token, _ := kr.OpenSecret(context.Background(), ws, f, env)
	fmt.Println(token, len(token.Reveal()))

	f.RowID = "ch_bbbbbbbbbbbbbbbbbbbbbbbbbb" // the same envelope in another row
	_, err := kr.Open(context.Background(), ws, f, env)
	fmt.Println(errors.Is(err, seal.ErrOpen))
	// Output:
	// [REDACTED] 14
	// true
}

// keklessStore is a key store whose KEK table was emptied behind the
// keyring's back (by raw SQL, or a damaged file), its data keys left.
type keklessStore struct {
	seal.KeyStore
	inserted int
}

func (s *keklessStore) ListKEKs(context.Context) ([]seal.WrappedKEK, error) { return nil, nil }

func (s *keklessStore) InsertKEK(ctx context.Context, k seal.WrappedKEK) error {
	s.inserted++
	return s.KeyStore.InsertKEK(ctx, k)
}

// TestKeyringRefusesDataKeysWithoutKEK: a key store that holds data keys
// but no KEK is refused with ErrKEKsMissing, and no fresh KEK is made: one
// would open none of the data keys, and every workspace's sealed data would
// be lost silently.
func TestKeyringRefusesDataKeysWithoutKEK(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	mustSeal(t, fx.kr, fx.ws, field, "sealed under KEK v1")
	gutted := &keklessStore{KeyStore: fx.store}
	_, err := seal.NewKeyring(ctx, fx.master, gutted, seal.Options{})
	if !errors.Is(err, seal.ErrKEKsMissing) {
		t.Fatalf("NewKeyring over data keys without a KEK = %v, want ErrKEKsMissing", err)
	}
	if gutted.inserted != 0 {
		t.Fatalf("the keyring made %d new KEK(s) over orphaned data keys", gutted.inserted)
	}
}

// racingStore runs Before once, just before the first InsertDataKey
// reaches the store: the moment a rotation in another process would get in
// between the keyring reading the current KEK and storing a key under it.
type racingStore struct {
	seal.KeyStore
	once   sync.Once
	Before func()
}

func (s *racingStore) InsertDataKey(ctx context.Context, k seal.WrappedDataKey) error {
	s.once.Do(s.Before)
	return s.KeyStore.InsertDataKey(ctx, k)
}

// TestNewDataKeyRacingARotation: another process rotates the KEK (and
// retires the old one, which then wraps nothing) between this keyring
// wrapping a new data key and storing it. The store refuses the key under
// the stale KEK and the keyring wraps it again under the new one, so it
// still opens in a fresh process; stored under the retired KEK it would be
// orphaned, and everything sealed with it lost.
func TestNewDataKeyRacingARotation(t *testing.T) {
	t.Parallel()
	master := newMaster(t)
	mem := sealtest.NewMemoryKeyStore()
	racing := &racingStore{KeyStore: mem}
	kr := newKeyring(t, master, racing, seal.Options{})
	other := newKeyring(t, master, mem, seal.Options{})
	racing.Before = func() {
		if _, err := other.RotateKEK(ctx); err != nil {
			t.Errorf("rotating in the other process: %v", err)
		}
		if err := other.RetireKEK(ctx, 1); err != nil {
			t.Errorf("retiring KEK v1 in the other process: %v", err)
		}
	}
	ws := palisade.NewWorkspaceID()
	env := mustSeal(t, kr, ws, field, "sealed across a rotation")
	dks, err := mem.DataKeys(ctx, ws)
	if err != nil || len(dks) != 1 || dks[0].KEKVersion != 2 {
		t.Fatalf("data keys = %+v, %v; want one under KEK v2", dks, err)
	}
	mustOpen(t, newKeyring(t, master, mem, seal.Options{}), ws, field, env, "sealed across a rotation")
}
