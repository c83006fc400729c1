package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// MaxPasswordBytes caps what is hashed, so a megabyte "password" costs no
// more than a normal one and the policy has a stated upper bound.
const MaxPasswordBytes = 1024

// Params are argon2id cost parameters, as written in a PHC string.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns RFC 9106's second recommended option (section 4, "if
// much less memory is available"): 64 MiB, 3 passes, 4 lanes, a 128-bit salt
// and a 256-bit tag. That is 3.4 times the memory and 5 times the memory x
// passes of OWASP's minimum (19 MiB, t=2), while one hash still takes about
// a tenth to a fifth of a second on one server core. The memory a burst of
// log-ins can pin is bounded by Hasher's concurrency limit, not by the
// parameters, so they can stay high.
func DefaultParams() Params {
	return Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// Limits on parameters read back from a stored hash. A tampered or corrupt
// row must not make Verify allocate gigabytes or loop for minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// MeetsOWASPMinimum reports whether p is at least as costly as one of
// OWASP's recommended argon2id minimums, with a salt and tag of at least
// 128 bits.
func (p Params) MeetsOWASPMinimum() bool {
	if p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 16 {
		return false
	}
	// OWASP's equivalent argon2id minimums (Password Storage Cheat Sheet),
	// memory in KiB and passes; meeting any one row is enough.
	owaspMinimums := [...]struct{ memory, time uint32 }{
		{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
	}
	for _, m := range owaspMinimums {
		if p.Memory >= m.memory && p.Time >= m.time {
			return true
		}
	}
	return false
}

func (p Params) check() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id threads %d out of range 1..%d", p.Threads, maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d out of range 1..%d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2id memory %d KiB out of range %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id salt length %d out of range %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id key length %d out of range %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords with argon2id. Make one with
// NewHasher (or NewHasherWithParams); the zero value refuses to work. It is
// safe for concurrent use. It counts the derivations it runs, so tests can prove
// that a code path (such as an unknown account's log-in) paid for a full
// verification without measuring time.
type Hasher struct {
	params Params
	// sem bounds concurrent derivations: each holds Params.Memory KiB, and
	// a flood of log-ins must queue rather than exhaust memory.
	sem chan struct{}
	// dummy is an encoded hash with the hasher's own parameters whose
	// password nobody knows; VerifyDummy verifies against it.
	dummy       string
	derivations atomic.Uint64
	// derive is argon2.IDKey; tests in this package replace it to see what
	// is derived and how many derivations run at once.
	derive func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

// NewHasher returns a Hasher with DefaultParams(), running at most
// GOMAXPROCS (and at least 2) derivations at once.
func NewHasher() *Hasher {
	h, err := NewHasherWithParams(DefaultParams(), 0)
	if err != nil {
		panic("auth: DefaultParams() rejected: " + err.Error()) // a programming error caught by tests
	}
	return h
}

// NewHasherWithParams returns a Hasher with operator-chosen parameters.
// It refuses parameters below OWASP's minimum. maxConcurrent bounds
// simultaneous derivations (and so memory: maxConcurrent x p.Memory KiB);
// 0 means GOMAXPROCS, at least 2.
func NewHasherWithParams(p Params, maxConcurrent int) (*Hasher, error) {
	if !p.MeetsOWASPMinimum() {
		return nil, errors.New("argon2id parameters are below OWASP's minimum (e.g. m=19456 KiB, t=2, p=1, 16-byte salt and key)")
	}
	return newHasher(p, maxConcurrent)
}

// NewInsecureTestHasher returns a Hasher with tiny parameters (64 KiB, one
// pass) so tests run fast. It must never be used outside tests: its hashes
// are cheap to crack. A real Hasher verifies its hashes and reports
// needsRehash for them.
func NewInsecureTestHasher() *Hasher {
	h, err := newHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	if err != nil {
		panic("auth: test parameters rejected: " + err.Error())
	}
	return h
}

func newHasher(p Params, maxConcurrent int) (*Hasher, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if maxConcurrent <= 0 {
		maxConcurrent = max(2, runtime.GOMAXPROCS(0))
	}
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never returns an error (Go 1.24+)
	_, _ = rand.Read(key)
	h := &Hasher{
		params: p,
		sem:    make(chan struct{}, maxConcurrent),
		derive: argon2.IDKey,
	}
	// A random tag rather than a derived one: no password produces it, and
	// building the hasher costs no derivation.
	h.dummy = encodePHC(p, salt, key)
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Derivations returns how many argon2id derivations this Hasher has run.
func (h *Hasher) Derivations() uint64 { return h.derivations.Load() }

// normalizePassword applies NFKC, as NIST SP 800-63B advises, so the same
// password typed on two keyboards (composed or decomposed accents,
// full-width digits) hashes the same.
func normalizePassword(pw string) []byte { return []byte(norm.NFKC.String(pw)) }

func (h *Hasher) key(password []byte, salt []byte, p Params) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	h.derivations.Add(1)
	return h.derive(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=65536,t=3,p=4$salt$hash (unpadded standard base64).
// It does not apply the password policy; call CheckPassword first.
func (h *Hasher) Hash(password string) (string, error) {
	if h.derive == nil {
		return "", errors.New("hash password: Hasher not made by NewHasher")
	}
	if password == "" {
		return "", errors.New("hash password: empty password")
	}
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("hash password: longer than %d bytes", MaxPasswordBytes)
	}
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt)
	key := h.key(normalizePassword(password), salt, h.params)
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, comparing
// in constant time. needsRehash is true when the password matched but the
// hash was made with other parameters than this Hasher's: the caller should
// store a fresh Hash while it has the plaintext. err is set only when
// encoded is not a well-formed argon2id hash (or h was not made by a
// constructor); a dummy verification still runs then, so a corrupt row
// takes as long as a good one.
func (h *Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	if h.derive == nil {
		return false, false, errors.New("verify password: Hasher not made by NewHasher")
	}
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		h.VerifyDummy(password)
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if !h.verify(password, p, salt, want) {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyDummy runs a full verification against a hash nobody knows the
// password of, made with this Hasher's parameters. Call it when the account
// does not exist, so that log-in costs the same and says the same.
func (h *Hasher) VerifyDummy(password string) {
	p, salt, want, err := parsePHC(h.dummy)
	if err != nil || h.derive == nil {
		return // a zero Hasher; Verify reports that
	}
	_ = h.verify(password, p, salt, want)
}

func (h *Hasher) verify(password string, p Params, salt, want []byte) bool {
	if len(password) > MaxPasswordBytes {
		// Nothing this long was ever hashed; the length is no secret, and
		// known and unknown accounts take this same early exit.
		return false
	}
	got := h.key(normalizePassword(password), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1
}

var phcB64 = base64.RawStdEncoding.Strict()

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// errMalformedHash never carries the hash itself: it may end up in a log.
var errMalformedHash = errors.New("malformed argon2id hash")

// parsePHC decodes a PHC string strictly: the exact field order Hash writes,
// decimal numbers without sign or leading zeros, canonical base64, and
// parameters within limits.
func parsePHC(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errMalformedHash
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, errMalformedHash
	}
	var vals [3]uint32
	for i, name := range [3]string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return p, nil, nil, errMalformedHash
		}
		v, ok := parseDecimal(digits)
		if !ok {
			return p, nil, nil, errMalformedHash
		}
		vals[i] = v
	}
	if vals[2] > maxThreads {
		return p, nil, nil, errMalformedHash
	}
	// The decoder skips CR and LF even in strict mode; a stored hash has
	// exactly one spelling, so refuse anything outside the alphabet.
	if !onlyBase64(parts[4], '+', '/') || !onlyBase64(parts[5], '+', '/') {
		return p, nil, nil, errMalformedHash
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errMalformedHash
	}
	key, err := phcB64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, errMalformedHash
	}
	p = Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.check(); err != nil {
		return Params{}, nil, nil, errMalformedHash
	}
	return p, salt, key, nil
}

// parseDecimal accepts 1 to 10 ASCII digits without a leading zero.
func parseDecimal(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// onlyBase64 reports whether s consists only of letters, digits and the
// two extra characters of a base64 alphabet (no padding, no line breaks).
func onlyBase64(s string, c62, c63 byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != c62 && c != c63 {
			return false
		}
	}
	return true
}
