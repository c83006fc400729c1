package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Tokens derives bots' gateway tokens: HMAC-SHA256 (256 bits) over the bot
// id and a random per-bot salt, under a key the platform derives from its
// master key. The platform can hand a bot's worker its token without storing
// it anywhere; the gateway stores and compares only the hash. Rotating a
// token is choosing a new salt.
type Tokens struct {
	key []byte
}

// NewTokens takes the derivation key (at least 32 bytes).
func NewTokens(key []byte) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("gateway: token key must be at least 32 bytes")
	}
	return &Tokens{key: append([]byte(nil), key...)}, nil
}

// Issue makes a new salt for a bot and returns it with the hash to store.
func (t *Tokens) Issue(bot palisade.BotID) (salt, hash []byte) {
	salt = make([]byte, 16)
	_, _ = rand.Read(salt)
	return salt, HashToken(t.Token(bot, salt))
}

// Token derives the bot's token from its salt.
func (t *Tokens) Token(bot palisade.BotID, salt []byte) secret.Secret {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("palisade gateway token v1\x00"))
	m.Write([]byte(bot))
	m.Write([]byte{0})
	m.Write(salt)
	return secret.New("gwt_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
}
