package llm

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const testKey = "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz9876"

func TestScrub(t *testing.T) {
	t.Parallel()
	s := NewScrubber(testKey)
	cases := []struct {
		name, in string
		gone     []string // must not survive
		kept     []string // must survive
	}{
		{"whole key", "Incorrect API key provided: " + testKey + ".", []string{testKey, "AbCdEf", "9876"}, []string{"Incorrect API key provided: "}},
		{"openai masked echo", "Incorrect API key provided: sk-proj-**********************************9876. You can find your API key at https://platform.openai.com/account/api-keys.",
			[]string{"9876", "****"}, []string{"You can find your API key at"}},
		{"fragment", "key starting 0123456789GhIj is invalid", []string{"0123456789GhIj", "56789G"}, []string{"key starting", "is invalid"}},
		{"url-escaped", "GET /x?key=sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz9876", []string{"AbCdEf0123"}, []string{"GET /x?key="}},
		{"other provider keys", "keys AIzaSyA-1234567890abcdefghijklmnopqrstu and gsk_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqr and nvapi-abcdefghijklmnopqrstuvwxyz",
			[]string{"AIzaSyA-1234", "gsk_ABCDEF", "nvapi-abcdef"}, []string{"keys ", " and "}},
		{"bearer", "sent Authorization: Bearer abcdefghijklmnop", []string{"abcdefghijklmnop"}, []string{"sent Authorization: "}},
		{"plain text kept", "Rate limit reached for gpt-4o in organization org-123 on requests per min (RPM): Limit 3, Used 3.", nil,
			[]string{"Rate limit reached for gpt-4o in organization org-123 on requests per min (RPM): Limit 3, Used 3."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := s.Clean(tc.in)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q survived in %q", g, got)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q lost from %q", k, got)
				}
			}
		})
	}
}

func TestScrubEdgeCases(t *testing.T) {
	t.Parallel()
	if got := NewScrubber("abc").Clean("abc is the alphabet"); got != "abc is the alphabet" {
		t.Errorf("a three-byte key must not mangle text: %q", got)
	}
	escaped := "a+b/c=d&e:f0123"
	if got := NewScrubber(escaped).Clean("x a%2Bb%2Fc%3Dd%26e%3Af0123 y"); strings.Contains(got, "a%2Bb") {
		t.Errorf("the URL-escaped key survived: %q", got)
	}
	split := strings.Replace(testKey, "GhIj", "Gh\x00Ij", 1)
	if got := NewScrubber(testKey).Clean("bad key " + split); strings.Contains(got, "GhIj") || strings.Contains(got, "Gh") && strings.Contains(got, "Ij") {
		t.Errorf("a key split by a control character rejoined: %q", got)
	}
	long := NewScrubber("").Clean(strings.Repeat("é", 2000) + "\x1b[31m")
	if n := len([]rune(long)); n != maxMessageRunes+1 || strings.Contains(long, "\x1b") {
		t.Errorf("message not capped or not cleaned: %d runes", n)
	}
	if got := NewScrubber("").Clean("line one\nline two\r\n\tend\u2028"); got != "line one line two   end" {
		t.Errorf("got %q", got)
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	e := &Error{Provider: "anthropic", Status: 429, Type: "rate_limit_error", Message: "slow down", RetryAfter: 7 * time.Second, RequestID: "req_1"}
	want := "llm: anthropic: 429 rate_limit_error: slow down (retry after 7s) [request req_1]"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if got := fmt.Sprintf("%#v", e); got != `&llm.Error{"`+want+`"}` {
		t.Errorf("%%#v = %s", got)
	}
	if got := (&Error{Type: TypeTimeout}).Error(); got != "llm: timeout" {
		t.Errorf("got %q", got)
	}
}

func TestAuthFailed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		e    Error
		want bool
	}{
		{Error{Status: 401}, true},
		{Error{Status: 403}, true},
		{Error{Status: 400, Type: "API_KEY_INVALID"}, true},
		{Error{Type: "authentication_error"}, true},
		{Error{Status: 400, Type: "invalid_request_error"}, false},
		{Error{Status: 429}, false},
		{Error{Type: TypeTransport}, false},
	}
	for _, tc := range cases {
		if got := tc.e.AuthFailed(); got != tc.want {
			t.Errorf("%v: AuthFailed = %v", tc.e.Error(), got)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	temp := func(f float64) *float64 { return &f }
	ok := Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "hi"}}}
	cases := map[string]func(*Request){
		"no model":      func(r *Request) { r.Model = "" },
		"no messages":   func(r *Request) { r.Messages = nil },
		"system role":   func(r *Request) { r.Messages = []Message{{Role: "system", Content: "x"}} },
		"negative cap":  func(r *Request) { r.MaxTokens = -1 },
		"negative temp": func(r *Request) { r.Temperature = temp(-0.1) },
		"NaN temp":      func(r *Request) { zero := 0.0; r.Temperature = temp(zero / zero) },
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	for name, mod := range cases {
		r := ok
		mod(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if e, isErr := err.(*Error); !isErr || e.Type != TypeInvalidRequest {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestScrubberNeverPrintsTheKey(t *testing.T) {
	t.Parallel()
	s := NewScrubber(testKey)
	c := &Caller{scrub: s}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "scrubber", s)
	outs := []string{buf.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, *c))
	}
	for _, o := range outs {
		if strings.Contains(o, testKey[10:16]) {
			t.Fatalf("key fragment printed: %s", o)
		}
	}
}
