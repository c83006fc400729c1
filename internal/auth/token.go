package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Session and one-time tokens are 32 random bytes (256 bits) in unpadded
// base64url, 43 characters. Only their hash is stored; the hash input names
// what the token is for, so a token issued for one purpose hashes to a
// different value under any other and can never be looked up as one.
const tokenLen = 43

// TokenPurpose names what a one-time token may be used for.
type TokenPurpose string

const (
	PurposeEmailVerification TokenPurpose = "email-verification"
	PurposePasswordReset     TokenPurpose = "password-reset"
	PurposeInvitation        TokenPurpose = "invitation"
	// PurposeSetup is the first-owner set-up link printed by serve.
	PurposeSetup TokenPurpose = "setup"
)

// Valid reports whether p is one of the purposes above.
func (p TokenPurpose) Valid() bool {
	switch p {
	case PurposeEmailVerification, PurposePasswordReset, PurposeInvitation, PurposeSetup:
		return true
	}
	return false
}

func newToken() secret.Secret {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return secret.New(tokenEncoding().EncodeToString(b[:]))
}

// hashToken is SHA-256 over a domain label, a NUL and the token. The label
// sets sessions apart from every one-time purpose; a one-time label has a
// "/" where no session label does, so none can collide.
func hashToken(label string, tok secret.Secret) []byte {
	h := sha256.New()
	h.Write([]byte("palisade token v1 " + label + "\x00"))
	h.Write([]byte(tok.Reveal()))
	return h.Sum(nil)
}

// NewSessionToken returns a fresh session token for the cookie and the
// hash to store.
func NewSessionToken() (token secret.Secret, hash []byte) {
	token = newToken()
	return token, HashSessionToken(token)
}

// HashSessionToken returns the stored form of a session token.
func HashSessionToken(token secret.Secret) []byte { return hashToken("session", token) }

// NewOneTimeToken returns a fresh token for an e-mail verification,
// password reset, invitation or set-up link, and the hash to store.
func NewOneTimeToken(p TokenPurpose) (token secret.Secret, hash []byte, err error) {
	if !p.Valid() {
		return secret.Secret{}, nil, fmt.Errorf("new one-time token: unknown purpose %q", p)
	}
	token = newToken()
	hash, err = HashOneTimeToken(p, token)
	return token, hash, err
}

// HashOneTimeToken returns the stored form of a one-time token issued for p.
func HashOneTimeToken(p TokenPurpose, token secret.Secret) ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("hash one-time token: unknown purpose %q", p)
	}
	return hashToken("one-time/"+string(p), token), nil
}

// ParseToken checks that s has the exact form of a session or one-time
// token (43 characters of canonical base64url) before it is hashed and
// looked up, and wraps it as a secret.
func ParseToken(s string) (secret.Secret, error) {
	if len(s) != tokenLen || !onlyBase64(s, '-', '_') {
		return secret.Secret{}, palisade.Errorf(palisade.CodeUnauthorized, "invalid token")
	}
	raw, err := tokenEncoding().DecodeString(s)
	if err != nil || len(raw) != 32 {
		return secret.Secret{}, palisade.Errorf(palisade.CodeUnauthorized, "invalid token")
	}
	return secret.New(s), nil
}

// HashesEqual reports, in constant time, whether two stored-form hashes
// (of tokens or keys) are equal and non-empty; for a caller that holds a
// hash from a row rather than finding the row by its hash.
func HashesEqual(a, b []byte) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}
