package llm

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Types of errors raised on our side of the wire. Errors a provider reports
// keep the provider's own type string ("rate_limit_error", "RESOURCE_EXHAUSTED"...).
const (
	TypeInvalidRequest = "invalid_request"    // refused before anything was sent
	TypeTimeout        = "timeout"            // the per-call time-out or the caller's deadline passed
	TypeCanceled       = "canceled"           // the caller's context was canceled
	TypeTransport      = "transport"          // the connection failed or broke
	TypeBadResponse    = "bad_response"       // the provider answered something we cannot read
	TypeTruncated      = "stream_truncated"   // the stream ended without its terminator
	TypeRedirect       = "redirect_refused"   // the provider answered with a redirect
	TypeTooLarge       = "response_too_large" // the response passed its size cap
	TypeBlocked        = "blocked"            // the provider refused the prompt or withheld the answer
	TypeHTTP           = "http_error"         // an error status with no body we could read
)

// maxMessageRunes caps the provider message kept in an Error, so a provider
// cannot push an arbitrary page into our logs.
const maxMessageRunes = 512

// Error is what adapters return for every failure. Its text never contains the
// API key: Caller scrubs Message and Type of the key's value, fragments of it
// and known key formats before an Error leaves this package.
type Error struct {
	Provider   string        // "openai", "anthropic", "gemini", or an OpenAI-compatible label
	Path       string        // the request's path (never its query), when a request was sent
	Status     int           // HTTP status; for an error inside a stream, the provider's code or 0
	Type       string        // the provider's error type, or one of the Type* constants
	Message    string        // the provider's message, scrubbed and capped
	RequestID  string        // the provider's request id, when it sent one
	Retryable  bool          // whether sending the same request later may succeed
	RetryAfter time.Duration // how long the provider asked us to wait, if it said

	cause error // only errors whose text carries no key: context and transport errors
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llm")
	if e.Provider != "" {
		b.WriteString(": ")
		b.WriteString(e.Provider)
	}
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	b.WriteString(":")
	if e.Status != 0 {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Type != "" {
		b.WriteString(" ")
		b.WriteString(e.Type)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		b.WriteString(" [request ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// GoString keeps %#v to the same scrubbed text as Error, instead of a dump of
// the fields and the wrapped cause.
func (e *Error) GoString() string { return "&llm.Error{" + strconv.Quote(e.Error()) + "}" }

// Unwrap exposes the cause, so errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.cause }

// AuthFailed reports whether the provider refused our credentials: the
// operator's configuration is wrong and no retry will help.
func (e *Error) AuthFailed() bool {
	switch e.Type {
	case "authentication_error", "permission_error", "invalid_api_key", "API_KEY_INVALID", "PERMISSION_DENIED", "UNAUTHENTICATED":
		return true
	}
	return e.Status == 401 || e.Status == 403
}

// Scrubber removes one API key from text that came back from a provider.
// Providers echo keys in error messages, often partially
// ("Incorrect API key provided: sk-proj-****abcd"), so a plain replace of the
// whole value is not enough: Scrub also removes every fragment of the key at
// least minFragment bytes long, masked runs of asterisks and the common
// provider key formats.
type Scrubber struct {
	// The key lives only inside this closure: fmt prints a func as an
	// address, even where it cannot reach a Format method (unexported
	// fields of a struct being printed).
	scrub func(string) string
}

const minFragment = 6

// knownKeys matches key formats of the supported providers and bearer
// credentials, whoever's key they are, plus masked echoes ("sk-...****abcd").
var knownKeys = regexp.MustCompile(`(?i:bearer\s+\S{8,})` +
	`|sk-[A-Za-z0-9_\-*.]{8,}` +
	`|AIza[0-9A-Za-z_\-]{20,}` +
	`|gsk_[A-Za-z0-9*]{10,}` +
	`|nvapi-[A-Za-z0-9_\-*]{10,}` +
	`|[A-Za-z0-9_\-]*\*{3,}[A-Za-z0-9_\-*]*`)

// Format keeps the key out of every fmt verb.
func (s *Scrubber) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("llm.Scrubber{" + redacted + "}"))
}

// LogValue keeps the key out of slog output.
func (s *Scrubber) LogValue() slog.Value { return slog.StringValue("llm.Scrubber{" + redacted + "}") }

// NewScrubber returns a Scrubber for key. A key shorter than four bytes is
// not looked for (it would mangle ordinary words), but the known formats
// still are.
func NewScrubber(key string) *Scrubber {
	var frags map[string]struct{}
	if len(key) < 4 {
		key = ""
	}
	if len(key) >= minFragment {
		frags = make(map[string]struct{}, len(key))
		for i := 0; i+minFragment <= len(key); i++ {
			frags[key[i:i+minFragment]] = struct{}{}
		}
	}
	escaped := url.QueryEscape(key)
	return &Scrubber{scrub: func(text string) string {
		if key != "" {
			text = strings.ReplaceAll(text, key, redacted)
			if escaped != key {
				text = strings.ReplaceAll(text, escaped, redacted)
			}
			if frags != nil {
				text = scrubFragments(text, frags)
			}
		}
		return knownKeys.ReplaceAllString(text, redacted)
	}}
}

// Scrub returns text with the key, its fragments and known key formats
// replaced by [REDACTED].
func (s *Scrubber) Scrub(text string) string {
	if text == "" {
		return ""
	}
	return s.scrub(text)
}

const redacted = "[REDACTED]"

// scrubFragments marks every byte covered by a window of minFragment bytes
// that also occurs in the key, then replaces each marked run. One map lookup
// per position keeps it linear in the text.
func scrubFragments(text string, frags map[string]struct{}) string {
	if len(text) < minFragment {
		return text
	}
	var covered []bool
	for i := 0; i+minFragment <= len(text); i++ {
		if _, ok := frags[text[i:i+minFragment]]; ok {
			if covered == nil {
				covered = make([]bool, len(text))
			}
			for j := i; j < i+minFragment; j++ {
				covered[j] = true
			}
		}
	}
	if covered == nil {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !covered[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		for i < len(text) && covered[i] {
			i++
		}
		b.WriteString(redacted)
	}
	return b.String()
}

// Clean makes text from a provider safe to keep in an Error: printable on one
// log line, scrubbed, capped. Control characters go first, so a key split by
// one cannot rejoin after scrubbing.
func (s *Scrubber) Clean(text string) string {
	return capRunes(s.Scrub(printable(text)), maxMessageRunes)
}

// printable returns valid UTF-8 with no control characters, newlines as spaces.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
