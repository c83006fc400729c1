// Package seal is Palisade's envelope encryption (SPEC.md R3): the master
// key, versioned key-encryption keys (KEKs) wrapped by it, one data key per
// workspace wrapped by the current KEK, and the sealing of single fields
// (channel credentials, bot tokens, provider keys, webhook secrets, message
// bodies) with AES-256-GCM under that data key.
//
// The key hierarchy:
//
//	master key (env, passphrase or master.key file; never stored by seal)
//	  └─ KEK v1, v2, ...        wrapped by the master key, one current
//	       └─ data key (ws, v)  wrapped by a KEK; the newest version is current
//	            └─ field        sealed with AAD binding ws, table, column, row id
//
// A sealed field is an envelope: format version (1 byte), data key version
// (4 bytes, big endian), a fresh random 96-bit nonce, ciphertext and tag.
// The associated data binds the format version, workspace id, table, column,
// row id and data key version, length-prefixed, so an envelope copied to any
// other place fails to open.
//
// UserSealer seals the few secrets that belong to a user rather than a
// workspace (TOTP secrets) in the same envelope, under a key derived from
// the master key for that purpose alone.
//
// Wrapped keys are persisted through KeyStore, kept apart from the data they
// protect. Destroying a workspace's data keys (crypto-shredding) makes every
// copy of its sealed fields, in the live database or any older backup,
// unreadable with the keys that remain.
//
// What it does not promise: a process that already holds an unwrapped data
// key in its cache can still use it until the entry expires (Options.CacheTTL);
// someone holding both an old data backup and an old copy of the key store
// (and the master key) can still read what was sealed then.
//
// It must never log, print or return key material or plaintext in errors,
// reuse a nonce, or open an envelope whose associated data does not match.
package seal
