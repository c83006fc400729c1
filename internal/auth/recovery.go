package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/palisadehq/palisade/internal/secret"
)

// Recovery codes are 12 characters of Crockford's base32 alphabet (no i, l,
// o or u, so nothing is misread), written xxxx-xxxx-xxxx: 60 bits each.
// They are stored as salted SHA-256 hashes, one use each.
const (
	DefaultRecoveryCodes = 10
	maxRecoveryCodes     = 100
	recoveryAlphabet     = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryGroups       = 3
	recoveryGroupLen     = 4
	recoveryCodeLen      = recoveryGroups * recoveryGroupLen
	recoverySaltLen      = 16
	// RecoveryHashLen is the length of each stored hash: salt then digest.
	RecoveryHashLen = recoverySaltLen + sha256.Size
	// maxRecoveryInput bounds what normalisation looks at; a code with
	// generous spacing is far shorter.
	maxRecoveryInput = 64
)

// NewRecoveryCodes returns n fresh recovery codes to show the user once,
// and the hashes to store in their place, in the same order. n must be
// between 1 and 100; DefaultRecoveryCodes is the usual count.
func NewRecoveryCodes(n int) (codes []secret.Secret, hashes [][]byte, err error) {
	if n < 1 || n > maxRecoveryCodes {
		return nil, nil, fmt.Errorf("new recovery codes: count %d out of range 1..%d", n, maxRecoveryCodes)
	}
	for range n {
		var raw [recoveryCodeLen]byte
		_, _ = rand.Read(raw[:]) // crypto/rand.Read never returns an error (Go 1.24+)
		var b strings.Builder
		for i, x := range raw {
			if i > 0 && i%recoveryGroupLen == 0 {
				b.WriteByte('-')
			}
			// 256 is a multiple of 32, so the low five bits are uniform.
			b.WriteByte(recoveryAlphabet[x&31])
		}
		code := b.String()
		norm, _ := normalizeRecoveryCode(code)
		codes = append(codes, secret.New(code))
		hashes = append(hashes, hashRecoveryCode(norm, nil))
	}
	return codes, hashes, nil
}

// hashRecoveryCode hashes a normalised code with salt, or a fresh random
// salt when salt is nil. The salt keeps one brute-force pass from covering
// every user's codes at once.
func hashRecoveryCode(norm string, salt []byte) []byte {
	if salt == nil {
		salt = make([]byte, recoverySaltLen)
		_, _ = rand.Read(salt)
	}
	h := sha256.New()
	h.Write([]byte("palisade recovery code v1\x00"))
	h.Write(salt)
	h.Write([]byte(norm))
	out := make([]byte, 0, RecoveryHashLen)
	out = append(out, salt...)
	return h.Sum(out)
}

// normalizeRecoveryCode lower-cases code, drops spaces and dashes, reads
// the letters Crockford's alphabet leaves out as the digits they look like,
// and reports whether the result is a well-formed code.
func normalizeRecoveryCode(code string) (string, bool) {
	if len(code) > maxRecoveryInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range code {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		}
		switch r {
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// MatchRecoveryCode reports which stored hash code matches. Every hash is
// computed and compared in constant time whatever the outcome, so timing
// tells nothing about which code (if any) matched. The caller must delete
// the matched hash in the same transaction that accepts the log-in: that is
// what makes each code single-use. Malformed hashes never match.
func MatchRecoveryCode(code string, hashes [][]byte) (index int, ok bool) {
	norm, valid := normalizeRecoveryCode(code)
	if !valid {
		return -1, false
	}
	found, index := 0, -1
	for i, stored := range hashes {
		if len(stored) != RecoveryHashLen {
			continue
		}
		got := hashRecoveryCode(norm, stored[:recoverySaltLen])
		eq := subtle.ConstantTimeCompare(got, stored)
		index = subtle.ConstantTimeSelect(eq&^found, i, index)
		found |= eq
	}
	return index, found == 1
}
