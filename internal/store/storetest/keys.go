package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
)

// The keyring and the user sealer are the store's sealers as they are.
var (
	_ store.Sealer     = (*seal.Keyring)(nil)
	_ store.UserSealer = (*seal.UserSealer)(nil)
)

// KeyStoreOpener opens a fresh, empty, migrated key store for one test.
type KeyStoreOpener func(t *testing.T) seal.KeyStore

// RunKeyStore runs the key store's conformance suite: seal's own
// (sealtest.TestKeyStore), and a keyring over the store sealing fields for
// the store, down to crypto-shredding.
func RunKeyStore(t *testing.T, open KeyStoreOpener) {
	sealtest.TestKeyStore(t, open)
	t.Run("KeyringAsSealer", func(t *testing.T) {
		t.Parallel()
		testKeyringAsSealer(t, open(t))
	})
}

// testKeyringAsSealer: through store.Sealer, the keyring binds table,
// column and row id, and DestroyWorkspace shreds for good.
func testKeyringAsSealer(t *testing.T, ks seal.KeyStore) {
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKeyring(ctx(t), mk, ks, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s store.Sealer = k
	ws := palisade.NewWorkspaceID()
	at := palisade.SealedField{Table: "channels", Column: "sealed_secret", RowID: "ch_1"}
	env, err := s.Seal(ctx(t), ws, at, []byte("hush"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(ctx(t), ws, at, env); err != nil || string(pt) != "hush" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	for _, f := range []palisade.SealedField{
		{Table: "channels", Column: "sealed_secret", RowID: "ch_2"},
		{Table: "channels", Column: "sealed_credentials", RowID: "ch_1"},
		{Table: "provider_keys", Column: "sealed_secret", RowID: "ch_1"},
	} {
		if _, err := s.Open(ctx(t), ws, f, env); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("opened at %+v: %v", f, err)
		}
	}
	if _, err := s.Open(ctx(t), palisade.NewWorkspaceID(), at, env); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("opened in another workspace: %v", err)
	}
	if got, err := s.Reseal(ctx(t), ws, at, env); err != nil || !bytes.Equal(got, env) {
		t.Errorf("Reseal of a current envelope changed it: %v", err)
	}
	if err := s.DestroyWorkspace(ctx(t), ws); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx(t), ws, at, env); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Open after DestroyWorkspace: %v", err)
	}
	// A keyring opened afresh, with nothing cached, finds the keys gone
	// in the store itself.
	fresh, err := seal.NewKeyring(ctx(t), mk, ks, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Open(ctx(t), ws, at, env); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Open by a fresh keyring after DestroyWorkspace: %v", err)
	}
	if _, err := fresh.Seal(ctx(t), ws, at, []byte("again")); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Seal by a fresh keyring after DestroyWorkspace: %v", err)
	}
}
