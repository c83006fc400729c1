package audit

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/palisadehq/palisade/internal/store"
)

// HashLen is the length of every hash in a chain (SHA-256).
const HashLen = sha256.Size

// canonicalTag starts every encoding, so the format can change later
// without an old and a new entry ever encoding alike.
const canonicalTag = "palisade.audit.v1"

// Canonical returns the unambiguous encoding of an entry that its hash
// covers: the tag, then each text field as a 4-byte big-endian length and
// its bytes, with seq and the time (Unix microseconds, what both databases
// keep) as 8-byte big-endian integers. Length prefixes make it impossible
// to move bytes from one field into its neighbour and keep the hash.
func Canonical(e store.AuditEntry) []byte {
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(canonicalTag)
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

// Hash returns SHA-256(prev || Canonical(e)), where prev is e.PrevHash.
func Hash(e store.AuditEntry) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write(Canonical(e))
	return h.Sum(nil)
}

// Genesis is the previous hash of a chain's first entry: 32 zero bytes.
func Genesis() []byte { return make([]byte, HashLen) }
