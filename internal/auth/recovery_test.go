package auth

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
)

var recoveryPattern = regexp.MustCompile(`^[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{4}$`)

func TestNewRecoveryCodes(t *testing.T) {
	t.Parallel()
	if bits := recoveryCodeLen * math.Log2(float64(len(recoveryAlphabet))); bits < 50 || len(recoveryAlphabet) != 32 {
		t.Fatalf("recovery codes carry %.0f bits; want at least 50", bits)
	}
	codes, hashes, err := NewRecoveryCodes(DefaultRecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes and %d hashes; want 10 of each", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		v := c.Reveal()
		if !recoveryPattern.MatchString(v) {
			t.Errorf("code %q is not xxxx-xxxx-xxxx in the code alphabet", v)
		}
		if seen[v] {
			t.Errorf("code %q repeated", v)
		}
		seen[v] = true
		if len(hashes[i]) != RecoveryHashLen {
			t.Errorf("hash %d is %d bytes; want %d", i, len(hashes[i]), RecoveryHashLen)
		}
		if bytes.Contains(hashes[i], []byte(v)) || bytes.Contains(hashes[i], []byte(strings.ReplaceAll(v, "-", ""))) {
			t.Errorf("hash %d contains its code", i)
		}
		if strings.Contains(c.String(), v) {
			t.Error("a code prints itself")
		}
	}
	for _, n := range []int{0, -1, 101} {
		if _, _, err := NewRecoveryCodes(n); err == nil {
			t.Errorf("NewRecoveryCodes(%d) accepted", n)
		}
	}
}

// Every alphabet character turns up: the generator uses the whole alphabet.
func TestRecoveryCodesUseWholeAlphabet(t *testing.T) {
	t.Parallel()
	codes, _, err := NewRecoveryCodes(100)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, c := range codes {
		all.WriteString(c.Reveal())
	}
	// 1200 draws from 32 characters: the chance any one is missing is
	// below 32 x (31/32)^1200, about 10^-15.
	for _, r := range recoveryAlphabet {
		if !strings.ContainsRune(all.String(), r) {
			t.Fatalf("character %q never generated", r)
		}
	}
}

func TestMatchRecoveryCode(t *testing.T) {
	t.Parallel()
	codes, hashes, err := NewRecoveryCodes(DefaultRecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range codes {
		v := c.Reveal()
		spellings := []string{
			v,
			strings.ToUpper(v),
			strings.ReplaceAll(v, "-", ""),
			strings.ReplaceAll(v, "-", " "),
			" " + strings.ReplaceAll(v, "-", " - ") + " ",
			strings.NewReplacer("0", "O", "1", "l").Replace(v), // look-alikes
		}
		for _, s := range spellings {
			idx, ok := MatchRecoveryCode(s, hashes)
			if !ok || idx != i {
				t.Errorf("MatchRecoveryCode(%q) = %d, %v; want %d, true", s, idx, ok, i)
			}
		}
	}
	first := codes[0].Reveal()
	wrong := []string{
		"", "0000-0000-0000", first[:len(first)-1], first + "0", first + "-0000",
		strings.Repeat(first, 6), "ùùùù-ùùùù-ùùùù", "uuuu-uuuu-uuuu", first[:5] + "\x00" + first[6:],
	}
	for _, s := range wrong {
		if idx, ok := MatchRecoveryCode(s, hashes); ok || idx != -1 {
			t.Errorf("MatchRecoveryCode(%q) = %d, %v; want -1, false", s, idx, ok)
		}
	}
}

// Single use: once the caller deletes the matched hash, the code no longer
// matches, and the other codes still do.
func TestRecoveryCodeSingleUse(t *testing.T) {
	t.Parallel()
	codes, hashes, err := NewRecoveryCodes(3)
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := MatchRecoveryCode(codes[1].Reveal(), hashes)
	if !ok || idx != 1 {
		t.Fatalf("match = %d, %v", idx, ok)
	}
	hashes = append(hashes[:idx], hashes[idx+1:]...)
	if _, ok := MatchRecoveryCode(codes[1].Reveal(), hashes); ok {
		t.Fatal("a used code matched after its hash was removed")
	}
	for _, c := range []int{0, 2} {
		if _, ok := MatchRecoveryCode(codes[c].Reveal(), hashes); !ok {
			t.Fatalf("code %d stopped matching", c)
		}
	}
}

func TestMatchRecoveryCodeTamperedHashes(t *testing.T) {
	t.Parallel()
	codes, hashes, err := NewRecoveryCodes(2)
	if err != nil {
		t.Fatal(err)
	}
	code := codes[0].Reveal()
	flipSalt := bytes.Clone(hashes[0])
	flipSalt[0] ^= 1
	flipDigest := bytes.Clone(hashes[0])
	flipDigest[RecoveryHashLen-1] ^= 1
	for name, h := range map[string][]byte{
		"salt flipped":   flipSalt,
		"digest flipped": flipDigest,
		"truncated":      hashes[0][:RecoveryHashLen-1],
		"extended":       append(bytes.Clone(hashes[0]), 0),
		"empty":          nil,
	} {
		if _, ok := MatchRecoveryCode(code, [][]byte{h, hashes[1]}); ok {
			t.Errorf("%s: code matched a tampered hash", name)
		}
	}
	// The same code hashed twice gets different salts.
	n, _ := normalizeRecoveryCode(code)
	if bytes.Equal(hashRecoveryCode(n, nil), hashRecoveryCode(n, nil)) {
		t.Fatal("recovery code hashes are not salted")
	}
	if idx, ok := MatchRecoveryCode(code, nil); ok || idx != -1 {
		t.Fatal("matched with no hashes")
	}
}

func FuzzMatchRecoveryCode(f *testing.F) {
	f.Add("abcd-efgh-jkmn")
	// Fixed codes and salts, so a failing input reproduces.
	codes := []string{"abcd-efgh-jkmn", "0123-4567-89vz"}
	var hashes [][]byte
	for i, c := range codes {
		n, ok := normalizeRecoveryCode(c)
		if !ok {
			f.Fatalf("fixture %q is not a code", c)
		}
		hashes = append(hashes, hashRecoveryCode(n, bytes.Repeat([]byte{byte(i + 1)}, recoverySaltLen)))
	}
	f.Fuzz(func(t *testing.T, s string) {
		idx, ok := MatchRecoveryCode(s, hashes)
		if !ok {
			if idx != -1 {
				t.Fatalf("no match but index %d", idx)
			}
			return
		}
		n, _ := normalizeRecoveryCode(s)
		want, _ := normalizeRecoveryCode(codes[idx])
		if n != want {
			t.Fatalf("%q matched code %d", s, idx)
		}
		if again, valid := normalizeRecoveryCode(n); !valid || again != n {
			t.Fatalf("normalisation is not idempotent on %q", s)
		}
	})
}
