package widget

import (
	"testing"
	"time"
)

// FuzzParseToken feeds arbitrary text to the token parser: it must never
// panic, and nothing but a token signed under the key parses.
func FuzzParseToken(f *testing.F) {
	k, err := NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	good, err := k.sign(claims{Kind: kindSession, Bot: "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa", Origin: "https://shop.example",
		Session: "AAAAAAAAAAAAAAAAAAAAAA", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.parse(tok)
		if err == nil && tok != good {
			// Only a MAC under the key lets a token through, and the
			// encoding is canonical: the fuzzer cannot make another one.
			t.Fatalf("parsed %q into %+v", tok, c)
		}
	})
}
