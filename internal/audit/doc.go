// Package audit is the tamper-evident audit log (SPEC.md R7): the entry
// model and the action names every security-relevant code path records, the
// Logger that appends entries through the store, the canonical encoding and
// SHA-256 hash chain that links each entry to the one before it in its
// workspace (or in the platform chain), and the verifier behind
// `palisade audit verify`, which names the first edited, deleted or
// reordered entry of every chain.
//
// Chain rule: hash = SHA-256(prev_hash || canonical(entry)), where the
// canonical encoding is length-prefixed and covers every stored field,
// including the workspace and seq; the first entry's prev_hash is 32 zero
// bytes.
//
// It must never let a secret into an entry (detail values are plain strings
// that pass through a redactor, and keys that name a secret lose their
// value), never update or delete an entry, and never treat a chain it could
// not fully read as verified.
package audit
