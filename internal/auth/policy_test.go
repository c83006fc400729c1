package auth

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		pw      string
		context []string
		want    string // expected public message; "" when accepted
	}{
		// Length, counted in characters after NFKC, capped in bytes.
		{"empty", "", nil, msgPasswordShort},
		{"11 characters", "kx7!qp2#vw9", nil, msgPasswordShort},
		{"12 characters", "kx7!qp2#vw9z", nil, ""},
		{"11 multibyte runes", "ёжиквтумане", nil, msgPasswordShort}, // 22 bytes, 11 runes
		{"12 CJK runes", "山川草木鳥獣虫魚雲雨風雷", nil, ""},
		{"emoji counted as runes", "🦊🐢🦉🐙🦀🐝🦔🐌🦋🐞🦎🐬", nil, ""},
		{"1024 bytes", strings.Repeat("kx7!qp2#", 128), nil, msgPasswordPattern},
		{"1024 bytes varied", randomText(1024), nil, ""},
		{"1025 bytes", randomText(1025), nil, msgPasswordLong},
		// Text only.
		{"NUL byte", "kx7!qp2#vw9z\x00", nil, msgPasswordText},
		{"newline", "kx7!qp2#\nvw9z", nil, msgPasswordText},
		{"DEL", "kx7!qp2#vw9z\x7f", nil, msgPasswordText},
		{"invalid UTF-8", "kx7!qp2#vw9z\xff", nil, msgPasswordText},
		// Repetition.
		{"one character", "aaaaaaaaaaaa", nil, msgPasswordRepeated},
		{"one character, spaced", "a a a a a a a a a a a a", nil, msgPasswordRepeated},
		{"spaces only", "            ", nil, msgPasswordRepeated},
		{"one character, mixed case", "AaAaAaAaAaAa", nil, msgPasswordRepeated},
		{"one rune", "ыыыыыыыыыыыы", nil, msgPasswordRepeated},
		{"short unit", "abcabcabcabc", nil, msgPasswordPattern},
		{"two-character unit", "x9x9x9x9x9x9x9", nil, msgPasswordPattern},
		{"long unit repeated", "Tr0ub4dor&3zqTr0ub4dor&3zq", nil, ""},
		// Sequences.
		{"digits", "123456789012", nil, msgPasswordSequence},
		{"digits wrapping", "789012345678", nil, msgPasswordSequence},
		{"digits descending", "987654321098", nil, msgPasswordSequence},
		{"alphabet", "abcdefghijklm", nil, msgPasswordSequence},
		{"alphabet descending", "ZYXWVUTSRQPO", nil, msgPasswordSequence},
		{"keyboard row", "qwertyuiopas", nil, msgPasswordSequence},
		{"keyboard row reversed", "lkjhgfdsapoiu", nil, msgPasswordSequence},
		{"keyboard column walk", "1qaz2wsx3edc4rfv", nil, msgPasswordSequence},
		{"azerty row", "azertyuiopqsd", nil, msgPasswordSequence},
		{"sequence with symbols", "!!abcdefghijk!!", nil, msgPasswordSequence},
		{"shifted digit row", "!@#$%^&*()!@", nil, msgPasswordSequence},
		// Common passwords and their variants.
		{"common exact", "iloveyousomuch", nil, msgPasswordCommon},
		{"common repeated", "passwordpassword", nil, msgPasswordPattern},
		{"common 12+", "correcthorsebatterystaple", nil, msgPasswordCommon},
		{"common with spaces", "correct horse battery staple", nil, msgPasswordCommon},
		{"common upper case", "ILOVEYOUSOMUCH", nil, msgPasswordCommon},
		{"sequence plus digits", "QWERTYUIOP123", nil, msgPasswordSequence},
		{"common plus digits", "Password1234", nil, msgPasswordCommon},
		{"common plus year and symbol", "Welcome2025!", nil, msgPasswordCommon},
		{"common with leet", "P@ssw0rd2024", nil, msgPasswordCommon},
		{"common with leet 1 as l", "1etmein12345", nil, msgPasswordCommon},
		{"common with leading digits", "12345678dragon", nil, msgPasswordCommon},
		{"common decorated both sides", "!!iloveyou2024!!", nil, msgPasswordCommon},
		{"common full-width", "ｐａｓｓｗｏｒｄ１２３４", nil, msgPasswordCommon},
		{"common cyrillic", "пароль123456", nil, msgPasswordCommon},
		{"common inside more words", "password-is-not-my-choice", nil, ""},
		// Context: email local part and workspace name.
		{"contains email name", "jsmith-Secure-Orbit", []string{"jsmith@example.com"}, msgPasswordContext},
		{"contains email name, other case", "xJ.Smith-ORBIT-77", []string{"J.Smith@example.com", "Acme"}, msgPasswordContext},
		{"contains part of email name", "orbit-smith-lantern", []string{"john.smith@example.com"}, msgPasswordContext},
		{"email domain is allowed", "orbit-example-lantern", []string{"zq@example.com"}, ""},
		{"contains workspace name", "acmecorp-orbit-lantern", []string{"zq@example.com", "Acme Corp"}, msgPasswordContext},
		{"contains workspace word", "my-acme-orbit-lantern", []string{"Acme Corp"}, msgPasswordContext},
		{"contains unicode workspace", "müller-orbit-lantern", []string{"Café Müller"}, msgPasswordContext},
		{"short workspace name ignored", "ai-orbit-lantern-42", []string{"AI"}, ""},
		{"empty context ignored", "orbit-lantern-fjord", []string{"", "   "}, ""},
		// Strong passwords pass.
		{"passphrase", "violet tractor sings in the fjord", nil, ""},
		{"random", "hT8#qLz2!vRw", nil, ""},
		{"words and digits", "lantern-orbit-fjord-42", []string{"jsmith@example.com", "Acme"}, ""},
	}
	for _, tc := range cases {
		err := CheckPassword(tc.pw, tc.context...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: CheckPassword(%q) = %v; want accepted", tc.name, tc.pw, err)
			}
			continue
		}
		var pe *palisade.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: CheckPassword(%q) = %v; want %q", tc.name, tc.pw, err, tc.want)
			continue
		}
		if pe.Message != tc.want || pe.Field != "password" || pe.Code != palisade.CodeInvalid {
			t.Errorf("%s: CheckPassword(%q) = %+v; want field password, code invalid, %q", tc.name, tc.pw, pe, tc.want)
		}
		if len(tc.pw) >= 4 && strings.Contains(pe.Error(), tc.pw) {
			t.Errorf("%s: error repeats the password", tc.name)
		}
	}
}

// randomText returns n bytes of printable ASCII from a fixed seed, so it is
// the same on every run and (at these lengths) never a pattern.
func randomText(n int) string {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('!' + r.IntN('~'-'!'+1))
	}
	return string(b)
}

func commonLines(t *testing.T) []string {
	t.Helper()
	if !strings.HasSuffix(commonPasswords, "\n") {
		t.Fatal("commonpasswords.txt must end with a newline")
	}
	return strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
}

func TestCommonPasswordListIsNormalised(t *testing.T) {
	t.Parallel()
	lines := commonLines(t)
	if len(lines) < 1000 {
		t.Fatalf("only %d common passwords", len(lines))
	}
	long := 0
	for i, l := range lines {
		if l == "" || l != squash(l) || strings.ContainsFunc(l, unicode.IsControl) || !utf8.ValidString(l) {
			t.Errorf("line %d %q is not lowercase text without whitespace", i+1, l)
		}
		if i > 0 && lines[i-1] >= l {
			t.Errorf("line %d %q is not after %q: the list must be sorted by byte value and unique", i+1, l, lines[i-1])
		}
		if utf8.RuneCountInString(l) >= MinPasswordRunes {
			long++
		}
		if len(l) > maxCommonPasswordBytes {
			t.Errorf("line %d %q is longer than maxCommonPasswordBytes", i+1, l)
		}
	}
	if long < 300 {
		t.Errorf("only %d entries of 12+ characters", long)
	}
}

func TestContainsLineAgreesWithSet(t *testing.T) {
	t.Parallel()
	lines := commonLines(t)
	for _, l := range lines {
		if !containsLine(commonPasswords, l) {
			t.Errorf("containsLine misses %q", l)
		}
		for _, near := range []string{l + "x", l[:len(l)-1], "0" + l, l + "\n" + l} {
			if !slices.Contains(lines, near) && containsLine(commonPasswords, near) {
				t.Errorf("containsLine finds %q, which is not a line", near)
			}
		}
	}
	for _, absent := range []string{"", "\n", "!", "~", "zzzzzzzzzzzz", "\xff", "violettractorsings"} {
		if containsLine(commonPasswords, absent) {
			t.Errorf("containsLine finds %q", absent)
		}
	}
	small := "b\nd\nf\n"
	for key, want := range map[string]bool{"a": false, "b": true, "c": false, "d": true, "e": false, "f": true, "g": false, "b\nd": false} {
		if got := containsLine(small, key); got != want {
			t.Errorf("containsLine(%q, %q) = %v", small, key, got)
		}
	}
}

// Every list entry long enough to pass the length rule is still refused.
func TestEveryLongCommonPasswordIsRefused(t *testing.T) {
	t.Parallel()
	for _, l := range commonLines(t) {
		if utf8.RuneCountInString(l) < MinPasswordRunes {
			continue
		}
		for _, pw := range []string{l, strings.ToUpper(l)} {
			if err := CheckPassword(pw); err == nil {
				t.Errorf("common password %q accepted", pw)
			}
		}
	}
}

// Short common passwords are refused once decorated to reach the minimum.
func TestDecoratedCommonPasswordsAreRefused(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"password", "monkey", "letmein", "dragon", "sunshine", "football", "iloveyou", "trustno1", "superman"} {
		for _, decorated := range []string{
			base + strings.Repeat("7", MinPasswordRunes-len(base)) + "!",
			strings.ToUpper(base[:1]) + base[1:] + "2024!@#$",
			"#1" + base + "123456",
		} {
			if err := CheckPassword(decorated); err == nil {
				t.Errorf("decorated common password %q accepted", decorated)
			}
		}
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("kx7!qp2#vw9z", "jsmith@example.com")
	f.Fuzz(func(t *testing.T, pw, ctx string) {
		err := CheckPassword(pw, ctx)
		if err == nil {
			if !utf8.ValidString(pw) || len(pw) > MaxPasswordBytes || utf8.RuneCountInString(pw) < 1 {
				t.Fatalf("accepted %q", pw)
			}
			return
		}
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Field != "password" || pe.Code != palisade.CodeInvalid {
			t.Fatalf("CheckPassword(%q) = %v; want a field error on password", pw, err)
		}
	})
}
