package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// RFC 6238 Appendix B: 8-digit codes, each algorithm with its own seed.
func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	vectors := []struct {
		unix int64
		alg  string
		code string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	}
	for _, v := range vectors {
		step := TOTPStep(time.Unix(v.unix, 0))
		if got := hotp(seeds[v.alg], uint64(step), 8, hashes[v.alg]); got != v.code {
			t.Errorf("T=%d %s: got %s, want %s", v.unix, v.alg, got, v.code)
		}
	}
	// The 6-digit SHA-1 path the app uses is the last six digits of the
	// same computation.
	sec := secret.New(base32.StdEncoding.EncodeToString(seeds["SHA1"]))
	for _, v := range vectors {
		if v.alg != "SHA1" {
			continue
		}
		got, err := TOTPCode(sec, time.Unix(v.unix, 0))
		if err != nil || got != v.code[2:] {
			t.Errorf("TOTPCode at %d = %q, %v; want %q", v.unix, got, err, v.code[2:])
		}
	}
}

// RFC 4226 Appendix D: 6-digit HOTP, counters 0 to 9.
func TestHOTPRFC4226Vectors(t *testing.T) {
	t.Parallel()
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp([]byte("12345678901234567890"), uint64(i), 6, sha1.New); got != w {
			t.Errorf("counter %d: got %s, want %s", i, got, w)
		}
	}
}

func TestNewTOTPSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		s := NewTOTPSecret()
		v := s.Reveal()
		if len(v) != 32 || strings.ContainsAny(v, "=abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("secret %q is not 32 characters of unpadded upper-case base32", v)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(v)
		if err != nil || len(raw) != 20 {
			t.Fatalf("secret decodes to %d bytes (%v); want 20", len(raw), err)
		}
		if seen[v] {
			t.Fatal("secret repeated")
		}
		seen[v] = true
	}
}

func TestTOTPProvisioningURI(t *testing.T) {
	t.Parallel()
	sec := NewTOTPSecret()
	uri := TOTPProvisioningURI(sec, "ada lovelace+x:y@example.com")
	if strings.Contains(uri.String(), sec.Reveal()) {
		t.Fatal("the URI prints its secret")
	}
	u, err := url.Parse(uri.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI %q is not otpauth://totp/", uri.Reveal())
	}
	if u.Path != "/Palisade:ada lovelace+x:y@example.com" {
		t.Fatalf("label %q", u.Path)
	}
	if !strings.HasPrefix(uri.Reveal(), "otpauth://totp/Palisade:ada%20lovelace%2Bx%3Ay@example.com?") {
		t.Fatalf("label not escaped as the format asks (space as %%20, + and : escaped): %q", uri.Reveal())
	}
	q := u.Query()
	want := map[string]string{"secret": sec.Reveal(), "issuer": "Palisade", "algorithm": "SHA1", "digits": "6", "period": "30"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q; want %q", k, q.Get(k), v)
		}
	}
}

func TestValidateTOTPSkewAndReplay(t *testing.T) {
	t.Parallel()
	sec := secret.New("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") // "12345678901234567890"
	now := time.Unix(1111111111, 0)
	cur := TOTPStep(now)
	code := func(d int64) string {
		c, err := TOTPCode(sec, now.Add(time.Duration(d)*TOTPPeriod))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		name     string
		code     string
		lastUsed int64
		wantStep int64
		wantOK   bool
	}{
		{"current", code(0), 0, cur, true},
		{"current with space", code(0)[:3] + " " + code(0)[3:], 0, cur, true},
		{"previous step", code(-1), 0, cur - 1, true},
		{"next step", code(1), 0, cur + 1, true},
		{"two steps back", code(-2), 0, 0, false},
		{"two steps ahead", code(2), 0, 0, false},
		{"replay of used step", code(0), cur, 0, false},
		{"older than used step", code(-1), cur, 0, false},
		{"newer than used step", code(1), cur, cur + 1, true},
		{"wrong code", wrongCode(code(-1), code(0), code(1)), 0, 0, false},
		{"too short", code(0)[:5], 0, 0, false},
		{"too long", code(0) + "0", 0, 0, false},
		{"letters", "12345a", 0, 0, false},
		{"unicode digits", "١٢٣٤٥٦", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tc := range cases {
		step, ok, err := ValidateTOTP(sec, tc.code, now, tc.lastUsed)
		if err != nil || ok != tc.wantOK || step != tc.wantStep {
			t.Errorf("%s: ValidateTOTP(%q, last %d) = %d, %v, %v; want %d, %v", tc.name, tc.code, tc.lastUsed, step, ok, err, tc.wantStep, tc.wantOK)
		}
	}
	// A code accepted once is refused when the caller passes its step back.
	step, ok, _ := ValidateTOTP(sec, code(0), now, 0)
	if !ok {
		t.Fatal("code refused")
	}
	if _, again, _ := ValidateTOTP(sec, code(0), now.Add(10*time.Second), step); again {
		t.Fatal("the same code was accepted twice")
	}
}

func wrongCode(avoid ...string) string {
	for _, c := range []string{"000000", "111111", "222222"} {
		if !strings.Contains(strings.Join(avoid, ","), c) {
			return c
		}
	}
	return "333333"
}

func TestValidateTOTPMalformedSecret(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "not base32!", "GEZDGNBV", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ1"} {
		_, ok, err := ValidateTOTP(secret.New(s), "123456", time.Now(), 0)
		if ok || err == nil {
			t.Errorf("secret %q: ok=%v err=%v; want an error", s, ok, err)
		}
		if err != nil && len(s) > 4 && strings.Contains(err.Error(), s) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	// Lower case and padding, as some apps export them, still work.
	lower := secret.New("gezdgnbvgy3tqojqgezdgnbvgy3tqojq")
	c, _ := TOTPCode(secret.New("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), time.Unix(59, 0))
	if _, ok, err := ValidateTOTP(lower, c, time.Unix(59, 0), 0); !ok || err != nil {
		t.Fatalf("lower-case secret: ok=%v err=%v", ok, err)
	}
}

// An independent implementation, written from RFC 6238 without hotp, agrees
// with the one under test on fresh secrets.
func TestTOTPIndependentImplementation(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		sec := NewTOTPSecret()
		now := time.Unix(1_700_000_000+int64(i)*7919, 0)
		key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec.Reveal())
		want := independentTOTP(key, now)
		got, err := TOTPCode(sec, now)
		if err != nil || got != want {
			t.Fatalf("TOTPCode = %q, %v; independent implementation says %q", got, err, want)
		}
		if _, ok, _ := ValidateTOTP(sec, want, now, 0); !ok {
			t.Fatal("a code from the independent implementation was refused")
		}
	}
}

func independentTOTP(key []byte, now time.Time) string {
	counter := now.Unix() / 30
	msg := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		msg[i] = byte(counter)
		counter >>= 8
	}
	mac := hmacSHA1(key, msg)
	o := int(mac[19] & 15)
	v := (int(mac[o])&0x7f)<<24 | int(mac[o+1])<<16 | int(mac[o+2])<<8 | int(mac[o+3])
	s := "000000" + itoa(v%1000000)
	return s[len(s)-6:]
}

// hmacSHA1 is HMAC (RFC 2104) spelled out over crypto/sha1.
func hmacSHA1(key, msg []byte) []byte {
	if len(key) > 64 {
		k := sha1.Sum(key)
		key = k[:]
	}
	ipad, opad := make([]byte, 64), make([]byte, 64)
	copy(ipad, key)
	copy(opad, key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	inner := sha1.Sum(append(ipad, msg...))
	outer := sha1.Sum(append(opad, inner[:]...))
	return outer[:]
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

func FuzzValidateTOTP(f *testing.F) {
	f.Add("123456", int64(1111111111), int64(0))
	sec := secret.New("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	f.Fuzz(func(t *testing.T, code string, unix, lastUsed int64) {
		step, ok, err := ValidateTOTP(sec, code, time.Unix(unix, 0), lastUsed)
		if err != nil {
			t.Fatalf("error on a good secret: %v", err)
		}
		if !ok {
			return
		}
		cur := TOTPStep(time.Unix(unix, 0))
		if step <= lastUsed || step < cur-1 || step > cur+1 {
			t.Fatalf("accepted step %d (now %d, last used %d)", step, cur, lastUsed)
		}
		want, _ := TOTPCode(sec, time.Unix(step*30, 0))
		if strings.ReplaceAll(code, " ", "") != want {
			t.Fatalf("accepted %q for step %d whose code is %s", code, step, want)
		}
	})
}
