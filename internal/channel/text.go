package channel

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/secret"
)

// Unit is how a platform counts the length of a message.
type Unit int

const (
	// Runes counts Unicode code points (Discord, WhatsApp).
	Runes Unit = iota
	// UTF16 counts UTF-16 code units, as Telegram does: a character
	// outside the Basic Multilingual Plane (most emoji) counts twice.
	UTF16
)

func (u Unit) width(r rune) int {
	if u == UTF16 && r >= 0x10000 {
		return 2
	}
	return 1
}

// Len is the length of s in u.
func (u Unit) Len(s string) int {
	n := 0
	for _, r := range s {
		n += u.width(r)
	}
	return n
}

// Split cuts text into parts of at most limit units, each cut at the
// last paragraph break that leaves the part at least half full, else the
// last sentence end, else the last line break, else the last space, and
// only failing all of those inside a word (never inside a character).
// Parts are trimmed of surrounding white space; blank text has no parts.
func Split(text string, limit int, u Unit) []string {
	text = strings.TrimSpace(text)
	if limit <= 0 {
		return nil
	}
	var parts []string
	for text != "" {
		if u.Len(text) <= limit {
			parts = append(parts, text)
			break
		}
		cut := cutPoint(text, limit, u)
		parts = append(parts, strings.TrimRightFunc(text[:cut], unicode.IsSpace))
		text = strings.TrimLeftFunc(text[cut:], unicode.IsSpace)
	}
	return parts
}

// cutPoint returns the byte offset at which to cut text, whose length in
// u is over limit.
func cutPoint(text string, limit int, u Unit) int {
	// The longest prefix that fits, ending on a character boundary.
	fit, n := 0, 0
	for i, r := range text {
		w := u.width(r)
		if n+w > limit {
			break
		}
		n += w
		fit = i + utf8.RuneLen(r)
	}
	if fit == 0 {
		// A limit smaller than one character: take the character.
		_, size := utf8.DecodeRuneInString(text)
		return size
	}
	prefix := text[:fit]
	half := len(prefix) / 2
	// Each boundary cuts after its separator; a cut in the first half is
	// passed over for a weaker boundary later in the text.
	for _, find := range []func(string) int{lastParagraph, lastSentence, lastLine, lastSpace} {
		if i := find(prefix); i > half {
			return i
		}
	}
	// No boundary in the second half: the best one anywhere, then a hard
	// cut.
	for _, find := range []func(string) int{lastParagraph, lastSentence, lastLine, lastSpace} {
		if i := find(prefix); i > 0 {
			return i
		}
	}
	return fit
}

func lastParagraph(s string) int {
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		return i + 2
	}
	return -1
}

func lastSentence(s string) int {
	best := -1
	for _, sep := range []string{". ", "! ", "? ", ".\n", "!\n", "?\n", "。", "！", "？"} {
		if i := strings.LastIndex(s, sep); i >= 0 && i+len(sep) > best {
			best = i + len(sep)
		}
	}
	return best
}

func lastLine(s string) int {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return i + 1
	}
	return -1
}

func lastSpace(s string) int {
	if i := strings.LastIndexFunc(s, unicode.IsSpace); i >= 0 {
		_, size := utf8.DecodeRuneInString(s[i:])
		return i + size
	}
	return -1
}

// UTF16Slice returns the part of s between UTF-16 offsets from and to, as
// Telegram's message entities address text; ok is false when the range
// does not fall inside s.
func UTF16Slice(s string, from, to int) (string, bool) {
	units := utf16.Encode([]rune(s))
	if from < 0 || to < from || to > len(units) {
		return "", false
	}
	return string(utf16.Decode(units[from:to])), true
}

// UTF16Cut returns s without the UTF-16 range [from, to).
func UTF16Cut(s string, from, to int) string {
	units := utf16.Encode([]rune(s))
	if from < 0 || to < from || to > len(units) {
		return s
	}
	return string(utf16.Decode(append(units[:from:from], units[to:]...)))
}

// EncodeFields packs named values into one secret, for a sealed column
// holding several (a platform's credentials).
func EncodeFields(fields map[string]string) secret.Secret {
	b, _ := json.Marshal(fields) // a map of strings always encodes
	v := secret.New(string(b))
	clear(b)
	return v
}

// DecodeFields unpacks what EncodeFields packed.
func DecodeFields(v secret.Secret) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(v.Reveal()), &m); err != nil {
		return nil, errUnreadableFields
	}
	return m, nil
}

// errUnreadableFields says nothing of the value: a JSON error could quote
// part of it.
var errUnreadableFields = errors.New("channel: a sealed value is not in the expected form")
