// Package audit is the tamper-evident audit log (SPEC.md R7): the entry
// model and the action names every security-relevant code path records, the
// Logger that appends entries through the store, the canonical encoding and
// keyed hash chain that links each entry to the one before it in its
// workspace (or in the platform chain), the signed checkpoints of each
// chain's head kept outside the database, and the verifier behind
// `palisade audit verify`, which names the first edited, deleted,
// reordered, rewritten, forged or backdated entry of every chain, a tail cut
// off below its checkpoint, and a workspace's chain that vanished without a
// record of its deletion.
//
// Chain rule: hash = HMAC-SHA256(chain key, prev_hash || canonical(entry)),
// where the chain key is derived from the master key ("audit chain v1"),
// the canonical encoding is length-prefixed and covers every stored field,
// including the workspace, seq, time and hash version, and the first
// entry's prev_hash is 32 zero bytes. Entries written before chains were
// keyed (hash version 1, plain SHA-256) still verify and are reported as
// legacy; none may follow a keyed entry. Times are set by the store, and
// increase along a chain.
//
// Checkpoints (checkpoint.go) sign each chain's head with an Ed25519 key
// derived from the master key ("audit checkpoints v1") into a file outside
// the database, so that a chain cut back to an earlier, still valid head is
// found too.
//
// It must never let a secret into an entry (detail values are plain strings
// that pass through a redactor, and keys that name a secret lose their
// value), never update or delete an entry, never show a hash it computed
// with the chain key (that would let whoever edited an entry write in the
// right one), never move a checkpoint back or overwrite one it cannot
// verify, and never treat a chain it could not fully read as verified.
package audit
