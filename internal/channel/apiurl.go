package channel

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// APIBaseURL checks the base URL of a platform's API as the operator set
// it (empty: def) and returns it without a trailing slash. It must be
// http(s), with no credentials, query or fragment: a URL that carries a
// secret would put it in every log line that names the endpoint. what
// names the URL in the error ("telegram: the Bot API URL").
func APIBaseURL(raw, def, what string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New(what + " must be an http(s) URL without credentials, query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Printable keeps a platform's text safe to log and show: control
// characters become spaces, and it is cut to at most max bytes on a
// character boundary.
func Printable(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
