package egress

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	const okRule = `
  - name: r
    host: api.example.com
    ports: [443]
    methods: [POST]
    paths: [/v1/x]`
	withRule := func(field string) string {
		return "version: 1\nrules:\n  - name: r\n    host: api.example.com\n    ports: [443]\n    methods: [POST]\n    paths: [/v1/x]\n" + field
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty file"},
		{"no version", "rules: []", "version: must be 1"},
		{"wrong version", "version: 2\nrules: []", "version: must be 1"},
		{"unknown top-level field", "version: 1\nrulez: []", "field rulez not found"},
		{"unknown rule field", withRule("    allow_all: true\n"), "field allow_all not found"},
		{"misspelled unsafe flag", withRule("    unsafe_allow_private_address: true\n"), "not found"},
		{"duplicate key", "version: 1\nversion: 1\nrules: []", "already defined"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"wrong type", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [\"https\"]\n", "cannot unmarshal"},
		{"missing name", "version: 1\nrules:\n  - host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "rule 1 (line 3): name: required"},
		{"bad name", "version: 1\nrules:\n  - name: \"a b\"\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "name: use 1-64"},
		{"duplicate name", "version: 1\nrules:" + okRule + okRule, `rule 2 (line 8) "r": name: used by an earlier rule`},
		{"missing host", "version: 1\nrules:\n  - name: r\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "host: required"},
		{"wildcard too wide", "version: 1\nrules:\n  - name: r\n    host: \"*.com\"\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "at least two labels"},
		{"wildcard inside", "version: 1\nrules:\n  - name: r\n    host: \"api.*.com\"\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "whole first label"},
		{"bare wildcard", "version: 1\nrules:\n  - name: r\n    host: \"*\"\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "whole first label"},
		{"host with port", "version: 1\nrules:\n  - name: r\n    host: a.example.com:443\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "host: host name must be ASCII"},
		{"host with scheme", "version: 1\nrules:\n  - name: r\n    host: https://a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "host:"},
		{"unicode host", "version: 1\nrules:\n  - name: r\n    host: bücher.example\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "punycode"},
		{"numeric host", "version: 1\nrules:\n  - name: r\n    host: \"127.1\"\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "numeric address"},
		{"zoned ip", "version: 1\nrules:\n  - name: r\n    host: \"fe80::1%eth0\"\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n", "zone"},
		{"no ports", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    methods: [GET]\n    paths: [/]\n", "ports: at least one"},
		{"port zero", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [0]\n    methods: [GET]\n    paths: [/]\n", "ports: 0 is not in 1-65535"},
		{"port too big", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [65536]\n    methods: [GET]\n    paths: [/]\n", "65536"},
		{"duplicate port", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443, 443]\n    methods: [GET]\n    paths: [/]\n", "ports: listed twice"},
		{"no methods", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    paths: [/]\n", "methods: at least one"},
		{"lower-case method", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [get]\n    paths: [/]\n", `methods: "get" is not one of`},
		{"CONNECT", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [CONNECT]\n    paths: [/]\n", "CONNECT"},
		{"no paths", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n", "paths: at least one"},
		{"relative path", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [v1/x]\n", "must start with /"},
		{"dot-dot path", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/v1/../x]\n", "dot segment"},
		{"encoded slash path", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/v1/a%2fb]\n", "encoded slash"},
		{"double star inside", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [\"/**/x\"]\n", "last segment"},
		{"duplicate path", "version: 1\nrules:\n  - name: r\n    host: a.example.com\n    ports: [443]\n    methods: [GET]\n    paths: [/x, /x]\n", "paths: listed twice"},
		{"too large", "version: 1\n#" + strings.Repeat("x", maxPolicyBytes), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", p.Rules())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "egress policy: ") {
				t.Fatalf("error %q does not say what was being read", err)
			}
		})
	}
}

func TestParsePolicyNormalizes(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, `
version: 1
rules:
  - name: a
    host: API.Example.COM.
    ports: [443, 8443]
    methods: [GET, POST]
    paths: [/v1/*]
  - name: b
    host: "*.Example.com"
    ports: [443]
    methods: [GET]
    paths: ["/**"]
  - name: c
    host: "[::1]"
    ports: [11434]
    methods: [POST]
    paths: [/api/chat]
    unsafe_allow_http: true
    unsafe_allow_private_addresses: true
`)
	got := p.Rules()
	want := []Rule{
		{Name: "a", Host: "api.example.com", Ports: []int{443, 8443}, Methods: []string{"GET", "POST"}, Paths: []string{"/v1/*"}},
		{Name: "b", Host: "*.example.com", Ports: []int{443}, Methods: []string{"GET"}, Paths: []string{"/**"}},
		{Name: "c", Host: "::1", Ports: []int{11434}, Methods: []string{"POST"}, Paths: []string{"/api/chat"}, UnsafeAllowHTTP: true, UnsafeAllowPrivateAddresses: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Rules returns copies: changing them changes nothing.
	got[0].Ports[0] = 1
	if p.Rules()[0].Ports[0] != 443 {
		t.Fatal("Rules exposed the policy's own slices")
	}
	// An empty rule list is valid and denies everything.
	empty := mustPolicy(t, "version: 1\nrules: []\n")
	if err := empty.Allows("GET", mustURL(t, "https://api.openai.com/v1/models")); err == nil {
		t.Fatal("empty policy allowed a request")
	}
}

func TestHostMatching(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, `
version: 1
rules:
  - name: exact
    host: api.example.com
    ports: [443]
    methods: [GET]
    paths: ["/**"]
  - name: wild
    host: "*.apps.example.com"
    ports: [443]
    methods: [GET]
    paths: ["/**"]
  - name: ip
    host: "2001:4860::8888"
    ports: [443]
    methods: [GET]
    paths: ["/**"]
`)
	cases := []struct {
		url  string
		want Reason // "" allowed
	}{
		{"https://api.example.com/", ""},
		{"https://API.EXAMPLE.COM./x", ""},
		{"https://example.com/", ReasonNoRule},
		{"https://api.example.com.evil.test/", ReasonNoRule},
		{"https://evilapi.example.com/", ReasonNoRule},
		{"https://a.apps.example.com/", ""},
		{"https://apps.example.com/", ReasonNoRule},
		{"https://a.b.apps.example.com/", ReasonNoRule},
		{"https://.apps.example.com/", ReasonInvalidRequest},
		{"https://[2001:4860:0::8888]/", ""},
		{"https://[2001:4860::8889]/", ReasonNoRule},
		{"https://8.8.8.8/", ReasonNoRule},
		{"https://[fe80::1%25eth0]/", ReasonInvalidRequest},
		{"https://bücher.example/", ReasonInvalidRequest},
		{"https://api.example.com:0/", ReasonInvalidRequest},
		{"https://api.example.com:443/", ""},
		{"https://api.example.com:8443/", ReasonPort},
	}
	for _, tc := range cases {
		err := p.Allows("GET", mustURL(t, tc.url))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.url, err)
			}
			continue
		}
		var de *DenialError
		if !errors.As(err, &de) || de.Denial.Reason != tc.want {
			t.Errorf("%s: got %v, want %s", tc.url, err, tc.want)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	cases := []struct {
		name   string
		method string
		u      *url.URL
		want   Reason
	}{
		{"nil URL", "GET", nil, ReasonInvalidRequest},
		{"opaque", "POST", &url.URL{Scheme: "https", Host: "api.openai.com", Opaque: "//api.openai.com/v1/chat/completions"}, ReasonInvalidRequest},
		{"no host", "POST", &url.URL{Scheme: "https", Path: "/v1/chat/completions"}, ReasonInvalidRequest},
		{"unbracketed IPv6", "POST", &url.URL{Scheme: "https", Host: "::1", Path: "/"}, ReasonInvalidRequest},
		{"port with sign", "POST", &url.URL{Scheme: "https", Host: "api.openai.com:+443", Path: "/v1/chat/completions"}, ReasonInvalidRequest},
		{"empty port", "POST", &url.URL{Scheme: "https", Host: "api.openai.com:", Path: "/v1/chat/completions"}, ReasonInvalidRequest},
		{"relative path", "POST", &url.URL{Scheme: "https", Host: "api.openai.com", Path: "v1/chat/completions"}, ReasonPath},
		{"raw path with dots", "POST", &url.URL{Scheme: "https", Host: "api.openai.com", Path: "/v1/x/../chat/completions", RawPath: "/v1/x/%2E%2E/chat/completions"}, ReasonPath},
		{"lower-case method", "post", mustURL(t, "https://api.openai.com/v1/chat/completions"), ReasonInvalidRequest},
		{"method with space", "POST /", mustURL(t, "https://api.openai.com/v1/chat/completions"), ReasonInvalidRequest},
		{"TRACE", "TRACE", mustURL(t, "https://api.openai.com/v1/chat/completions"), ReasonMethod},
		{"javascript scheme", "GET", &url.URL{Scheme: "javascript", Opaque: "alert(1)"}, ReasonScheme},
	}
	for _, tc := range cases {
		err := p.Allows(tc.method, tc.u)
		var de *DenialError
		if !errors.As(err, &de) || de.Denial.Reason != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

// The default policy allows the official endpoints the platform calls and
// nothing around them.
func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	cases := []struct {
		method, url string
		want        Reason // "" allowed
	}{
		{"POST", "https://api.openai.com/v1/chat/completions", ""},
		{"POST", "https://api.openai.com/v1/responses", ""},
		{"GET", "https://api.openai.com/v1/models", ""},
		{"GET", "https://api.openai.com/v1/chat/completions", ReasonPath},
		{"DELETE", "https://api.openai.com/v1/models/gpt-4o", ReasonMethod},
		{"POST", "https://api.openai.com/v1/files", ReasonPath},
		{"POST", "http://api.openai.com/v1/chat/completions", ReasonScheme},
		{"POST", "https://api.openai.com:8443/v1/chat/completions", ReasonPort},
		{"POST", "https://api.anthropic.com/v1/messages", ""},
		{"POST", "https://api.anthropic.com/v1/messages/batches", ReasonPath},
		{"POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent", ""},
		{"POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", ""},
		{"POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:countTokens", ReasonPath},
		{"GET", "https://generativelanguage.googleapis.com/v1beta/models", ""},
		{"POST", "https://api.groq.com/openai/v1/chat/completions", ""},
		{"POST", "https://api.groq.com/openai/v1/v1/chat/completions", ReasonPath},
		{"POST", "https://api.groq.com/v1/chat/completions", ReasonPath},
		{"POST", "https://integrate.api.nvidia.com/v1/chat/completions", ""},
		{"POST", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", ""},
		{"POST", "https://api.telegram.org/bot123:x/setWebhook", ""},
		{"POST", "https://api.telegram.org/bot123:x/logOut", ReasonPath},
		{"POST", "https://api.telegram.org/file/bot123:x/photo.jpg", ReasonPath},
		{"POST", "https://api.telegram.org/bot123/x/sendMessage", ReasonPath},
		{"POST", "https://graph.facebook.com/v26.0/1234567890/messages", ""},
		{"POST", "https://graph.facebook.com/v26.0/me/accounts", ReasonPath},
		{"GET", "https://graph.facebook.com/v26.0/106540352242922?fields=display_phone_number,verified_name", ""},
		{"GET", "https://graph.facebook.com/v26.0/106540352242922/messages", ReasonPath},
		{"POST", "https://graph.facebook.com/v26.0/106540352242922", ReasonPath},
		{"DELETE", "https://graph.facebook.com/v26.0/106540352242922", ReasonMethod},
		{"POST", "https://graph.facebook.com/106540352242922/messages", ReasonPath},
		{"POST", "https://slack.com/api/chat.postMessage", ""},
		{"POST", "https://slack.com/api/admin.users.list", ReasonPath},
		{"POST", "https://hooks.slack.com/services/T/B/X", ReasonNoRule},
		{"POST", "https://discord.com/api/v10/channels/123/messages", ""},
		{"POST", "https://discord.com/api/v10/users/@me/channels", ""},
		{"PATCH", "https://discord.com/api/v10/webhooks/1/tok/messages/@original", ""},
		{"POST", "https://discord.com/api/v9/channels/123/messages", ReasonPath},
		{"DELETE", "https://discord.com/api/v10/channels/123", ReasonMethod},
		// ACME with Let's Encrypt: what golang.org/x/crypto/acme sends.
		{"GET", "https://acme-v02.api.letsencrypt.org/directory", ""},
		{"HEAD", "https://acme-v02.api.letsencrypt.org/directory", ""},
		{"HEAD", "https://acme-v02.api.letsencrypt.org/acme/new-nonce", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/new-acct", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/new-order", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/authz/123456/789", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/chall/123456/789/Zx9a", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/finalize/123456/987", ""},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/cert/03a1b2c3d4", ""},
		// ... and nothing near it.
		{"GET", "https://acme-v02.api.letsencrypt.org/acme/new-order", ReasonPath},
		{"PUT", "https://acme-v02.api.letsencrypt.org/directory", ReasonMethod},
		{"GET", "https://acme-v02.api.letsencrypt.org/", ReasonPath},
		{"POST", "https://acme-v02.api.letsencrypt.org/directory", ReasonPath},
		{"POST", "https://acme-v02.api.letsencrypt.org/acme/../admin", ReasonPath},
		{"GET", "http://acme-v02.api.letsencrypt.org/directory", ReasonScheme},
		{"GET", "https://acme-v02.api.letsencrypt.org:8443/directory", ReasonPort},
		{"GET", "https://acme-staging-v02.api.letsencrypt.org/directory", ReasonNoRule},
		{"GET", "https://letsencrypt.org/directory", ReasonNoRule},
		{"GET", "https://metadata.google.internal/computeMetadata/v1/", ReasonNoRule},
		{"GET", "https://localhost/", ReasonNoRule},
	}
	for _, tc := range cases {
		err := p.Allows(tc.method, mustURL(t, tc.url))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tc.method, tc.url, err)
			}
			continue
		}
		var de *DenialError
		if !errors.As(err, &de) || de.Denial.Reason != tc.want {
			t.Errorf("%s %s: got %v, want %s", tc.method, tc.url, err, tc.want)
		}
	}
	for _, r := range p.Rules() {
		if r.UnsafeAllowHTTP || r.UnsafeAllowPrivateAddresses {
			t.Errorf("default rule %q loosens a check", r.Name)
		}
		if len(r.Ports) != 1 || r.Ports[0] != 443 {
			t.Errorf("default rule %q is not 443 only", r.Name)
		}
	}
	// DefaultPolicyYAML is a copy.
	y := DefaultPolicyYAML()
	y[0] = 'X'
	if DefaultPolicyYAML()[0] == 'X' {
		t.Fatal("DefaultPolicyYAML exposed the embedded bytes")
	}
}

// The rule that got furthest explains the refusal.
func TestDenialNamesClosestRule(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	err := p.Allows("POST", mustURL(t, "https://api.openai.com/v1/models"))
	var de *DenialError
	if !errors.As(err, &de) || de.Denial.Reason != ReasonPath || de.Denial.Rule != "openai" {
		t.Fatalf("got %v", err)
	}
	err = p.Allows("PUT", mustURL(t, "https://api.openai.com/v1/models"))
	if !errors.As(err, &de) || de.Denial.Reason != ReasonMethod || de.Denial.Rule != "openai" {
		t.Fatalf("got %v", err)
	}
}

func TestRuleForURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		want Rule
	}{
		{"http://127.0.0.1:4321", Rule{Name: "url-127.0.0.1-4321", Host: "127.0.0.1", Ports: []int{4321}, Methods: allowedMethods(), Paths: []string{"/**"}, UnsafeAllowHTTP: true}},
		{"https://Example.com/some/path", Rule{Name: "url-example.com-443", Host: "example.com", Ports: []int{443}, Methods: allowedMethods(), Paths: []string{"/**"}}},
		{"http://[::1]:80", Rule{Name: "url---1-80", Host: "::1", Ports: []int{80}, Methods: allowedMethods(), Paths: []string{"/**"}, UnsafeAllowHTTP: true}},
	}
	for _, tc := range cases {
		got, err := RuleForURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %+v, want %+v", tc.url, got, tc.want)
		}
		if _, err := NewPolicy(got); err != nil {
			t.Fatalf("%s: rule does not compile: %v", tc.url, err)
		}
	}
	for _, bad := range []string{"ftp://example.com", "http://u:p@example.com", "::", "http://"} {
		if _, err := RuleForURL(bad); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
	// The rule allows the origin, and only the origin.
	r, _ := RuleForURL("http://127.0.0.1:4321")
	p, _ := NewPolicy(r)
	if err := p.Allows("DELETE", mustURL(t, "http://127.0.0.1:4321/a/b?c=d")); err != nil {
		t.Fatal(err)
	}
	if err := p.Allows("GET", mustURL(t, "http://127.0.0.1:4322/")); err == nil {
		t.Fatal("other port allowed")
	}
	if err := p.Allows("GET", mustURL(t, "https://localhost:4321/")); err == nil {
		t.Fatal("other host allowed")
	}
}
