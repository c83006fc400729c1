package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

var apiKeyAnchored = regexp.MustCompile(`^` + APIKeyPattern + `$`)

func TestNewAPIKey(t *testing.T) {
	t.Parallel()
	prefixes, secrets := map[string]bool{}, map[string]bool{}
	for range 200 {
		key, prefix, hash := NewAPIKey()
		v := key.Reveal()
		if !apiKeyAnchored.MatchString(v) || len(v) != APIKeyLen || APIKeyLen != 60 {
			t.Fatalf("key %q does not match %s", v, APIKeyPattern)
		}
		if !strings.HasPrefix(v, "pal_"+prefix+"_") || len(prefix) != APIKeyPrefixLen {
			t.Fatalf("prefix %q is not the key's lookup prefix", prefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(v[len("pal_")+APIKeyPrefixLen+1:])
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret part carries %d bytes (%v); want 32 (256 bits)", len(raw), err)
		}
		want := sha256.Sum256([]byte(v))
		if !bytes.Equal(hash, want[:]) {
			t.Fatal("hash is not SHA-256 of the key")
		}
		if got, err := ParseAPIKey(v); err != nil || got != prefix {
			t.Fatalf("ParseAPIKey(new key) = %q, %v", got, err)
		}
		if prefixes[prefix] || secrets[string(raw)] {
			t.Fatal("prefix or secret repeated")
		}
		prefixes[prefix], secrets[string(raw)] = true, true
		if strings.Contains(key.String(), prefix) {
			t.Fatal("the key prints itself")
		}
	}
}

func TestCheckAPIKey(t *testing.T) {
	t.Parallel()
	key, _, hash := NewAPIKey()
	if !CheckAPIKey(key, hash) {
		t.Fatal("key does not match its own hash")
	}
	other, _, otherHash := NewAPIKey()
	v := key.Reveal()
	flipped := v[:len(v)-2] + string(rune(v[len(v)-2]^1)) + v[len(v)-1:]
	for name, c := range map[string]struct {
		key  secret.Secret
		hash []byte
	}{
		"other key":         {other, hash},
		"other hash":        {key, otherHash},
		"one character off": {secret.New(flipped), hash},
		"empty hash":        {key, nil},
		"truncated hash":    {key, hash[:31]},
		"empty key":         {secret.New(""), hash},
	} {
		if CheckAPIKey(c.key, c.hash) {
			t.Errorf("%s: CheckAPIKey accepted", name)
		}
	}
}

func TestParseAPIKeyStrict(t *testing.T) {
	t.Parallel()
	good, prefix, _ := NewAPIKey()
	g := good.Reveal()
	secretPart := g[len(g)-43:]
	nonCanonical := secretPart[:42] + "B" // 43rd character carries 4 unused bits; B sets one
	if secretPart[42] == 'B' {
		nonCanonical = secretPart[:42] + "C"
	}
	bad := []string{
		"",
		"pal_",
		g[:len(g)-1],
		g + "A",
		" " + g,
		g + "\n",
		"Bearer " + g,
		"PAL_" + g[4:],
		"pak_" + g[4:],
		"pal-" + g[4:],
		"pal_" + strings.ToUpper(prefix) + g[16:],
		"pal_" + prefix[:11] + "1" + g[16:], // 1 is not in the prefix alphabet
		"pal_" + prefix[:11] + "_" + g[16:],
		"pal_" + prefix + "-" + secretPart,
		"pal_" + prefix + "_" + secretPart[:42] + "=",
		"pal_" + prefix + "_" + secretPart[:42] + "+",
		"pal_" + prefix + "_" + secretPart[:42] + "/",
		"pal_" + prefix + "_" + secretPart[:20] + "\n" + secretPart[21:],
		"pal_" + prefix + "_" + nonCanonical,
		"pal_" + prefix + "_" + secretPart[:41] + "é",
		strings.Repeat("a", APIKeyLen),
	}
	for _, s := range bad {
		p, err := ParseAPIKey(s)
		if err == nil || p != "" {
			t.Errorf("ParseAPIKey(%q) = %q, %v; want refused", s, p, err)
			continue
		}
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeUnauthorized || strings.Contains(pe.Error(), secretPart) {
			t.Errorf("ParseAPIKey(%q) error %v; want a bare unauthorized error", s, err)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add("pal_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		prefix, err := ParseAPIKey(s)
		if err != nil {
			if prefix != "" {
				t.Fatalf("refused %q but returned prefix %q", s, prefix)
			}
			return
		}
		if !apiKeyAnchored.MatchString(s) || prefix != s[4:16] {
			t.Fatalf("accepted %q (prefix %q) outside the pattern", s, prefix)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s[17:])
		if err != nil || len(raw) != 32 || base64.RawURLEncoding.EncodeToString(raw) != s[17:] {
			t.Fatalf("accepted %q whose secret is not 32 canonically encoded bytes", s)
		}
	})
}
