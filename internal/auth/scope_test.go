package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
)

func TestAllScopesIsTheSpecList(t *testing.T) {
	t.Parallel()
	want := []Scope{"bots:read", "bots:write", "documents:read", "documents:write", "channels:read", "channels:write",
		"conversations:read", "conversations:write", "messages:send", "keys:read", "keys:write", "audit:read", "webhooks:read", "webhooks:write", "billing:manage", "workspace:export"}
	if got := AllScopes(); !slices.Equal(got, want) {
		t.Fatalf("AllScopes() = %v; want %v", got, want)
	}
	AllScopes()[0] = "mutated"
	if AllScopes()[0] != ScopeBotsRead {
		t.Fatal("AllScopes shares its slice")
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []Scope
		err  string // substring of the public message
	}{
		{"bots:read", []Scope{ScopeBotsRead}, ""},
		{"messages:send,bots:read", []Scope{ScopeBotsRead, ScopeMessagesSend}, ""},
		{" audit:read , bots:write ,, ", []Scope{ScopeBotsWrite, ScopeAuditRead}, ""},
		{"bots:read,bots:read,bots:read", []Scope{ScopeBotsRead}, ""},
		{"workspace:export,billing:manage,webhooks:write,webhooks:read,audit:read,keys:write,keys:read,messages:send,conversations:write,conversations:read,channels:write,channels:read,documents:write,documents:read,bots:write,bots:read", AllScopes(), ""},
		{"", nil, "at least one scope"},
		{" , ,", nil, "at least one scope"},
		{"bots:admin", nil, `unknown scope "bots:admin"`},
		{"bots:read,Bots:Write", nil, `unknown scope "Bots:Write"`},
		{"bots:*", nil, "unknown scope"},
		{"bots:read;bots:write", nil, "unknown scope"},
		{"members:write", nil, "unknown scope"},
		{strings.Repeat("x", 100), nil, `"` + strings.Repeat("x", 40) + `..."`},
		{strings.Repeat("bots:read,", 200), nil, "too long"},
	}
	for _, tc := range cases {
		got, err := ParseScopes(tc.in)
		if tc.err == "" {
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ParseScopes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Field != "scopes" || pe.Code != palisade.CodeInvalid || got != nil {
			t.Errorf("ParseScopes(%q) = %v, %v; want a field error on scopes", tc.in, got, err)
			continue
		}
		if !strings.Contains(pe.Message, tc.err) {
			t.Errorf("ParseScopes(%q) message %q lacks %q", tc.in, pe.Message, tc.err)
		}
		for _, s := range AllScopes() {
			if !strings.Contains(pe.Message, string(s)) {
				t.Errorf("ParseScopes(%q) message %q does not list %s", tc.in, pe.Message, s)
			}
		}
	}
}

func TestFormatScopesRoundTrip(t *testing.T) {
	t.Parallel()
	in := []Scope{ScopeAuditRead, ScopeBotsRead, "unknown", ScopeBotsRead}
	s := FormatScopes(in)
	if s != "bots:read,audit:read" {
		t.Fatalf("FormatScopes = %q", s)
	}
	back, err := ParseScopes(s)
	if err != nil || FormatScopes(back) != s {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	list, err := ParseScopeList([]string{"keys:read", " bots:read "})
	if err != nil || !slices.Equal(list, []Scope{ScopeBotsRead, ScopeKeysRead}) {
		t.Fatalf("ParseScopeList = %v, %v", list, err)
	}
	for _, s := range AllScopes() {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if Scope("bots").Valid() || Scope("").Valid() {
		t.Error("invalid scope reported valid")
	}
}

func FuzzParseScopes(f *testing.F) {
	f.Add("bots:read,messages:send")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScopes(s)
		if err != nil {
			if got != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("accepted an empty scope list")
		}
		for i, x := range got {
			if !x.Valid() || (i > 0 && scopeRank(got[i-1]) >= scopeRank(x)) {
				t.Fatalf("ParseScopes(%q) = %v: not valid, unique and in canonical order", s, got)
			}
		}
		again, err := ParseScopes(FormatScopes(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %v gave %v, %v", got, again, err)
		}
	})
}
