package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// An API key is "pal_", a 12-character public lookup prefix of lowercase
// base32 (60 bits, the database index), "_", and 43 characters of base64url
// carrying 32 random bytes (256 bits, the secret). The key is shown once;
// only its prefix and SHA-256 hash are stored (SPEC R2).
const (
	APIKeyPrefixLen = 12
	apiKeyTag       = "pal_"
	apiKeySecretLen = 43 // base64url of 32 bytes, unpadded
	// APIKeyLen is the length of every well-formed API key.
	APIKeyLen = len(apiKeyTag) + APIKeyPrefixLen + 1 + apiKeySecretLen
	// APIKeyPattern matches an API key anywhere in a text, for the
	// redacting log handler and secret scanners. ParseAPIKey is stricter.
	APIKeyPattern = `pal_[a-z2-7]{12}_[A-Za-z0-9_-]{43}`
)

func prefixEncoding() *base32.Encoding {
	return base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
}

// tokenEncoding is unpadded base64url in its strict form: the unused low
// bits of the last character must be zero, so each key or token has
// exactly one spelling.
func tokenEncoding() *base64.Encoding { return base64.RawURLEncoding.Strict() }

// NewAPIKey returns a fresh API key, its public lookup prefix and the
// SHA-256 hash to store. The plaintext is shown to the user once and never
// stored.
func NewAPIKey() (plaintext secret.Secret, prefix string, hash []byte) {
	var p [10]byte // 80 bits, of which the first 60 make the prefix
	var s [32]byte
	_, _ = rand.Read(p[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	_, _ = rand.Read(s[:])
	prefix = prefixEncoding().EncodeToString(p[:])[:APIKeyPrefixLen]
	plaintext = secret.New(apiKeyTag + prefix + "_" + tokenEncoding().EncodeToString(s[:]))
	return plaintext, prefix, HashAPIKey(plaintext)
}

// errAPIKey is the one answer to any malformed key: which part was wrong
// is of use only to someone guessing.
func errAPIKey() error { return palisade.Errorf(palisade.CodeUnauthorized, "invalid API key") }

// ParseAPIKey checks that s is exactly a well-formed API key and returns
// its lookup prefix. Anything else is refused before any lookup.
func ParseAPIKey(s string) (prefix string, err error) {
	if len(s) != APIKeyLen || s[:len(apiKeyTag)] != apiKeyTag || s[len(apiKeyTag)+APIKeyPrefixLen] != '_' {
		return "", errAPIKey()
	}
	prefix = s[len(apiKeyTag) : len(apiKeyTag)+APIKeyPrefixLen]
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return "", errAPIKey()
		}
	}
	secretPart := s[len(apiKeyTag)+APIKeyPrefixLen+1:]
	if !onlyBase64(secretPart, '-', '_') {
		return "", errAPIKey()
	}
	raw, err := tokenEncoding().DecodeString(secretPart)
	if err != nil || len(raw) != 32 {
		return "", errAPIKey()
	}
	return prefix, nil
}

// HashAPIKey returns the SHA-256 of the whole key, the value stored and
// looked up. The key carries 256 random bits, so a fast unsalted hash is
// enough: there is nothing to guess.
func HashAPIKey(plaintext secret.Secret) []byte {
	h := sha256.Sum256([]byte(plaintext.Reveal()))
	return h[:]
}

// CheckAPIKey reports, in constant time, whether plaintext hashes to
// storedHash. Use it after finding the row by prefix.
func CheckAPIKey(plaintext secret.Secret, storedHash []byte) bool {
	return subtle.ConstantTimeCompare(HashAPIKey(plaintext), storedHash) == 1
}
