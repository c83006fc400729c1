package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Session and one-time tokens are 32 random bytes (256 bits) in unpadded
// base64url, 43 characters. Only their keyed hash is stored (TokenKey); the
// hash input names what the token is for, so a token issued for one purpose
// hashes to a different value under any other and can never be looked up
// as one.
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

// NewToken returns a fresh random token (32 bytes in unpadded base64url),
// for a use that stores no hash of it, such as the form token before
// sign-in.
func NewToken() secret.Secret {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return secret.New(tokenEncoding().EncodeToString(b[:]))
}

// TokenKeySize is the least size of a TokenKey's key.
const TokenKeySize = 32

// TokenKey makes the stored form of session and one-time tokens: HMAC-SHA256
// under a key the platform derives from its master key. A plain hash could
// be computed by anyone who can write to the database, who could then plant
// a session or a reset link of a token they chose; without the key they
// cannot make a row that any token they know would match. Changing the key
// (or its derivation) invalidates every stored session and pending link.
type TokenKey struct {
	key []byte
}

// NewTokenKey takes the key (at least TokenKeySize bytes; the platform
// derives it from the master key). The bytes are copied.
func NewTokenKey(key []byte) (*TokenKey, error) {
	if len(key) < TokenKeySize {
		return nil, fmt.Errorf("auth: token key of %d bytes, want at least %d", len(key), TokenKeySize)
	}
	return &TokenKey{key: bytes.Clone(key)}, nil
}

const redactedTokenKey = "auth.TokenKey(" + secret.Redacted + ")"

// The key never prints, whichever verb or logger is used.
func (TokenKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedTokenKey) }
func (TokenKey) LogValue() slog.Value       { return slog.StringValue(secret.Redacted) }

// hash is HMAC-SHA256 over a domain label, a NUL and the token. The label
// sets sessions apart from every one-time purpose; a one-time label has a
// "/" where no session label does, so none can collide. "v2" marks the
// keyed form: the unkeyed SHA-256 of v1 is never what is looked up.
func (k *TokenKey) hash(label string, tok secret.Secret) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("palisade token v2 " + label + "\x00"))
	m.Write([]byte(tok.Reveal()))
	return m.Sum(nil)
}

// NewSessionToken returns a fresh session token for the cookie and the
// hash to store.
func (k *TokenKey) NewSessionToken() (token secret.Secret, hash []byte) {
	token = NewToken()
	return token, k.HashSessionToken(token)
}

// HashSessionToken returns the stored form of a session token.
func (k *TokenKey) HashSessionToken(token secret.Secret) []byte { return k.hash("session", token) }

// NewOneTimeToken returns a fresh token for an e-mail verification,
// password reset, invitation or set-up link, and the hash to store.
func (k *TokenKey) NewOneTimeToken(p TokenPurpose) (token secret.Secret, hash []byte, err error) {
	if !p.Valid() {
		return secret.Secret{}, nil, fmt.Errorf("new one-time token: unknown purpose %q", p)
	}
	token = NewToken()
	hash, err = k.HashOneTimeToken(p, token)
	return token, hash, err
}

// HashOneTimeToken returns the stored form of a one-time token issued for p.
func (k *TokenKey) HashOneTimeToken(p TokenPurpose, token secret.Secret) ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("hash one-time token: unknown purpose %q", p)
	}
	return k.hash("one-time/"+string(p), token), nil
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
