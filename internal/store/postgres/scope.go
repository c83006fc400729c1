package postgres

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// The scope a transaction may see is a set of transaction-local settings
// (app.workspace_id, app.user_id, app.lookup, app.key_scan) that the Row
// Level Security policies read. Anyone who can run SQL as the runtime role
// can set those too, so the application also sets app.scope_tag:
//
//	v1.<backend pid>.<expiry, Unix seconds>.<HMAC-SHA256, 64 hex digits>
//
// The MAC covers the label "palisade scope v1", the backend pid, the expiry
// and the four settings, each separated by a NUL byte (which no PostgreSQL
// text value can contain, so the encoding is unambiguous), under a key
// derived from the master key. The policies read the settings only through
// SECURITY DEFINER functions (migration 00008) that recompute the MAC with a
// copy of that key in the palisade_private schema, which the runtime role
// cannot read; a setting whose tag does not verify reads as unset. The pid
// binds a tag to the connection that set it, and the expiry bounds how long
// a tag that leaked (a statement log, say) is worth anything even there.
const (
	scopeTagVersion = "v1"
	scopeMACLabel   = "palisade scope v1"

	// scopeTTL is how long a tag verifies after the transaction that sets
	// it begins. The database compares it with its own now() (the start of
	// the transaction), so the application's and the database's clocks
	// must agree within this margin.
	scopeTTL = 2 * time.Minute

	// scopeKeyPurpose names the master-derived key of the scope MAC.
	// Changing it makes every running server's tags fail until migrate
	// installs the new key: it is fixed.
	scopeKeyPurpose = "postgres row level security scope v1"
)

// ScopeKeySize is the size of the scope MAC key.
const ScopeKeySize = 32

// DeriveScopeKey returns the key the application MACs its transaction
// scopes with, derived from the master key. `palisade migrate` installs it
// in the database (where only the admin role can read it); every process
// that opens the store derives the same.
func DeriveScopeKey(master seal.MasterKey) ([]byte, error) {
	k, err := master.Derive(scopeKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("deriving the scope key: %w", err)
	}
	return k, nil
}

// scopeMAC computes the tags of one scope key.
type scopeMAC struct {
	key []byte
}

var errNoScopeKey = errors.New("postgres: no scope key: derive it from the master key (DeriveScopeKey); " +
	"Row Level Security ignores a scope the application cannot authenticate")

func newScopeMAC(key []byte) (*scopeMAC, error) {
	if len(key) != ScopeKeySize {
		return nil, errNoScopeKey
	}
	return &scopeMAC{key: append([]byte(nil), key...)}, nil
}

// scopeSettings are the values of the settings a transaction's scope sets.
type scopeSettings struct {
	workspace, user, lookup, keyScan string
}

func settingsOf(scope sqlstore.TxScope) scopeSettings {
	s := scopeSettings{workspace: string(scope.Workspace), user: string(scope.User), lookup: scope.Lookup}
	if scope.KeyScan {
		s.keyScan = "all" // what palisade_keys.key_scan() looks for (migration 00006)
	}
	return s
}

func (s scopeSettings) empty() bool {
	return s.workspace == "" && s.user == "" && s.lookup == "" && s.keyScan == ""
}

// tag returns the scope tag of s for the backend pid, valid until exp. An
// empty scope needs no tag: nothing reads as visible under it anyway.
func (m *scopeMAC) tag(pid uint32, exp time.Time, s scopeSettings) (string, error) {
	if s.empty() {
		return "", nil
	}
	for _, v := range []string{s.workspace, s.user, s.lookup, s.keyScan} {
		if strings.IndexByte(v, 0) >= 0 {
			return "", errors.New("postgres: a scope value contains a NUL byte")
		}
	}
	p, e := strconv.FormatUint(uint64(pid), 10), strconv.FormatInt(exp.Unix(), 10)
	mac := hmac.New(sha256.New, m.key)
	for i, part := range []string{scopeMACLabel, p, e, s.workspace, s.user, s.lookup, s.keyScan} {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(part))
	}
	return scopeTagVersion + "." + p + "." + e + "." + hex.EncodeToString(mac.Sum(nil)), nil
}

// pads returns the key's two HMAC pads (RFC 2104), the form migrate stores:
// with them the database computes HMAC-SHA256 from its built-in sha256(),
// so no extension is needed. They are as secret as the key.
func (m *scopeMAC) pads() (inner, outer []byte) {
	const block = 64 // SHA-256's block size; the key is shorter, so it is zero-padded
	inner, outer = make([]byte, block), make([]byte, block)
	copy(inner, m.key)
	copy(outer, m.key)
	for i := range block {
		inner[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	return inner, outer
}
