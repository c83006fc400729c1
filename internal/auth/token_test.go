package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/secret"
)

var allPurposes = []TokenPurpose{PurposeEmailVerification, PurposePasswordReset, PurposeInvitation, PurposeSetup}

func testTokenKey(t *testing.T, fill byte) *TokenKey {
	t.Helper()
	k, err := NewTokenKey(bytes.Repeat([]byte{fill}, TokenKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTokenHashesAreKeyed: the stored form of a token depends on the key,
// so someone who can write rows but does not hold the key cannot make a
// session or a link row that a token of their choosing would match; and it
// is not the unkeyed SHA-256 that was stored before.
func TestTokenHashesAreKeyed(t *testing.T) {
	t.Parallel()
	a, b := testTokenKey(t, 1), testTokenKey(t, 2)
	tok := NewToken()
	if bytes.Equal(a.HashSessionToken(tok), b.HashSessionToken(tok)) {
		t.Fatal("a session token hashes alike under two keys")
	}
	ha, _ := a.HashOneTimeToken(PurposePasswordReset, tok)
	hb, _ := b.HashOneTimeToken(PurposePasswordReset, tok)
	if bytes.Equal(ha, hb) {
		t.Fatal("a reset token hashes alike under two keys")
	}
	unkeyed := sha256.Sum256([]byte("palisade token v1 session\x00" + tok.Reveal()))
	if bytes.Equal(a.HashSessionToken(tok), unkeyed[:]) {
		t.Fatal("the session hash is the unkeyed SHA-256")
	}
	if _, err := NewTokenKey(make([]byte, TokenKeySize-1)); err == nil {
		t.Fatal("a short token key was accepted")
	}
	for _, out := range []string{fmt.Sprint(a), fmt.Sprintf("%+v %#v %x %s", a, *a, a, a)} {
		if strings.Contains(out, "0101") || strings.Contains(out, "[1 1") || !strings.Contains(out, "REDACTED") {
			t.Fatalf("the token key printed as %q", out)
		}
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	k := testTokenKey(t, 7)
	seen := map[string]bool{}
	for range 100 {
		tok, hash := k.NewSessionToken()
		v := tok.Reveal()
		raw, err := base64.RawURLEncoding.Strict().DecodeString(v)
		if err != nil || len(raw) != 32 || len(v) != 43 {
			t.Fatalf("token %q is not 32 random bytes in base64url", v)
		}
		if !bytes.Equal(hash, k.HashSessionToken(tok)) || len(hash) != 32 {
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
	k := testTokenKey(t, 7)
	tok, sessionHash := k.NewSessionToken()
	hashes := map[string][]byte{"session": sessionHash}
	for _, p := range allPurposes {
		h, err := k.HashOneTimeToken(p, tok)
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
	reset, resetHash, err := k.NewOneTimeToken(PurposePasswordReset)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k.HashSessionToken(reset), resetHash) {
		t.Fatal("a reset token is usable as a session token")
	}
	if h, _ := k.HashOneTimeToken(PurposePasswordReset, reset); !bytes.Equal(h, resetHash) {
		t.Fatal("reset token does not hash to its stored value")
	}
	if h, _ := k.HashOneTimeToken(PurposeInvitation, reset); bytes.Equal(h, resetHash) {
		t.Fatal("a reset token is usable as an invitation")
	}
	for _, p := range []TokenPurpose{"", "session", "Password-Reset", "reset"} {
		if _, _, err := k.NewOneTimeToken(p); err == nil {
			t.Errorf("NewOneTimeToken(%q) accepted", p)
		}
		if _, err := k.HashOneTimeToken(p, reset); err == nil {
			t.Errorf("HashOneTimeToken(%q) accepted", p)
		}
	}
}

func TestParseTokenStrict(t *testing.T) {
	t.Parallel()
	v := NewToken().Reveal()
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
	k := testTokenKey(t, 7)
	_, h := k.NewSessionToken()
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
	if k.HashSessionToken(secret.New("a")) == nil {
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
