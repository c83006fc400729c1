package validate

import (
	"bytes"
	"errors"
	"html/template"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// mustField asserts err is an invalid-input error naming field.
func mustField(t *testing.T, err error, field string) *palisade.Error {
	t.Helper()
	var pe *palisade.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *palisade.Error", err)
	}
	if pe.Code != palisade.CodeInvalid || pe.Field != field {
		t.Fatalf("got code %q field %q, want invalid %q", pe.Code, pe.Field, field)
	}
	if !strings.HasPrefix(pe.Message, field+" ") {
		t.Fatalf("message %q does not name the field %q", pe.Message, field)
	}
	return pe
}

func TestName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		ok      bool
		message string
	}{
		{"Support bot", true, ""},
		{"Ünïcödé ボット 🤖", true, ""},
		{"' OR 1=1 --", true, ""},
		{"<script>alert(1)</script>", true, ""},
		{strings.Repeat("a", 100), true, ""},
		{strings.Repeat("é", 100), true, ""},
		{strings.Repeat("a", 101), false, "name must be at most 100 characters"},
		{strings.Repeat("é", 101), false, "name must be at most 100 characters"},
		{strings.Repeat("a", 10000), false, "name must be at most 100 characters"},
		{"", false, "name must not be empty"},
		{" padded", false, "name must not start or end with a space"},
		{"padded ", false, "name must not start or end with a space"},
		{"a\x00b", false, "name must not contain NUL bytes"},
		{"a\nb", false, "name must be a single line"},
		{"a\tb", false, "name must be a single line"},
		{"a\rb", false, "name must be a single line"},
		{"a\x1bb", false, "name must not contain control characters"},
		{"a\u0085b", false, "name must not contain control characters"},
		{"a\x7fb", false, "name must not contain control characters"},
		{"\xc0\xaf", false, "name must be valid UTF-8"},
		{"abc\xff", false, "name must be valid UTF-8"},
		{"\xed\xa0\x80", false, "name must be valid UTF-8"}, // a UTF-16 surrogate
		{"evil\u202egnp.exe", false, "name must not contain bidirectional control characters"},
		{"a\u2066b", false, "name must not contain bidirectional control characters"},
		{"a\u200bb", false, "name must not contain invisible formatting characters"},
		{"a\u200db", false, "name must not contain invisible formatting characters"},
		{"\ufeffname", false, "name must not contain invisible formatting characters"},
		{"a\u00a0b", false, "name must contain only printable characters and plain spaces"},
		{"a\u2028b", false, "name must contain only printable characters and plain spaces"},
		{"a\ue000b", false, "name must contain only printable characters and plain spaces"},
		{"a\ufffdb", false, "name must not contain the replacement character U+FFFD"},
		{"a\U000e0041b", false, "name must not contain invisible tag characters"},
	}
	for _, tt := range tests {
		err := Name("name", tt.in, 100)
		if tt.ok {
			if err != nil {
				t.Errorf("Name(%q) = %v, want nil", tt.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Name(%q) = nil, want %q", tt.in, tt.message)
			continue
		}
		if pe := mustField(t, err, "name"); pe.Message != tt.message {
			t.Errorf("Name(%q) message %q, want %q", tt.in, pe.Message, tt.message)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"line one\nline two\n\tindented", true},
		{"windows\r\nline breaks\r\n", true},
		{"emoji 👩\u200d💻 and شکر\u200cها", true}, // ZWJ and ZWNJ are legitimate in text
		{"<script>alert(1)</script>", true},
		{"'; DROP TABLE bots; --", true},
		{strings.Repeat("x", 4000), true},
		{strings.Repeat("x", 4001), false},
		{"lone\rcarriage return", false},
		{"trailing carriage return\r", false},
		{"nul\x00byte", false},
		{"bell\x07", false},
		{"escape \x1b[31mred", false},
		{"\u202eoverride", false},
		{"isolate\u2069", false},
		{"bad \xc0\xaf utf8", false},
		{"private \ue000 use", false},
		{"unassigned \U000e0fff", false},
		{"hidden \U000e0049\U000e0047\U000e004e tags", false},
	}
	for _, tt := range tests {
		err := Text("prompt", tt.in, 4000)
		if (err == nil) != tt.ok {
			t.Errorf("Text(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil {
			mustField(t, err, "prompt")
		}
	}
}

func TestEmail(t *testing.T) {
	t.Parallel()
	good := []string{"a@example.com", "first.last+tag@sub.example.co.uk", "O'Brien@example.ie", "x@xn--bcher-kva.example"}
	bad := []string{
		"", "plain", "@example.com", "a@", "a@b@example.com", "a@localhost", "a@127.0.0.1", "a@[127.0.0.1]",
		"a..b@example.com", ".a@example.com", "a.@example.com", `"quoted"@example.com`, "a b@example.com",
		"a@exam_ple.com", "a@-example.com", "a@example.123", "ü@example.com", "a@bücher.example",
		"a\x00@example.com", "a@example.com\n", "<script>@example.com", strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 250) + ".com", "a\u202e@example.com",
	}
	for _, s := range good {
		if err := Email("email", s); err != nil {
			t.Errorf("Email(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := Email("email", s); err == nil {
			t.Errorf("Email(%q) = nil, want an error", s)
		} else {
			mustField(t, err, "email")
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"acme", "acme-support-2", "a", "0"} {
		if err := Slug("slug", s, 32); err != nil {
			t.Errorf("Slug(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "-a", "a-", "a--b", "Acme", "a_b", "a b", "../a", "a%2f", "ä", strings.Repeat("a", 33)} {
		if err := Slug("slug", s, 32); err == nil {
			t.Errorf("Slug(%q) = nil, want an error", s)
		}
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s        string
		cs       Charset
		min, max int
		message  string
	}{
		{"123456", Digits, 6, 6, ""},
		{"deadbeef", HexLower, 8, 64, ""},
		{"abc-DEF_123", Base64URL, 1, 64, ""},
		{"12345", Digits, 6, 6, "code must be at least 6 characters"},
		{"1234567", Digits, 6, 6, "code must be at most 6 characters"},
		{"12345a", Digits, 6, 6, "code must contain only digits"},
		{"DEADBEEF", HexLower, 8, 64, "code must contain only lowercase hexadecimal digits"},
		{"abc=", Base64URL, 1, 64, "code must contain only ASCII letters, digits, '-' and '_'"},
		{"", Base64URL, 1, 64, "code must not be empty"},
		{"12\x003", Digits, 1, 6, "code must contain only digits"},
		{"١٢٣", Digits, 1, 12, "code must contain only digits"}, // Arabic-Indic digits are not ASCII digits
		{"ab", Charset("ab"), 1, 4, ""},
		{"ac", Charset("ab"), 1, 4, `code must contain only the characters "ab"`},
	}
	for _, tt := range tests {
		err := Token("code", tt.s, tt.cs, tt.min, tt.max)
		if tt.message == "" {
			if err != nil {
				t.Errorf("Token(%q) = %v, want nil", tt.s, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Token(%q) = nil, want %q", tt.s, tt.message)
			continue
		}
		if pe := mustField(t, err, "code"); pe.Message != tt.message {
			t.Errorf("Token(%q) message %q, want %q", tt.s, pe.Message, tt.message)
		}
	}
}

func TestDomain(t *testing.T) {
	t.Parallel()
	good := []string{"shop.example.com", "https://shop.example.com", "https://shop.example.com:8443", "xn--bcher-kva.example"}
	bad := []string{
		"", "localhost", "Shop.example.com", "https://Shop.example.com", "http://shop.example.com",
		"https://shop.example.com/", "https://shop.example.com/path", "https://user@shop.example.com",
		"https://shop.example.com:0", "https://shop.example.com:65536", "https://shop.example.com:08443",
		"https://shop.example.com:", "*.example.com", "https://*.example.com", "192.168.1.1", "https://[::1]",
		"bücher.example", "shop.example.com;script-src *", "shop.example.com 'unsafe-inline'",
		"null", "shop..example.com", "-shop.example.com", "shop.example.com.", "javascript://x.example",
		"shop.example.com\x00", "shop\u202e.example.com", "https://shop.example.com?x", "https://shop.example.com#x",
	}
	for _, s := range good {
		if err := Domain("domain", s); err != nil {
			t.Errorf("Domain(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := Domain("domain", s); err == nil {
			t.Errorf("Domain(%q) = nil, want an error", s)
		} else {
			mustField(t, err, "domain")
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		opts URLOptions
		ok   bool
	}{
		{"https://api.openai.com/v1", URLOptions{}, true},
		{"https://example.com:8443/hook?x=1#frag", URLOptions{}, true},
		{"https://10.0.0.5/v1", URLOptions{}, true},
		{"https://[2001:db8::1]:8443/", URLOptions{}, true},
		{"https://example.com/%E2%9C%93", URLOptions{}, true},
		{"http://127.0.0.1:11434", URLOptions{AllowHTTP: true}, true},
		{"http://example.com", URLOptions{}, false},
		{"ftp://example.com", URLOptions{AllowHTTP: true}, false},
		{"javascript:alert(1)", URLOptions{}, false},
		{"https:example.com", URLOptions{}, false},
		{"//example.com/x", URLOptions{}, false},
		{"/relative/path", URLOptions{}, false},
		{"HTTPS://example.com", URLOptions{}, false},
		{"https://user:pass@example.com/", URLOptions{}, false},
		{"https://user@example.com/", URLOptions{}, false},
		{"https://example.com\\@evil.com/", URLOptions{}, false},
		{"https://exa mple.com/", URLOptions{}, false},
		{"https://example.com/a b", URLOptions{}, false},
		{"https://bücher.example/", URLOptions{}, false},
		{"https://ex%61mple.com/", URLOptions{}, false},
		{"https://example.com:0/", URLOptions{}, false},
		{"https://example.com:99999/", URLOptions{}, false},
		{"https://example.com:/", URLOptions{}, false},
		{"https://010.0.0.1/", URLOptions{}, false},
		{"https://2130706433/", URLOptions{}, false},
		{"https://0x7f.0.0.1/", URLOptions{}, false},
		{"https://[fe80::1%25eth0]/", URLOptions{}, false},
		{"https://localhost/", URLOptions{}, false},
		{"https://example.com/\x00", URLOptions{}, false},
		{"https://example.com/\u202e", URLOptions{}, false},
		{"https://example.com/" + strings.Repeat("a", 2048), URLOptions{}, false},
		{"https:///path", URLOptions{}, false},
	}
	for _, tt := range tests {
		err := URL("url", tt.s, tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("URL(%q, %+v) = %v, want ok=%v", tt.s, tt.opts, err, tt.ok)
		}
		if err != nil {
			mustField(t, err, "url")
		}
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	good := []string{"docs/guide.md", "a", "a/b/c.txt", "notes..txt", "über/straße.md"}
	bad := []string{
		"", "/etc/passwd", "../secret", "a/../../b", "a/..", "..", ".", "./a", "a//b", "a/", "a/./b",
		"..%2fsecret", "%2e%2e/secret", "a%5cb", "..\\windows", "a\\b", "C:/Windows", "c:file",
		"a\x00b", "a\nb", "\u202etxt.exe", "\xc0\xaf", "\xc0\xae\xc0\xae/x", strings.Repeat("a/", 600) + "a",
		strings.Repeat("a", 256),
	}
	for _, s := range good {
		if err := Path("path", s); err != nil {
			t.Errorf("Path(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := Path("path", s); err == nil {
			t.Errorf("Path(%q) = nil, want an error", s)
		} else {
			mustField(t, err, "path")
		}
	}
}

func TestIDAndOneOf(t *testing.T) {
	t.Parallel()
	id := palisade.NewID(palisade.PrefixBot)
	if err := ID("bot", palisade.PrefixBot, id); err != nil {
		t.Fatalf("ID(valid) = %v", err)
	}
	for _, s := range []string{"", palisade.NewID(palisade.PrefixChannel), id + "a", strings.ToUpper(id), "bot_' OR 1=1 --", "bot_../../etc/passwd", id[:len(id)-1] + "\x00"} {
		if err := ID("bot", palisade.PrefixBot, s); err == nil {
			t.Errorf("ID(%q) = nil", s)
		} else if pe := mustField(t, err, "bot"); strings.Contains(pe.Message, s) && s != "" {
			t.Errorf("message %q echoes the input", pe.Message)
		}
	}
	if err := OneOf("mode", "before_llm", "off", "before_llm", "before_storage"); err != nil {
		t.Fatal(err)
	}
	err := OneOf("mode", "<b>x</b>", "off", "on")
	if pe := mustField(t, err, "mode"); pe.Message != `mode must be one of "off", "on"` {
		t.Fatalf("message %q", pe.Message)
	}
}

// hostile is a table of the inputs SPEC.md R4 says are refused: null
// bytes, control characters, path traversal, overlong encodings.
var hostile = []string{
	"null\x00byte", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "\xc0\xaf", "\xc0\xae\xc0\xae\xc0\xaf",
	"abc\u202egnp.exe", "\u2067isolate\u2069", strings.Repeat("A", 10000), strings.Repeat("é", 10000),
	"' OR 1=1 --", "\"; DROP TABLE users; --", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
	"javascript:alert(1)", "{{.}}", "${jndi:ldap://x}", "\r\nSet-Cookie: a=b",
}

// TestHostileInputs checks each hostile input against every check: each is
// refused, or accepted and then rendered inertly by html/template.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	page := template.Must(template.New("p").Parse(`<p title="{{.}}">{{.}}</p><a href="{{.}}">x</a>`))
	checks := map[string]func(string) error{
		"Name":   func(s string) error { return Name("f", s, 100) },
		"Text":   func(s string) error { return Text("f", s, 4000) },
		"Email":  func(s string) error { return Email("f", s) },
		"Slug":   func(s string) error { return Slug("f", s, 64) },
		"Token":  func(s string) error { return Token("f", s, Base64URL, 1, 128) },
		"Domain": func(s string) error { return Domain("f", s) },
		"URL":    func(s string) error { return URL("f", s, URLOptions{}) },
		"Path":   func(s string) error { return Path("f", s) },
		"ID":     func(s string) error { return ID("f", palisade.PrefixBot, s) },
	}
	for name, check := range checks {
		for _, in := range hostile {
			err := check(in)
			if err != nil {
				mustField(t, err, "f")
				continue
			}
			assertInvariants(t, in, 10000, true)
			var buf bytes.Buffer
			if err := page.Execute(&buf, in); err != nil {
				t.Fatalf("%s: rendering %q: %v", name, in, err)
			}
			out := buf.String()
			if strings.Contains(out, "<script") || strings.Contains(out, "<img") || strings.Contains(out, `href="javascript:`) {
				t.Errorf("%s accepted %q and it rendered actively: %s", name, in, out)
			}
		}
	}
}

// assertInvariants is what every accepted string must satisfy.
func assertInvariants(t *testing.T, s string, maxRunes int, multiline bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("accepted invalid UTF-8 %q", s)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes || len(s) > maxRunes*utf8.UTFMax {
		t.Fatalf("accepted %d runes / %d bytes over limit %d", n, len(s), maxRunes)
	}
	for i, r := range s {
		if r == 0 || isBidiControl(r) {
			t.Fatalf("accepted NUL or bidi control in %q", s)
		}
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r' && i+1 < len(s) && s[i+1] == '\n')) {
			t.Fatalf("accepted control character %U in %q", r, s)
		}
	}
}

func TestMissingLimitPanics(t *testing.T) {
	t.Parallel()
	for _, f := range []func(){func() { _ = Name("f", "x", 0) }, func() { _ = Text("f", "x", -1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a check without a limit did not panic")
				}
			}()
			f()
		}()
	}
}
