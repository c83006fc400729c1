package egress

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParsePolicy: the parser never panics on untrusted bytes, and any
// policy it accepts survives a round trip through its normalized rules.
func FuzzParsePolicy(f *testing.F) {
	f.Add(DefaultPolicyYAML())
	f.Add([]byte("version: 1\nrules: []\n"))
	f.Add([]byte("version: 1\nrules:\n  - name: a\n    host: \"*.example.com\"\n    ports: [443]\n    methods: [GET]\n    paths: [\"/**\"]\n"))
	f.Add([]byte("version: 1\nrules:\n  - name: ip\n    host: \"[::1]\"\n    ports: [1]\n    methods: [POST]\n    paths: [/a*b/c]\n    unsafe_allow_http: true\n    unsafe_allow_private_addresses: true\n"))
	f.Add([]byte("version: 1\nrules: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		rules := p.Rules()
		out, err := yaml.Marshal(policyFile{Version: PolicyVersion, Rules: rules})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p2, err := ParsePolicy(out)
		if err != nil {
			t.Fatalf("normalized policy does not parse: %v\n%s", err, out)
		}
		rules2 := p2.Rules()
		if len(rules) == 0 && len(rules2) == 0 {
			return
		}
		if !reflect.DeepEqual(rules, rules2) {
			t.Fatalf("round trip changed the rules:\n%+v\n%+v", rules, rules2)
		}
	})
}

// globOracle translates a compiled pattern into a regular expression, an
// independent implementation of the documented syntax.
func globOracle(pp pathPattern) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, s := range pp.segs {
		b.WriteString("/")
		for i, part := range strings.Split(s, "*") {
			if i > 0 {
				b.WriteString("[^/]*")
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	if pp.rest {
		b.WriteString("/.*")
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// FuzzPathMatch: the matcher agrees with the regular-expression oracle, and
// no path it lets through holds a dot segment or an encoded separator.
func FuzzPathMatch(f *testing.F) {
	f.Add("/bot*/sendMessage", "/bot123:ABC/sendMessage")
	f.Add("/v1beta/models/*", "/v1beta/models/gemini:generateContent")
	f.Add("/v1/chat/completions", "/v1/chat/completions")
	f.Add("/api/**", "/api/a/b/c")
	f.Add("/a*b*c", "/aXbYbZc")
	f.Add("/**", "/v1/%2e%2e/admin")
	f.Add("/**", "/v1/a%252Fb")
	f.Add("/x/%3a", "/x/%3A")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		pp, perr := compilePathPattern(pattern)
		segs, serr := splitRequestPath(path)
		if serr == nil {
			for _, s := range segs {
				dec := s
				for range 4 {
					if strings.ContainsAny(dec, "/\\") {
						t.Fatalf("segment %q of accepted path %q decodes to a separator", s, path)
					}
					name, _, _ := strings.Cut(dec, ";")
					if name == "." || name == ".." {
						t.Fatalf("accepted path %q has a dot segment", path)
					}
					dec = percentDecode(dec)
				}
			}
			if RedactPath(path) == "" {
				t.Fatal("empty redaction")
			}
		}
		if perr != nil || serr != nil {
			return
		}
		got := pp.match(segs)
		want := globOracle(pp).MatchString("/" + strings.Join(segs, "/"))
		if got != want {
			t.Fatalf("pattern %q path %q: match %v, oracle %v", pattern, path, got, want)
		}
	})
}

// percentDecode decodes valid %XX escapes and leaves anything else alone,
// like a lenient server would.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
