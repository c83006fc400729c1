// Package auth holds the security primitives behind accounts and access
// (SPEC R2): argon2id password hashing and the password policy, TOTP
// two-factor codes and recovery codes, API keys and their scopes, session
// and one-time tokens (stored as an HMAC under a key the caller derives
// from the master key), and the one role/permission table that decides what
// every role and every API key may do.
//
// It is pure Go with no database, HTTP or logging: callers store the hashes
// it returns and pass them back. It must never store, log or return a
// plaintext secret except the one time it is created (and then only inside a
// secret.Secret), never compare a secret with == or bytes.Equal, never
// weaken the default password parameters below OWASP's minimum, and never
// hold mutable package-level state.
package auth
