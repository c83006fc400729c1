// Package secret provides Secret, the type every secret value travels in:
// API keys, tokens, passwords, webhook secrets, provider keys. A Secret
// prints as [REDACTED] on every printing path (fmt verbs, String, GoString,
// slog, JSON, text marshalling) and compares in constant time.
//
// It must never reveal a value except through the explicit Reveal method,
// and never compare values with ==.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// Redacted is what a Secret prints as.
const Redacted = "[REDACTED]"

// Secret holds a secret string. The zero value is the empty secret.
//
// The value sits behind a pointer: fmt cannot call methods on a value held
// in another struct's unexported field, and prints such fields by
// reflection; a pointer there prints as an address, never as the value.
type Secret struct {
	p *string
}

// New wraps a secret value.
func New(v string) Secret {
	if v == "" {
		return Secret{}
	}
	return Secret{p: &v}
}

// Reveal returns the secret value. Call it only where the value is used
// (a header being sent, a hash being computed), never to print it.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil }

// Equal compares two secrets in constant time (for equal lengths).
func (s Secret) Equal(o Secret) bool { return Equal(s.Reveal(), o.Reveal()) }

// Equal compares two secret strings in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Mask shows at most the last 4 characters of the secret, and none of a
// secret shorter than 12 characters, where 4 would be a third of it.
func (s Secret) Mask() string { return Mask(s.Reveal()) }

// Mask masks a secret string the way responses show secrets (R3).
func Mask(v string) string {
	if v == "" {
		return ""
	}
	n := utf8.RuneCountInString(v)
	if n < 12 {
		return "****"
	}
	r := []rune(v)
	return "****" + string(r[n-4:])
}

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return "secret.Secret{" + Redacted + "}" }

// Format covers every fmt verb, including %v with + and # flags and %x.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the value out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps the value out of text encodings (YAML, XML, flags).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
