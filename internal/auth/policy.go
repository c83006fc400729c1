package auth

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/palisadehq/palisade/internal/palisade"
)

// MinPasswordRunes is the shortest password accepted, in characters
// (runes after NFKC normalisation), not bytes: a password of twelve
// accented or CJK characters is as acceptable as twelve ASCII ones.
const MinPasswordRunes = 12

// commonPasswords is a list of well-known common passwords and their usual
// variants, one per line, lowercase, without whitespace, sorted by byte
// value and unique (TestCommonPasswordListIsNormalised holds it to that),
// so a lookup is a binary search over the embedded text with no set to
// build and no state to keep. The embedded string is never written.
//
//go:embed commonpasswords.txt
var commonPasswords string

// maxCommonPasswordBytes is at least the longest entry of the list (a test
// holds it to that), so longer candidates skip the lookup.
const maxCommonPasswordBytes = 64

// Each refusal has its own public message; none repeats the password or the
// context it was checked against.
const (
	msgPasswordText     = "password must be text without control characters"
	msgPasswordShort    = "password must be at least 12 characters long"
	msgPasswordLong     = "password must be at most 1024 bytes long"
	msgPasswordRepeated = "password must not be one character repeated"
	msgPasswordPattern  = "password must not be a short pattern repeated"
	msgPasswordSequence = "password must not be a keyboard, letter or number sequence"
	msgPasswordCommon   = "password is too common (or a common password with a few digits or symbols added); choose a less predictable one"
	msgPasswordContext  = "password must not contain your email name or the workspace name"
)

// CheckPassword applies the password policy (SPEC R2) to pw and returns a
// palisade.FieldError on field "password" saying what to change, or nil.
// context holds values the password must not contain, such as the user's
// email address (only its local part is used) and the workspace name.
//
// The policy: valid text without control characters; at most 1024 bytes;
// at least 12 characters; not one character or a short pattern repeated;
// not a keyboard, alphabet or number sequence; not a common password, also
// after lower-casing, removing spaces, undoing common letter-for-digit
// substitutions and stripping a few leading or trailing digits and symbols;
// and not containing any context value.
func CheckPassword(pw string, context ...string) error {
	if !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl) {
		return palisade.FieldError("password", msgPasswordText)
	}
	if len(pw) > MaxPasswordBytes {
		return palisade.FieldError("password", msgPasswordLong)
	}
	n := norm.NFKC.String(pw)
	if utf8.RuneCountInString(n) < MinPasswordRunes {
		return palisade.FieldError("password", msgPasswordShort)
	}
	s := squash(n)
	if utf8.RuneCountInString(s) <= 1 || isRepeatedRune(s) {
		return palisade.FieldError("password", msgPasswordRepeated)
	}
	if unit := repeatedUnit(s); unit != "" && utf8.RuneCountInString(unit) < MinPasswordRunes {
		return palisade.FieldError("password", msgPasswordPattern)
	}
	cores := passwordCores(s)
	if isSequence(s) || isSequence(strings.TrimFunc(s, isSymbol)) {
		return palisade.FieldError("password", msgPasswordSequence)
	}
	for _, c := range cores {
		if utf8.RuneCountInString(c) >= 8 && isSequence(c) {
			return palisade.FieldError("password", msgPasswordSequence)
		}
	}
	for _, c := range cores {
		if isCommon(c) {
			return palisade.FieldError("password", msgPasswordCommon)
		}
	}
	for _, c := range context {
		for _, term := range contextTerms(c) {
			if strings.Contains(s, term) {
				return palisade.FieldError("password", msgPasswordContext)
			}
		}
	}
	return nil
}

// squash lower-cases and removes whitespace, the form every comparison
// below works on: "Correct Horse" and "correcthorse" are the same guess.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

func isRepeatedRune(s string) bool {
	first, size := utf8.DecodeRuneInString(s)
	for _, r := range s[size:] {
		if r != first {
			return false
		}
	}
	return true
}

// repeatedUnit returns the shortest u such that s is u repeated at least
// twice, or "" if there is none. Repetition adds almost no strength, so the
// unit alone must meet the minimum length.
func repeatedUnit(s string) string {
	r := []rune(s)
	for p := 1; p <= len(r)/2; p++ {
		if len(r)%p != 0 {
			continue
		}
		ok := true
		for i := p; i < len(r); i++ {
			if r[i] != r[i-p] {
				ok = false
				break
			}
		}
		if ok {
			return string(r[:p])
		}
	}
	return ""
}

// isSequence reports whether s is a run along a keyboard row or column
// walk, the alphabet or the digits, forwards or backwards, wrapping around.
func isSequence(s string) bool {
	if s == "" {
		return false
	}
	sequences := [...]string{
		"0123456789",
		"abcdefghijklmnopqrstuvwxyz",
		"0123456789abcdefghijklmnopqrstuvwxyz",
		"qwertyuiop", "asdfghjkl", "zxcvbnm",
		"qwertyuiopasdfghjklzxcvbnm",
		"1234567890qwertyuiopasdfghjklzxcvbnm",
		"qwertzuiop", "azertyuiop", "qsdfghjklm", "wxcvbn", "yxcvbnm",
		"qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn",
		"!@#$%^&*()", "1!2@3#4$5%6^7&8*9(0)",
		"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
		"qazwsxedcrfvtgbyhnujmikolp",
		"1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6u7i8o9p0",
		"1a2b3c4d5e6f7g8h9i0j",
	}
	for _, seq := range sequences {
		if onCycle(seq, s) || onCycle(reverse(seq), s) {
			return true
		}
	}
	return false
}

// onCycle reports whether s can be read off seq, starting anywhere and
// wrapping from its end to its start.
func onCycle(seq, s string) bool {
	for start := 0; start < len(seq); start++ {
		if seq[start] != s[0] {
			continue
		}
		i, ok := start, true
		for j := 1; j < len(s); j++ {
			if i++; i == len(seq) {
				i = 0
			}
			if seq[i] != s[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// reverse reverses an ASCII string (every sequence above is ASCII).
func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isSymbol(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// maxAffix is how many leading or trailing digits and symbols are peeled
// off when looking for a common password inside a longer one: the usual
// decorations ("1234", "2024!", "!@#$") are shorter than that.
const maxAffix = 8

// passwordCores returns s with every combination of up to maxAffix leading
// and up to maxAffix trailing non-letters removed (s itself first). Letters
// are never removed, so a core is always the password's word part plus
// some of its decoration.
func passwordCores(s string) []string {
	// Byte offsets where a core may start (after 0..maxAffix leading
	// non-letters) and end (before 0..maxAffix trailing ones).
	starts := []int{0}
	for i, r := range s {
		if len(starts) > maxAffix || isLetter(r) {
			break
		}
		starts = append(starts, i+utf8.RuneLen(r))
	}
	ends := []int{len(s)}
	for e := len(s); len(ends) <= maxAffix && e > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:e])
		if isLetter(r) {
			break
		}
		e -= size
		ends = append(ends, e)
	}
	cores := make([]string, 0, len(starts)*len(ends))
	for _, i := range starts {
		for _, j := range ends {
			if i < j {
				cores = append(cores, s[i:j])
			}
		}
	}
	return cores
}

// isCommon reports whether c, or c with common substitutions undone, is on
// the common password list.
func isCommon(c string) bool {
	if len(c) > maxCommonPasswordBytes {
		return false // longer than any entry, and undoing substitutions keeps the length
	}
	if containsLine(commonPasswords, c) {
		return true
	}
	for _, one := range [...]rune{'i', 'l'} {
		d := strings.Map(func(r rune) rune {
			switch r {
			case '0':
				return 'o'
			case '1':
				return one
			case '3':
				return 'e'
			case '4', '@':
				return 'a'
			case '5', '$':
				return 's'
			case '7':
				return 't'
			}
			return r
		}, c)
		if d != c && containsLine(commonPasswords, d) {
			return true
		}
	}
	return false
}

// containsLine reports whether key is one of the lines of sorted, a text of
// '\n'-terminated lines in byte order, by binary search over byte offsets
// (the way look(1) searches a dictionary).
func containsLine(sorted, key string) bool {
	if key == "" || strings.IndexByte(key, '\n') >= 0 {
		return false
	}
	lo, hi := 0, len(sorted) // both always at a line start (or the end)
	for lo < hi {
		mid := lo + (hi-lo)/2
		start := lo + strings.LastIndexByte(sorted[lo:mid], '\n') + 1
		end := strings.IndexByte(sorted[start:hi], '\n')
		if end < 0 {
			end = hi
		} else {
			end += start
		}
		switch line := sorted[start:end]; {
		case line == key:
			return true
		case line < key:
			lo = end + 1
		default:
			hi = start
		}
	}
	return false
}

// contextTerms returns what a password must not contain given one context
// value: for an email address its local part, otherwise the value itself;
// squashed, with separators removed, and each word of four or more
// characters. Terms shorter than three characters are ignored, or a
// workspace called "AI" would forbid half of all passwords.
func contextTerms(value string) []string {
	v := strings.ToLower(norm.NFKC.String(value))
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		v = v[:at]
	}
	var terms []string
	add := func(t string, minRunes int) {
		if utf8.RuneCountInString(t) >= minRunes {
			terms = append(terms, t)
		}
	}
	add(squash(v), 3)
	add(strings.Map(func(r rune) rune {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return -1
		}
		return r
	}, v), 3)
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		add(w, 4)
	}
	return terms
}
