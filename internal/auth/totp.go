package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// TOTP as authenticator apps implement it (RFC 6238 with the defaults every
// app supports): HMAC-SHA-1, 6 digits, a 30-second step, a 160-bit secret.
const (
	TOTPIssuer    = "Palisade"
	TOTPDigits    = 6
	TOTPPeriod    = 30 * time.Second
	totpSecretLen = 20
	// totpSkew is how many steps either side of now are accepted, for
	// clocks that drift and codes typed just as they change.
	totpSkew = 1
)

// totpEncoding is RFC 4648 base32 without padding, the form otpauth URIs
// and authenticator apps expect.
func totpEncoding() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }

// NewTOTPSecret returns a fresh 160-bit TOTP secret in unpadded base32
// (32 characters), to be sealed before it is stored.
func NewTOTPSecret() secret.Secret {
	b := make([]byte, totpSecretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return secret.New(totpEncoding().EncodeToString(b))
}

// TOTPProvisioningURI returns the otpauth://totp/ URI (the Key Uri Format
// authenticator apps scan as a QR code) for sec and the account name shown
// in the app (usually the email address). It is a secret: it carries sec.
func TOTPProvisioningURI(sec secret.Secret, account string) secret.Secret {
	q := url.Values{}
	q.Set("secret", sec.Reveal())
	q.Set("issuer", TOTPIssuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", strconv.Itoa(TOTPDigits))
	q.Set("period", strconv.Itoa(int(TOTPPeriod/time.Second)))
	// The label is issuer:account. PathEscape writes a space as %20 (the
	// format forbids "+" for it); "+" and ":" are escaped as well, so no
	// app reads a "+" in an address as a space or a ":" as the separator.
	label := labelEscape(TOTPIssuer) + ":" + labelEscape(account)
	return secret.New("otpauth://totp/" + label + "?" + q.Encode())
}

func labelEscape(s string) string {
	return strings.NewReplacer("+", "%2B", ":", "%3A").Replace(url.PathEscape(s))
}

var errTOTPSecret = errors.New("malformed TOTP secret")

func decodeTOTPSecret(sec secret.Secret) ([]byte, error) {
	s := strings.ToUpper(strings.TrimRight(sec.Reveal(), "="))
	key, err := totpEncoding().DecodeString(s)
	if err != nil || len(key) < 16 {
		// Keep only that it failed: the decoder error points into the secret.
		return nil, errTOTPSecret
	}
	return key, nil
}

// TOTPStep returns the RFC 6238 time step t falls in (T = floor(unix / 30)).
func TOTPStep(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return -1
	}
	return u / int64(TOTPPeriod/time.Second)
}

// TOTPCode returns the 6-digit code for sec at time t, as an authenticator
// app would show it.
func TOTPCode(sec secret.Secret, t time.Time) (string, error) {
	key, err := decodeTOTPSecret(sec)
	if err != nil {
		return "", err
	}
	step := TOTPStep(t)
	if step < 0 {
		return "", errors.New("TOTP time before the Unix epoch")
	}
	return hotp(key, uint64(step), TOTPDigits, sha1.New), nil
}

// ValidateTOTP checks code against sec at now, accepting the step before
// and after now's. On success it returns the step the code belongs to: the
// caller stores it and passes it back as lastUsedStep next time, and a code
// for that step or any earlier one is refused, so an observed code cannot
// be replayed (RFC 6238 section 5.2). Pass 0 when no code was used yet.
// Codes are compared in constant time; spaces in code are ignored. err is
// set only when sec is malformed.
func ValidateTOTP(sec secret.Secret, code string, now time.Time, lastUsedStep int64) (step int64, ok bool, err error) {
	key, err := decodeTOTPSecret(sec)
	if err != nil {
		return 0, false, err
	}
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != TOTPDigits || strings.ContainsFunc(code, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false, nil
	}
	cur := TOTPStep(now)
	if cur < totpSkew {
		return 0, false, nil
	}
	// Every candidate is computed and compared before any is chosen.
	var matches [2*totpSkew + 1]int
	for i := range matches {
		s := cur - totpSkew + int64(i)
		want := hotp(key, uint64(s), TOTPDigits, sha1.New)
		matches[i] = subtle.ConstantTimeCompare([]byte(want), []byte(code))
	}
	for i, m := range matches {
		if s := cur - totpSkew + int64(i); m == 1 && s > lastUsedStep {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// hotp is RFC 4226 HOTP with the digit count and hash as parameters, so the
// RFC 6238 test vectors (8 digits, SHA-1/256/512) check the same code the
// 6-digit SHA-1 path runs.
func hotp(key []byte, counter uint64, digits int, newHash func() hash.Hash) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(newHash, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := uint64(binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff)
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(bin%mod, 10)
	return strings.Repeat("0", digits-len(s)) + s
}
