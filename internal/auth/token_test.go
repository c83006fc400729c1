package auth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/secret"
)

var allPurposes = []TokenPurpose{PurposeEmailVerification, PurposePasswordReset, PurposeInvitation, PurposeSetup}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, hash := NewSessionToken()
		v := tok.Reveal()
		raw, err := base64.RawURLEncoding.Strict().DecodeString(v)
		if err != nil || len(raw) != 32 || len(v) != 43 {
			t.Fatalf("token %q is not 32 random bytes in base64url", v)
		}
		if !bytes.Equal(hash, HashSessionToken(tok)) || len(hash) != 32 {
			t.Fatal("hash is not HashSessionToken of the token")
		}
		if bytes.Contains(hash, []byte(v)) || seen[v] {
			t.Fatal("hash holds the token, or token repeated")
		}
		seen[v] = true
		parsed, err := ParseToken(v)
		if err != nil || !parsed.Equal(tok) {
			t.Fatalf("ParseToken(new token) = %v", err)
		}
	}
}

// A token issued for one purpose hashes differently under every other
// purpose and as a session, so no lookup can confuse them.
func TestTokenPurposesAreSeparate(t *testing.T) {
	t.Parallel()
	tok, sessionHash := NewSessionToken()
	hashes := map[string][]byte{"session": sessionHash}
	for _, p := range allPurposes {
		h, err := HashOneTimeToken(p, tok)
		if err != nil {
			t.Fatal(err)
		}
		hashes[string(p)] = h
	}
	for a, ha := range hashes {
		for b, hb := range hashes {
			if a != b && bytes.Equal(ha, hb) {
				t.Errorf("%s and %s hash the same token to the same value", a, b)
			}
		}
	}
	reset, resetHash, err := NewOneTimeToken(PurposePasswordReset)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(HashSessionToken(reset), resetHash) {
		t.Fatal("a reset token is usable as a session token")
	}
	if h, _ := HashOneTimeToken(PurposePasswordReset, reset); !bytes.Equal(h, resetHash) {
		t.Fatal("reset token does not hash to its stored value")
	}
	if h, _ := HashOneTimeToken(PurposeInvitation, reset); bytes.Equal(h, resetHash) {
		t.Fatal("a reset token is usable as an invitation")
	}
	for _, p := range []TokenPurpose{"", "session", "Password-Reset", "reset"} {
		if _, _, err := NewOneTimeToken(p); err == nil {
			t.Errorf("NewOneTimeToken(%q) accepted", p)
		}
		if _, err := HashOneTimeToken(p, reset); err == nil {
			t.Errorf("HashOneTimeToken(%q) accepted", p)
		}
	}
}

func TestParseTokenStrict(t *testing.T) {
	t.Parallel()
	tok, _ := NewSessionToken()
	v := tok.Reveal()
	last := "B"
	if v[42] == 'B' {
		last = "C"
	}
	for _, s := range []string{
		"", v[:42], v + "A", " " + v[1:], v[:42] + "=", v[:42] + "+", v[:42] + "/",
		v[:20] + "\n" + v[21:], v[:42] + last, v[:41] + "é", strings.Repeat("%", 43),
	} {
		if _, err := ParseToken(s); err == nil {
			t.Errorf("ParseToken(%q) accepted", s)
		}
	}
}

func TestHashesEqual(t *testing.T) {
	t.Parallel()
	_, h := NewSessionToken()
	if !HashesEqual(h, bytes.Clone(h)) {
		t.Fatal("equal hashes compare unequal")
	}
	flipped := bytes.Clone(h)
	flipped[31] ^= 1
	for _, other := range [][]byte{flipped, h[:31], nil} {
		if HashesEqual(h, other) {
			t.Errorf("HashesEqual(%x, %x)", h, other)
		}
	}
	if HashesEqual(nil, nil) || HashesEqual([]byte{}, []byte{}) {
		t.Fatal("empty hashes compare equal")
	}
	if HashSessionToken(secret.New("a")) == nil {
		t.Fatal("nil hash")
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !tok.IsZero() {
				t.Fatal("refused but returned a token")
			}
			return
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(raw) != 32 || base64.RawURLEncoding.EncodeToString(raw) != s || tok.Reveal() != s {
			t.Fatalf("accepted %q, which is not 32 canonically encoded bytes", s)
		}
	})
}
