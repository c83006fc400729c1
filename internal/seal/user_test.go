package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
)

func TestUserSealer(t *testing.T) {
	t.Parallel()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	u, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := palisade.NewUserID(), palisade.NewUserID()
	ctx := t.Context()
	env, err := u.SealUser(ctx, alice, "totp_secret", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil || bytes.Contains(env, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatalf("seal: %v", err)
	}
	if pt, err := u.OpenUser(ctx, alice, "totp_secret", env); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if again, _ := u.SealUser(ctx, alice, "totp_secret", []byte("JBSWY3DPEHPK3PXP")); bytes.Equal(again, env) {
		t.Fatal("sealing twice gave the same envelope: the nonce is not fresh")
	}
	if _, err := u.OpenUser(ctx, bob, "totp_secret", env); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("another user's secret opened: %v", err)
	}
	if _, err := u.OpenUser(ctx, alice, "other", env); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("secret opened as another column: %v", err)
	}
	for i := range env {
		flipped := bytes.Clone(env)
		flipped[i] ^= 1
		if _, err := u.OpenUser(ctx, alice, "totp_secret", flipped); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("flipped byte %d opened: %v", i, err)
		}
	}
	for n := range len(env) {
		if _, err := u.OpenUser(ctx, alice, "totp_secret", env[:n]); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("envelope cut to %d bytes opened: %v", n, err)
		}
	}
	other, _ := seal.NewMasterKey(bytes.Repeat([]byte{8}, seal.KeySize))
	u2, _ := seal.NewUserSealer(other)
	if _, err := u2.OpenUser(ctx, alice, "totp_secret", env); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("opened under another master key: %v", err)
	}
	if _, err := seal.NewUserSealer(seal.MasterKey{}); err == nil {
		t.Fatal("a user sealer from the zero master key")
	}
}

// TestUserSealerOpensStoredSecrets: a TOTP secret sealed by the first
// implementation (its own AES-GCM code, before user sealing moved into this
// package) still opens, byte for byte the same format: format byte 1, nonce,
// ciphertext and tag, under the key derived as "user secrets v1".
func TestUserSealerOpensStoredSecrets(t *testing.T) {
	t.Parallel()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{0x42}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	u, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	const user, column = palisade.UserID("usr_aaaaaaaaaaaaaaaaaaaaaaaaaa"), "totp_secret"
	stored, err := hex.DecodeString("01bc788434d4fce27f07b595e977b3f05c5a0d67fdb25c8fc53f92a2707d04a99ab0525927a8d12832e9243efc")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := u.OpenUser(t.Context(), user, column, stored)
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("a stored TOTP secret no longer opens: %q, %v", pt, err)
	}
	// And what is sealed now has the same shape.
	env, err := u.SealUser(t.Context(), user, column, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != len(stored) || env[0] != seal.UserFormatV1 {
		t.Fatalf("new envelope of %d bytes (format %d), stored ones have %d (format 1)", len(env), env[0], len(stored))
	}
}
