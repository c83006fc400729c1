// Package validate is Palisade's one input-validation package (SPEC.md R4):
// every field a person or a peer can send is checked here against a charset
// and a length limit before it is stored, used in a query or put on a page.
// Every function returns nil or a *palisade.Error of code invalid that
// names the field and says plainly what is wrong ("name must be at most 100
// characters").
//
// Every check refuses invalid UTF-8 (overlong encodings included), NUL
// bytes, control characters (except the line breaks and tabs Text allows)
// and Unicode bidirectional overrides and isolates (U+202A–U+202E,
// U+2066–U+2069), which can make text display differently from what it is.
//
// It must never change a value (callers trim or lowercase before checking,
// then store exactly what passed), never echo the rejected value in a
// message, and never decide authorisation or reachability: a URL that
// passes here is still checked by the egress policy when it is fetched.
package validate

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// What each check lets through beyond printable characters.
type rules struct {
	// multiline allows tab, line feed, and carriage return before a line
	// feed.
	multiline bool
	// format allows Unicode format characters (zero-width joiners and the
	// like) other than the bidi controls; free text needs them (emoji
	// sequences, Persian), names must not have them.
	format bool
}

func errorf(field, format string, args ...any) error {
	return palisade.FieldError(field, "%s %s", field, fmt.Sprintf(format, args...))
}

// isBidiControl reports the embedding, override and isolate controls.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// checkText applies the checks every string shares: valid UTF-8, no NUL, no
// bidi controls, the control and format characters rules allows, and at
// most max characters (runes).
func checkText(field, s string, max int, rl rules) error {
	if max <= 0 {
		// Every field has a limit; a missing one is a bug of ours, and a
		// panic (a logged 500) says so louder than accepting anything.
		panic("validate: " + field + " checked without a positive length limit")
	}
	if len(s) > max*utf8.UTFMax {
		// Cheap refusal of huge input before looking at any character.
		return errorf(field, "must be at most %d characters", max)
	}
	if !utf8.ValidString(s) {
		return errorf(field, "must be valid UTF-8")
	}
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == 0:
			return errorf(field, "must not contain NUL bytes")
		case isBidiControl(r):
			return errorf(field, "must not contain bidirectional control characters")
		case r >= 0xE0000 && r <= 0xE007F:
			// Tag characters render as nothing yet reach a language model
			// as text: a known way to hide instructions in plain sight.
			return errorf(field, "must not contain invisible tag characters")
		case r == '\t' || r == '\n':
			if !rl.multiline {
				return errorf(field, "must be a single line")
			}
		case r == '\r':
			if !rl.multiline {
				return errorf(field, "must be a single line")
			}
			if i+1 >= len(s) || s[i+1] != '\n' {
				return errorf(field, "must not contain a carriage return outside a line break")
			}
		case unicode.IsControl(r):
			return errorf(field, "must not contain control characters")
		case unicode.Is(unicode.Cf, r):
			if !rl.format {
				return errorf(field, "must not contain invisible formatting characters")
			}
		case r == utf8.RuneError && !rl.multiline:
			// A literal U+FFFD is valid UTF-8 but in a name almost always
			// the scar of a bad decode somewhere upstream.
			return errorf(field, "must not contain the replacement character U+FFFD")
		case !rl.multiline && !unicode.IsPrint(r):
			return errorf(field, "must contain only printable characters and plain spaces")
		case rl.multiline && (unicode.Is(unicode.Co, r) || !unicode.IsGraphic(r) && !unicode.IsSpace(r)):
			return errorf(field, "must not contain unassigned or private-use characters")
		}
	}
	if n > max {
		return errorf(field, "must be at most %d characters", max)
	}
	return nil
}

// Name checks a single-line human-readable name (a bot, a workspace, a
// person): not empty, at most max characters, printable characters and
// plain spaces only, no leading or trailing space. Zero-width and other
// invisible characters are refused, so two names that look the same are
// the same.
func Name(field, s string, max int) error {
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if err := checkText(field, s, max, rules{}); err != nil {
		return err
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return errorf(field, "must not start or end with a space")
	}
	return nil
}

// Text checks multi-line free text (a system prompt, a description, a
// message): at most max characters; tabs and line breaks (LF or CRLF) are
// allowed, other control characters are not. It may be empty.
func Text(field, s string, max int) error {
	return checkText(field, s, max, rules{multiline: true, format: true})
}

// OneOf checks that s is exactly one of allowed.
func OneOf(field, s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	if len(allowed) <= 8 {
		return errorf(field, "must be one of %s", joinQuoted(allowed))
	}
	return errorf(field, "is not an accepted value")
}

func joinQuoted(list []string) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", s)
	}
	return out
}

// ID checks that s is a well-formed id of kind p, before any lookup (R1).
func ID(field string, p palisade.Prefix, s string) error {
	if !palisade.ValidID(p, s) {
		return errorf(field, "must be a well-formed %s_… id", p)
	}
	return nil
}
