package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// The purposes the audit log's keys are derived from the master key for
// (seal.MasterKey.Derive). Each names one use, so that the chain key and
// the checkpoint key are independent of each other and of every other
// master-derived key; "v1" leaves room to change either without the old
// and the new key ever being the same.
const (
	chainKeyPurpose      = "audit chain v1"
	checkpointKeyPurpose = "audit checkpoints v1"
)

// Keys are the audit log's two master-derived keys: the HMAC-SHA256 key
// that chains entries, so that database write access alone can neither
// append an entry nor re-hash an edited one, and the Ed25519 key (from a
// derived seed) that signs checkpoints of each chain's head. Keys never
// print: every fmt verb, slog and JSON show [REDACTED].
type Keys struct {
	// The key material sits behind functions because fmt prints a
	// struct's unexported fields by reflection: a func prints as an
	// address only (as seal.MasterKey does).
	chain  func() []byte
	signer func() ed25519.PrivateKey
	public ed25519.PublicKey
}

// NewKeys derives the audit keys from the master key. Every process of an
// install shares the master key, so every process writes and verifies the
// same chains.
func NewKeys(master seal.MasterKey) (*Keys, error) {
	chain, err := master.Derive(chainKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("audit: deriving the chain key: %w", err)
	}
	seed, err := master.Derive(checkpointKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("audit: deriving the checkpoint key: %w", err)
	}
	defer clear(seed)
	return newKeys(chain, seed), nil
}

// randomKeys are keys of one Logger alone, for tests that do not care
// about verification: nothing they seal verifies under a master key's.
func randomKeys() *Keys {
	chain := make([]byte, 32)
	seed := make([]byte, ed25519.SeedSize)
	_, _ = io.ReadFull(rand.Reader, chain)
	_, _ = io.ReadFull(rand.Reader, seed)
	defer clear(seed)
	return newKeys(chain, seed)
}

func newKeys(chain, seed []byte) *Keys {
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Keys{
		chain:  func() []byte { return chain },
		signer: func() ed25519.PrivateKey { return priv },
		public: pub,
	}
}

// Hash is the keyed hash of an entry written from this version on
// (HashKeyed): HMAC-SHA256 under the chain key of prev_hash followed by
// the canonical encoding. It is the seal the Logger hands the store.
func (k *Keys) Hash(e store.AuditEntry) []byte {
	m := hmac.New(sha256.New, k.chain())
	m.Write(e.PrevHash)
	m.Write(Canonical(e))
	return m.Sum(nil)
}

// validKeyed reports whether e's stored hash is its keyed hash, in
// constant time (the expected value is a MAC).
func (k *Keys) validKeyed(e store.AuditEntry) bool {
	return len(e.Hash) == HashLen && len(e.PrevHash) == HashLen && hmac.Equal(k.Hash(e), e.Hash)
}

// PublicKey is the checkpoint signing key's public half: whoever holds it
// can check a checkpoint file's signatures without the master key.
func (k *Keys) PublicKey() ed25519.PublicKey { return k.public }

// KeyID names the checkpoint key in a checkpoint file and in messages: the
// first 8 bytes of the SHA-256 of the public key, in hex.
func (k *Keys) KeyID() string {
	sum := sha256.Sum256(k.public)
	return hex.EncodeToString(sum[:8])
}

func (k *Keys) sign(msg []byte) []byte { return ed25519.Sign(k.signer(), msg) }

func (k *Keys) verify(msg, sig []byte) bool { return ed25519.Verify(k.public, msg, sig) }

const redactedKeys = "audit.Keys(" + secret.Redacted + ")"

func (k *Keys) String() string               { return redactedKeys }
func (k *Keys) GoString() string             { return redactedKeys }
func (k *Keys) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redactedKeys) }
func (k *Keys) LogValue() slog.Value         { return slog.StringValue(secret.Redacted) }
func (k *Keys) MarshalJSON() ([]byte, error) { return []byte(`"` + secret.Redacted + `"`), nil }
