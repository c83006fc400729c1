package channel_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/channel"
)

func TestAPIBaseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ raw, want string }{
		{"", "https://api.example"},
		{"https://api.example/", "https://api.example"},
		{"http://127.0.0.1:8081/v2/", "http://127.0.0.1:8081/v2"},
	} {
		got, err := channel.APIBaseURL(c.raw, "https://api.example", "x: the API URL")
		if err != nil || got != c.want {
			t.Errorf("APIBaseURL(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		}
	}
	for _, raw := range []string{"ftp://api.example", "https://user:pass@api.example", "https://api.example/?token=1", "https://api.example/#x", "https://", "::"} {
		_, err := channel.APIBaseURL(raw, "https://api.example", "x: the API URL")
		if err == nil {
			t.Errorf("APIBaseURL(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "token") {
			t.Errorf("APIBaseURL(%q) error quotes the URL: %v", raw, err)
		}
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	if got := channel.Printable(" bad\x00line\nbreak\x7f ", 100); got != "bad line break" {
		t.Errorf("control characters: %q", got)
	}
	got := channel.Printable(strings.Repeat("é", 10), 5)
	if !utf8.ValidString(got) || len(got) > 5 || got != "éé" {
		t.Errorf("cut inside a character: %q", got)
	}
}
