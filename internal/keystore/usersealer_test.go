package keystore

import (
	"bytes"
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
	u, err := NewUserSealer(mk)
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
	if _, err := u.OpenUser(ctx, bob, "totp_secret", env); err == nil {
		t.Fatal("another user's secret opened")
	}
	if _, err := u.OpenUser(ctx, alice, "other", env); err == nil {
		t.Fatal("secret opened as another column")
	}
	for i := range env {
		flipped := bytes.Clone(env)
		flipped[i] ^= 1
		if _, err := u.OpenUser(ctx, alice, "totp_secret", flipped); err == nil {
			t.Fatalf("flipped byte %d opened", i)
		}
	}
	other, _ := seal.NewMasterKey(bytes.Repeat([]byte{8}, seal.KeySize))
	u2, _ := NewUserSealer(other)
	if _, err := u2.OpenUser(ctx, alice, "totp_secret", env); err == nil {
		t.Fatal("opened under another master key")
	}
}
