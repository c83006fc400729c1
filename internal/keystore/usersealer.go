package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
)

// UserSealer seals secrets that belong to a user (TOTP secrets) with
// AES-256-GCM under a key derived from the master key for this one purpose,
// a fresh nonce each time, and associated data binding the column and the
// user id: a sealed secret copied to another user does not open. Users are
// global, so no workspace data key applies; rotating the master key means
// re-enrolling two-factor.
type UserSealer struct {
	aead cipher.AEAD
}

var _ store.UserSealer = (*UserSealer)(nil)

const userEnvelopeV1 = 1

// NewUserSealer derives the user-secret key from the master key.
func NewUserSealer(master seal.MasterKey) (*UserSealer, error) {
	key, err := master.Derive("user secrets v1")
	if err != nil {
		return nil, fmt.Errorf("deriving the user-secret key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &UserSealer{aead: aead}, nil
}

func userAAD(user palisade.UserID, column string) []byte {
	return []byte("palisade user secret v1\x00users\x00" + column + "\x00" + string(user))
}

// ErrUserOpen is every failure to open a user secret, alike.
var ErrUserOpen = errors.New("keystore: user secret does not open")

func (u *UserSealer) SealUser(_ context.Context, user palisade.UserID, column string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+u.aead.NonceSize(), 1+u.aead.NonceSize()+len(plaintext)+u.aead.Overhead())
	out[0] = userEnvelopeV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return u.aead.Seal(out, out[1:], plaintext, userAAD(user, column)), nil
}

func (u *UserSealer) OpenUser(_ context.Context, user palisade.UserID, column string, sealed []byte) ([]byte, error) {
	n := u.aead.NonceSize()
	if len(sealed) < 1+n+u.aead.Overhead() || sealed[0] != userEnvelopeV1 {
		return nil, ErrUserOpen
	}
	pt, err := u.aead.Open(nil, sealed[1:1+n], sealed[1+n:], userAAD(user, column))
	if err != nil {
		return nil, ErrUserOpen
	}
	return pt, nil
}
