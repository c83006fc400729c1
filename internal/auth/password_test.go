package auth

import (
	"crypto/sha256"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=[1-9][0-9]*,t=[1-9][0-9]*,p=[1-9][0-9]*\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	h := NewInsecureTestHasher()
	const pw = "orbit-llama-candle-42"
	enc, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(enc) {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not carry the hasher's parameters", enc)
	}
	ok, rehash, err := h.Verify(pw, enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	for _, wrong := range []string{"", "orbit-llama-candle-43", "Orbit-llama-candle-42", pw + " ", pw[:len(pw)-1]} {
		ok, rehash, err := h.Verify(wrong, enc)
		if err != nil || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
		}
	}
	enc2, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashNormalisesUnicode(t *testing.T) {
	t.Parallel()
	h := NewInsecureTestHasher()
	composed := "cr\u00e8me br\u00fbl\u00e9e 42"               // è, û, é as single code points
	decomposed := "cre\u0300me bru\u0302le\u0301e 42"          // the same letters with combining marks
	fullwidth := "\uff50\uff41\uff53\uff53 \uff11\uff12\uff13" // ｐａｓｓ １２３ (NFKC: "pass 123")
	enc, err := h.Hash(composed)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(decomposed, enc); !ok || err != nil {
		t.Fatalf("decomposed spelling of the password was refused (ok=%v err=%v)", ok, err)
	}
	enc, err = h.Hash(fullwidth)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify("pass 123", enc); !ok {
		t.Fatal("full-width spelling does not verify against its NFKC form")
	}
}

// mutate replaces one character of enc at i with a different one from the
// same alphabet, keeping the string well formed where possible.
func mutate(enc string, i int) string {
	c := enc[i]
	r := byte('A')
	if c == 'A' {
		r = 'B'
	}
	return enc[:i] + string(r) + enc[i+1:]
}

func TestVerifyTamperedHash(t *testing.T) {
	t.Parallel()
	h := NewInsecureTestHasher()
	const pw = "orbit-llama-candle-42"
	enc, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, "$")
	saltStart := len(strings.Join(parts[:4], "$")) + 1
	hashStart := len(strings.Join(parts[:5], "$")) + 1
	cases := map[string]string{
		"hash first char":  mutate(enc, hashStart),
		"hash middle char": mutate(enc, hashStart+20),
		"salt first char":  mutate(enc, saltStart),
		"salt middle char": mutate(enc, saltStart+10),
		"memory changed":   strings.Replace(enc, "m=64,", "m=72,", 1),
		"time changed":     strings.Replace(enc, "t=1,", "t=2,", 1),
		"threads changed":  strings.Replace(enc, "p=1$", "p=2$", 1),
		"hash swapped":     strings.Join(append(parts[:4:4], parts[5], parts[4]), "$"),
	}
	for name, tampered := range cases {
		if tampered == enc {
			t.Fatalf("%s: mutation did nothing", name)
		}
		ok, rehash, _ := h.Verify(pw, tampered)
		if ok || rehash {
			t.Errorf("%s: tampered hash %q verified (ok=%v rehash=%v)", name, tampered, ok, rehash)
		}
	}
}

func TestVerifyMalformedHashRunsDummy(t *testing.T) {
	t.Parallel()
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)
	if _, _, _, err := parsePHC(good); err != nil {
		t.Fatalf("control hash refused: %v", err)
	}
	cases := []string{
		"",
		"plaintext-password",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "argon2id", "ARGON2ID", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "$v=19", "", 1),
		strings.Replace(good, "m=64", "m=064", 1),
		strings.Replace(good, "m=64", "m=+64", 1),
		strings.Replace(good, "m=64", "m=-64", 1),
		strings.Replace(good, "m=64", "m= 64", 1),
		strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1", 1),
		strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1,p=1,keyid=x", 1),
		strings.Replace(good, "m=64", "m=4294967295", 1),  // 4 TiB: refused before allocating
		strings.Replace(good, "m=64", "m=99999999999", 1), // overflows uint32
		strings.Replace(good, "m=64", "m=7", 1),           // below 8 x threads
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=1000000", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "p=1", "p=17", 1),
		strings.Replace(good, "p=1", "p=257", 1),                                       // would wrap to 1 as a uint8
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdA", 1),                   // 4-byte salt
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2FsdA==", 1), // padded
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2FsdB", 1),   // non-canonical last char
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2Fsd_", 1),   // URL alphabet
		good[:len(good)-23], // 15-byte key
		good + "$",
		"$" + good,
		good + "\n",
	}
	for _, enc := range cases {
		h := NewInsecureTestHasher()
		ok, rehash, err := h.Verify("orbit-llama-candle-42", enc)
		if err == nil || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, error", enc, ok, rehash, err)
		}
		if err != nil && enc != "" && strings.Contains(err.Error(), enc) {
			t.Errorf("error %q repeats the stored hash", err)
		}
		if got := h.Derivations(); got != 1 {
			t.Errorf("Verify(%q) ran %d derivations; a malformed hash must cost one dummy derivation", enc, got)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	weak := NewInsecureTestHasher()
	const pw = "orbit-llama-candle-42"
	enc, err := weak.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	// The default hasher verifies with the parameters in the hash (cheap
	// here) and asks for a rehash because they are not its own.
	strong := NewHasher()
	ok, rehash, err := strong.Verify(pw, enc)
	if err != nil || !ok || !rehash {
		t.Fatalf("default hasher on a weak hash: %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if ok, rehash, _ := strong.Verify("wrong password!", enc); ok || rehash {
		t.Fatalf("wrong password: ok=%v rehash=%v; rehash must only be asked for after a match", ok, rehash)
	}
	other, err := newHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, _ := other.Verify(pw, enc); !ok || !rehash {
		t.Fatalf("different key length: ok=%v rehash=%v; want true, true", ok, rehash)
	}
	if ok, rehash, _ := weak.Verify(pw, enc); !ok || rehash {
		t.Fatalf("same parameters: ok=%v rehash=%v; want true, false", ok, rehash)
	}
}

func TestVerifyDummyRunsOneDerivation(t *testing.T) {
	t.Parallel()
	h := NewInsecureTestHasher()
	enc, err := h.Hash("orbit-llama-candle-42")
	if err != nil {
		t.Fatal(err)
	}
	start := h.Derivations()
	if _, _, err := h.Verify("some other password", enc); err != nil {
		t.Fatal(err)
	}
	known := h.Derivations() - start
	h.VerifyDummy("some other password")
	unknown := h.Derivations() - start - known
	if known != 1 || unknown != 1 {
		t.Fatalf("known account ran %d derivations, unknown ran %d; both must run exactly one", known, unknown)
	}
	// The dummy has the hasher's own parameters, so it costs the same.
	p, _, _, err := parsePHC(h.dummy)
	if err != nil || p != h.Params() {
		t.Fatalf("dummy hash parameters %+v (err %v) differ from the hasher's %+v", p, err, h.Params())
	}
	for _, pw := range []string{"", "password", "orbit-llama-candle-42"} {
		if ok, _, _ := h.Verify(pw, h.dummy); ok {
			t.Fatalf("the dummy hash matched %q", pw)
		}
	}
	if NewInsecureTestHasher().dummy == h.dummy {
		t.Fatal("two hashers share a dummy hash")
	}
}

func TestZeroHasherRefuses(t *testing.T) {
	t.Parallel()
	var h Hasher
	if _, err := h.Hash("orbit-llama-candle-42"); err == nil {
		t.Fatal("zero Hasher hashed")
	}
	enc, _ := NewInsecureTestHasher().Hash("orbit-llama-candle-42")
	if ok, _, err := h.Verify("orbit-llama-candle-42", enc); ok || err == nil {
		t.Fatalf("zero Hasher: ok=%v err=%v", ok, err)
	}
	h.VerifyDummy("x") // must return, not block or recurse
}

func TestDefaultParamsMeetOWASP(t *testing.T) {
	t.Parallel()
	d := DefaultParams()
	if !d.MeetsOWASPMinimum() || d.Memory < 19456 || d.Time < 2 || d.Threads < 1 || d.SaltLen < 16 || d.KeyLen < 32 {
		t.Fatalf("default parameters %+v are below OWASP's minimum", d)
	}
	if got := NewHasher().Params(); got != d {
		t.Fatalf("NewHasher uses %+v, not the defaults %+v", got, d)
	}
	if NewInsecureTestHasher().Params().MeetsOWASPMinimum() {
		t.Fatal("the insecure test hasher claims to meet OWASP's minimum; its name would lie")
	}
}

func TestNewHasherWithParamsRefusesWeak(t *testing.T) {
	t.Parallel()
	base := Params{Threads: 1, SaltLen: 16, KeyLen: 32}
	with := func(m, tm uint32) Params { p := base; p.Memory, p.Time = m, tm; return p }
	accepted := []Params{with(47104, 1), with(19456, 2), with(12288, 3), with(9216, 4), with(7168, 5), with(65536, 3)}
	refused := []Params{
		with(47103, 1), with(19455, 2), with(12287, 3), with(9215, 4), with(7167, 5), with(4096, 16),
		{Memory: 19456, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8},
		{Memory: 19456, Time: 2, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 1 << 21, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, // over the memory cap
	}
	for _, p := range accepted {
		if _, err := NewHasherWithParams(p, 1); err != nil {
			t.Errorf("NewHasherWithParams(%+v) refused: %v", p, err)
		}
	}
	for _, p := range refused {
		if _, err := NewHasherWithParams(p, 1); err == nil {
			t.Errorf("NewHasherWithParams(%+v) accepted", p)
		}
	}
}

func TestHashLengthLimit(t *testing.T) {
	t.Parallel()
	h := NewInsecureTestHasher()
	max := strings.Repeat("x", MaxPasswordBytes)
	enc, err := h.Hash(max)
	if err != nil {
		t.Fatalf("Hash of %d bytes: %v", MaxPasswordBytes, err)
	}
	if ok, _, _ := h.Verify(max, enc); !ok {
		t.Fatal("maximum-length password does not verify")
	}
	if _, err := h.Hash(max + "x"); err == nil {
		t.Fatal("Hash accepted a password over the limit")
	}
	if _, err := h.Hash(""); err == nil {
		t.Fatal("Hash accepted an empty password")
	}
	// A too-long attempt cannot match a prefix that was hashed.
	if ok, _, err := h.Verify(max+"x", enc); ok || err != nil {
		t.Fatalf("Verify(over limit) = %v, %v", ok, err)
	}
	if _, err := h.Hash(max + "x"); err != nil && strings.Contains(err.Error(), "xxxx") {
		t.Fatal("error repeats the password")
	}
}

// TestConcurrencyLimit proves the derivation semaphore holds: with the
// limit at 2 and derivations blocked, both slots are taken, no third
// derivation starts, and every caller finishes once they are released.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	h, err := newHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var inFlight, peak atomic.Int32
	h.derive = func(pw, salt []byte, tm, m uint32, th uint8, kl uint32) []byte {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		return make([]byte, kl)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { _, _ = h.Hash("orbit-llama-candle-42") })
	}
	for inFlight.Load() < 2 {
		waitBriefly()
	}
	if len(h.sem) != cap(h.sem) || cap(h.sem) != 2 {
		t.Fatalf("semaphore holds %d of %d slots with two derivations running", len(h.sem), cap(h.sem))
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d derivations ran at once; the limit is 2", p)
	}
	if got := h.Derivations(); got != 6 {
		t.Fatalf("%d derivations ran; want 6", got)
	}
}

// TestDefaultHasherUsesDefaultParams checks that NewHasher derives with
// the strong parameters and writes them into the hash. The derivation is
// replaced by a stand-in that records its arguments: a real one at these
// parameters takes seconds under the race detector and tests argon2, not
// this package.
func TestDefaultHasherUsesDefaultParams(t *testing.T) {
	t.Parallel()
	h := NewHasher()
	var got Params
	h.derive = func(pw, salt []byte, tm, m uint32, th uint8, kl uint32) []byte {
		got = Params{Memory: m, Time: tm, Threads: th, SaltLen: uint32(len(salt)), KeyLen: kl}
		sum := sha256.Sum256(append(append([]byte{}, pw...), salt...))
		return sum[:kl]
	}
	enc, err := h.Hash("orbit-llama-candle-42")
	if err != nil {
		t.Fatal(err)
	}
	if got != DefaultParams() {
		t.Fatalf("derived with %+v; want %+v", got, DefaultParams())
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=4$") || !phcPattern.MatchString(enc) {
		t.Fatalf("default hash %q", enc)
	}
	if ok, rehash, err := h.Verify("orbit-llama-candle-42", enc); !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify("orbit-llama-candle-43", enc); ok {
		t.Fatal("wrong password verified")
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		// Anything accepted is canonical and within the limits.
		if enc := encodePHC(p, salt, key); enc != s {
			t.Fatalf("accepted %q, which re-encodes as %q", s, enc)
		}
		if p.check() != nil {
			t.Fatalf("accepted out-of-range parameters %+v", p)
		}
	})
}
