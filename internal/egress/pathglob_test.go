package egress

import (
	"strings"
	"testing"
)

func TestPathPatternMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/chat/completions", "/v1/chat/completions", true},
		{"/v1/chat/completions", "/v1/chat/completions/", false},
		{"/v1/chat/completions", "/v1/chat", false},
		{"/v1/chat/completions", "/V1/chat/completions", false},
		{"/bot*/sendMessage", "/bot123:ABC-def_1/sendMessage", true},
		{"/bot*/sendMessage", "/bot/sendMessage", true},
		{"/bot*/sendMessage", "/bot1/x/sendMessage", false},
		{"/bot*/sendMessage", "/xbot1/sendMessage", false},
		{"/bot*/sendMessage", "/bot1/sendMessages", false},
		{"/v1beta/models/*", "/v1beta/models/gemini-2.0-flash:generateContent", true},
		{"/v1beta/models/*", "/v1beta/models", false},
		{"/v1beta/models/*", "/v1beta/models/a/b", false},
		{"/v1beta/models/*:generateContent", "/v1beta/models/g:generateContent", true},
		{"/v1beta/models/*:generateContent", "/v1beta/models/g:streamGenerateContent", false},
		{"/v*/*/messages", "/v26.0/1234/messages", true},
		{"/a*b*c", "/abc", true},
		{"/a*b*c", "/aXbYbZc", true},
		{"/a*b*c", "/aXbYbZ", false},
		{"/*", "/", true},
		{"/", "/", true},
		{"/", "/a", false},
		{"/api/**", "/api/a", true},
		{"/api/**", "/api/a/b/c", true},
		{"/api/**", "/api/", true},
		{"/api/**", "/api", false},
		{"/api/**", "/apix/a", false},
		{"/**", "/", true},
		{"/**", "/anything/at/all", true},
		{"/x/%3a", "/x/%3A", true}, // escapes compare case-insensitively
		{"/x/:", "/x/%3A", false},  // but an escape is not the character
		{"/api/v10/users/@me/channels", "/api/v10/users/@me/channels", true},
	}
	for _, tc := range cases {
		pp, err := compilePathPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		segs, err := splitRequestPath(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got := pp.match(segs); got != tc.want {
			t.Errorf("%s vs %s: got %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestPathPatternCompileErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                              "empty",
		"v1":                            "start with /",
		"/a//b":                         "empty segment",
		"/**/a":                         "last segment",
		"/a**":                          "whole segment",
		"/../a":                         "dot segment",
		"/./a":                          "dot segment",
		"/%2e%2E/a":                     "dot segment",
		"/a%2Fb":                        "encoded slash",
		"/a%252Fb":                      "encoded slash",
		"/a%5cb":                        "backslash",
		`/a\b`:                          "backslash",
		"/a%00":                         "control character",
		"/a b":                          "not allowed",
		"/a?b":                          "not allowed",
		"/a#b":                          "not allowed",
		"/a%zz":                         "malformed percent escape",
		"/a%2":                          "malformed percent escape",
		"/" + strings.Repeat("a", 1024): "longer than",
	}
	for pattern, want := range cases {
		if _, err := compilePathPattern(pattern); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", pattern, err, want)
		}
	}
}

func TestRequestPathRefusals(t *testing.T) {
	t.Parallel()
	refused := []string{
		"/v1/../admin",
		"/v1/./x",
		"/..",
		"/v1/%2e%2e/admin",
		"/v1/%2E./admin",
		"/v1/%252e%252e/admin", // double-encoded
		"/v1/%25252e%25252e/admin",
		"/v1/..;/admin", // Tomcat path parameter
		"/v1/a%2Fb",
		"/v1/a%2fb",
		"/v1/a%252fb",
		"/v1/a%5Cb",
		`/v1/a\b`,
		"/v1//x",
		"//evil.test/x",
		"/v1/a%00",
		"/v1/a%0d%0aX-Injected:1",
		"/v1/%7F",
		"/v1/é",
		"v1/x",
		"/" + strings.Repeat("a", maxRequestPath),
	}
	for _, p := range refused {
		if _, err := splitRequestPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	accepted := []string{"", "/", "/v1/x/", "/a/b.c/...", "/a/.b", "/a/%41", "/a/100%25", "/@me", "/a:b;c=d"}
	for _, p := range accepted {
		if _, err := splitRequestPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
}

func TestRedactPath(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                     "/",
		"/":                    "/",
		"/v1/chat/completions": "/*/chat/completions",
		"/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage": "/*/sendMessage",
		"/api/chat.postMessage":                                    "/api/chat.postMessage",
		"/v26.0/1234567890/messages":                               "/*/*/messages",
		"/api/webhooks/123/AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIj/x": "/api/webhooks/*/*/x",
		"/a%2Fb/c?token=secret":                                    "/*/c",
		"/trailing/":                                               "/trailing/",
	}
	for in, want := range cases {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
