package audit

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/palisadehq/palisade/internal/store"
)

// HashLen is the length of every hash in a chain (SHA-256 and HMAC-SHA256
// alike).
const HashLen = sha256.Size

// Hash versions, stored with every entry (store.AuditEntry.HashVersion).
// A chain may start with legacy entries, written before the chain was
// keyed; once it holds a keyed entry every later entry must be keyed too,
// or database write access could append or rewrite entries in the old,
// unkeyed form.
const (
	// HashLegacy is SHA-256(prev_hash || canonical v1): anyone who knows
	// the algorithm can compute it, so it proves order, not authorship.
	HashLegacy = 1
	// HashKeyed is HMAC-SHA256 under the master-derived chain key of
	// prev_hash || canonical v2 (Keys.Hash).
	HashKeyed = 2
)

// canonicalTags start every encoding, one per hash version, so that an
// entry encodes differently under each and relabelling an entry's version
// changes what its hash must be.
const (
	canonicalTagV1 = "palisade.audit.v1"
	canonicalTagV2 = "palisade.audit.v2"
)

// Canonical returns the unambiguous encoding of an entry that its hash
// covers: the tag of its hash version, then each text field as a 4-byte
// big-endian length and its bytes, with seq and the time (Unix
// microseconds, what both databases keep) as 8-byte big-endian integers.
// Length prefixes make it impossible to move bytes from one field into its
// neighbour and keep the hash.
func Canonical(e store.AuditEntry) []byte {
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	if e.HashVersion == HashKeyed {
		str(canonicalTagV2)
	} else {
		str(canonicalTagV1)
	}
	str(string(e.WorkspaceID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	str(string(e.ID))
	str(e.Actor)
	str(e.Action)
	str(e.Target)
	str(e.Outcome)
	str(e.IP)
	str(e.RequestID)
	str(e.Detail)
	b = binary.BigEndian.AppendUint64(b, uint64(e.CreatedAt.UTC().UnixMicro()))
	return b
}

// LegacyHash is the unkeyed hash of the entries written before chains
// were keyed: SHA-256(prev_hash || Canonical(e)). The verifier still
// accepts it for those entries, and names them; nothing writes it any more.
func LegacyHash(e store.AuditEntry) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write(Canonical(e))
	return h.Sum(nil)
}

// Genesis is the previous hash of a chain's first entry: 32 zero bytes.
func Genesis() []byte { return make([]byte, HashLen) }
