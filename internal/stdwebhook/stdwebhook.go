// Package stdwebhook verifies and signs webhooks the Standard Webhooks way
// (standardwebhooks.com): the signed content is "{webhook-id}.{webhook-
// timestamp}.{raw body}", the MAC is HMAC-SHA256, and the
// webhook-signature header is a space-separated list of "v1,<base64>"
// entries, any one of which may match (key rotation); entries of other
// versions are skipped.
//
// The verifier is written here rather than taken from the reference
// library, because the library reads the clock itself (no injected time),
// accepts non-canonical timestamps that a signer would render otherwise,
// and knows a single key, whereas Polar endpoints need two keys derived
// from one secret (LegacyKey). Signing goes through the reference library,
// so what we send is what its verifiers expect.
//
// It must never compare a MAC other than in constant time, never accept a
// timestamp outside the tolerance, and never read a body itself: callers
// hand it the bytes they read within their own cap.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Header names, as the specification spells them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a serialised secret: "whsec_" then the base64 key.
const SecretPrefix = "whsec_"

// Tolerance is how far a signed timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

// Bounds on what is parsed; real headers are far smaller.
const (
	MaxIDLen        = 256
	MaxSignatureLen = 4096
	MaxEntries      = 32
)

// Why a delivery failed verification. Callers answer all of them alike.
var (
	ErrMissingHeader = errors.New("stdwebhook: a webhook header is missing")
	ErrBadHeader     = errors.New("stdwebhook: a webhook header is malformed")
	ErrTooOld        = errors.New("stdwebhook: the signed timestamp is too old")
	ErrTooNew        = errors.New("stdwebhook: the signed timestamp is too new")
	ErrNoMatch       = errors.New("stdwebhook: no signature matches")
	ErrBadSecret     = errors.New("stdwebhook: the secret is not whsec_ followed by base64 of 24 to 64 bytes")
)

// Headers are the three headers of a delivery.
type Headers struct {
	ID        string
	Timestamp string
	Signature string
}

// HeadersFrom reads the three headers of a request.
func HeadersFrom(h http.Header) Headers {
	return Headers{ID: h.Get(HeaderID), Timestamp: h.Get(HeaderTimestamp), Signature: h.Get(HeaderSignature)}
}

// KeyFromSecret decodes a "whsec_" secret into its HMAC key. Padding is
// optional, as the Python reference library allows.
func KeyFromSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// LegacyKey is the HMAC key of Polar's older scheme: the UTF-8 bytes of the
// whole secret string as shown, prefix included, not decoded.
func LegacyKey(s string) []byte { return []byte(s) }

// ParseTimestamp reads a canonical decimal Unix time: digits only, no sign,
// no leading zero, so the signed string is the one a signer renders.
func ParseTimestamp(s string) (time.Time, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return time.Time{}, ErrBadHeader
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, ErrBadHeader
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, ErrBadHeader
	}
	return time.Unix(n, 0), nil
}

// ParseSignatures returns the decoded MACs of the header's "v1," entries.
// Entries of other versions are skipped; a malformed v1 entry, too many
// entries or too long a header is an error.
func ParseSignatures(header string) ([][]byte, error) {
	if len(header) > MaxSignatureLen {
		return nil, ErrBadHeader
	}
	fields := strings.Fields(header)
	if len(fields) > MaxEntries {
		return nil, ErrBadHeader
	}
	var out [][]byte
	for _, f := range fields {
		version, sig, ok := strings.Cut(f, ",")
		if !ok || version != "v1" {
			continue
		}
		mac, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(mac) != sha256.Size {
			return nil, ErrBadHeader
		}
		out = append(out, mac)
	}
	return out, nil
}

// MAC is the v1 MAC of one delivery under key.
func MAC(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery: the headers present and well-formed, the
// timestamp within Tolerance of now, and at least one v1 entry equal to the
// MAC under one of keys. Every MAC is compared, in constant time, whatever
// matched before it.
func Verify(keys [][]byte, h Headers, body []byte, now time.Time) error {
	if h.ID == "" || h.Timestamp == "" || h.Signature == "" {
		return ErrMissingHeader
	}
	if len(h.ID) > MaxIDLen || strings.ContainsAny(h.ID, ". \t") {
		return ErrBadHeader
	}
	ts, err := ParseTimestamp(h.Timestamp)
	if err != nil {
		return err
	}
	switch {
	case now.Sub(ts) > Tolerance:
		return ErrTooOld
	case ts.Sub(now) > Tolerance:
		return ErrTooNew
	}
	sigs, err := ParseSignatures(h.Signature)
	if err != nil {
		return err
	}
	match := 0
	for _, key := range keys {
		want := MAC(key, h.ID, h.Timestamp, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				match |= 1
			}
		}
	}
	if match == 0 {
		return ErrNoMatch
	}
	return nil
}

// Sign returns the webhook-signature header of a delivery signed with the
// whsec_ secret, through the reference library.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	if _, err := KeyFromSecret(secret); err != nil {
		return "", err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return "", fmt.Errorf("stdwebhook: %w", ErrBadSecret)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		return "", fmt.Errorf("stdwebhook: signing: %w", err)
	}
	return sig, nil
}
