package validate

import (
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Every fuzz target asserts: no panic, every refusal is an invalid error
// naming the field, and every accepted string satisfies the invariants of
// its check. Seeds live in testdata/fuzz/<target>/.

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	pe, ok := err.(*palisade.Error)
	if !ok || pe.Code != palisade.CodeInvalid || pe.Field != "f" || !strings.HasPrefix(pe.Message, "f ") {
		t.Fatalf("refusal %#v is not an invalid error naming the field", err)
	}
}

func FuzzName(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Name("f", s, 50)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		assertInvariants(t, s, 50, false)
		if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
			t.Fatalf("accepted empty or padded name %q", s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("accepted non-printable %U in name %q", r, s)
			}
		}
	})
}

func FuzzText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Text("f", s, 200)
		checkRefusal(t, err)
		if err == nil {
			assertInvariants(t, s, 200, true)
		}
	})
}

func FuzzEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Email("f", s)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		assertInvariants(t, s, maxEmail, false)
		if strings.Count(s, "@") != 1 || len(s) > maxEmail {
			t.Fatalf("accepted %q", s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 || s[i] <= ' ' || strings.IndexByte(`"(),:;<>[\]`, s[i]) >= 0 {
				t.Fatalf("accepted special byte %q in %q", s[i], s)
			}
		}
	})
}

func FuzzDomain(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Domain("f", s)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		host := strings.TrimPrefix(s, "https://")
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		// What passes goes verbatim into CSP and CORS: nothing that could
		// end a source expression or widen it.
		if strings.ContainsAny(s, " ;,'\"*\t\r\n/?#@\\") && !strings.HasPrefix(s, "https://") ||
			strings.ContainsAny(host, " ;,'\"*/?#@\\") || host == "" || host != strings.ToLower(host) {
			t.Fatalf("accepted %q", s)
		}
		if s != "https://"+strings.TrimPrefix(s, "https://") && strings.Contains(s, ":") {
			t.Fatalf("accepted a port without a scheme: %q", s)
		}
	})
}

func FuzzURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, allowHTTP bool) {
		err := URL("f", s, URLOptions{AllowHTTP: allowHTTP})
		checkRefusal(t, err)
		if err != nil {
			return
		}
		assertInvariants(t, s, 2048, false)
		u, perr := url.Parse(s)
		if perr != nil {
			t.Fatalf("accepted unparsable %q: %v", s, perr)
		}
		if u.User != nil || u.Hostname() == "" || strings.ContainsAny(s, " \\") {
			t.Fatalf("accepted %q", s)
		}
		if u.Scheme != "https" && !(allowHTTP && u.Scheme == "http") {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
	})
}

func FuzzPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Path("f", s)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		assertInvariants(t, s, maxPath, false)
		if strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\%:") {
			t.Fatalf("accepted %q", s)
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("accepted traversal %q", s)
			}
		}
	})
}

func FuzzToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Token("f", s, Base64URL, 4, 64)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		if len(s) < 4 || len(s) > 64 {
			t.Fatalf("accepted length %d", len(s))
		}
		for i := 0; i < len(s); i++ {
			if !strings.ContainsRune(string(Base64URL), rune(s[i])) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzSlug(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		err := Slug("f", s, 40)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		if s == "" || len(s) > 40 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.Contains(s, "--") ||
			strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}
