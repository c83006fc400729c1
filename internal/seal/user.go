package seal

import (
	"context"
	"crypto/cipher"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
)

// UserSealer seals the secrets that belong to a user rather than a
// workspace (TOTP secrets): users are global, so no workspace data key
// applies. It uses the envelope of the workspace fields under a key derived
// from the master key for this one purpose, with associated data binding
// the column and the user id, so a sealed secret copied to another user or
// column does not open. Rotating the master key means re-enrolling
// two-factor.
//
// The envelope is the format byte UserFormatV1, a fresh random 96-bit nonce,
// the ciphertext and the tag. Its format, key label and associated data are
// fixed: every TOTP secret stored so far was sealed with them.
type UserSealer struct {
	aead cipher.AEAD
}

const (
	// UserFormatV1 is the first byte of a sealed user secret.
	UserFormatV1 byte = 1

	// userKeyPurpose names the master-derived key of user secrets.
	userKeyPurpose = "user secrets v1"
	userHeaderLen  = 1
)

// NewUserSealer derives the user-secret key from the master key.
func NewUserSealer(master MasterKey) (*UserSealer, error) {
	key, err := master.Derive(userKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the user-secret key: %w", err)
	}
	defer clear(key)
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &UserSealer{aead: aead}, nil
}

func userAAD(user palisade.UserID, column string) []byte {
	return []byte("palisade user secret v1\x00users\x00" + column + "\x00" + string(user))
}

// SealUser seals plaintext as the column of the user, with a fresh nonce.
func (u *UserSealer) SealUser(_ context.Context, user palisade.UserID, column string, plaintext []byte) ([]byte, error) {
	return sealEnvelope(u.aead, []byte{UserFormatV1}, plaintext, userAAD(user, column)), nil
}

// OpenUser opens a secret sealed as exactly this column of this user; every
// failure is ErrOpen.
func (u *UserSealer) OpenUser(_ context.Context, user palisade.UserID, column string, sealed []byte) ([]byte, error) {
	if len(sealed) < userHeaderLen || sealed[0] != UserFormatV1 {
		return nil, ErrOpen
	}
	return openEnvelope(u.aead, sealed, userHeaderLen, userAAD(user, column))
}
