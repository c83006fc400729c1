package server_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/server"
)

// checkSecurityTxt checks a security.txt body against RFC 9116: every
// non-comment line is "Field: value", the required Contact (one or more,
// each a URI) and Expires (exactly one, an RFC 3339 time in the future and
// less than a year ahead) are present, and fields allowed once appear once.
func checkSecurityTxt(body string, now time.Time) (map[string][]string, error) {
	fields := map[string][]string{}
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok || name == "" || strings.ContainsAny(name, " \t") || value == "" {
			return nil, fmt.Errorf("line %q is not a field", line)
		}
		fields[strings.ToLower(name)] = append(fields[strings.ToLower(name)], value)
	}
	if len(fields["contact"]) == 0 {
		return nil, errors.New("no Contact field (required)")
	}
	for _, c := range fields["contact"] {
		if u, err := url.Parse(c); err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("Contact %q is not a URI", c)
		}
	}
	if len(fields["expires"]) != 1 {
		return nil, fmt.Errorf("Expires appears %d times, want exactly once", len(fields["expires"]))
	}
	exp, err := time.Parse(time.RFC3339, fields["expires"][0])
	if err != nil || !exp.After(now) || exp.After(now.AddDate(1, 0, 0)) {
		return nil, fmt.Errorf("Expires %q: want an RFC 3339 time after %s and within a year", fields["expires"][0], now)
	}
	for _, once := range []string{"canonical", "preferred-languages"} {
		if len(fields[once]) > 1 {
			return nil, fmt.Errorf("%s appears more than once", once)
		}
	}
	return fields, nil
}

// TestSecurityTxt: with contacts configured the file is served as RFC 9116
// asks (text/plain UTF-8, the required fields, a future expiry) on GET and
// HEAD, with the canonical URL when given; without, there is none.
func TestSecurityTxt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	catchAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	s := start(t, server.Options{Mounts: map[string]http.Handler{"/": catchAll}, SecurityTxt: server.SecurityTxt{
		Contacts:  []string{"mailto:security@example.com", "https://example.com/report"},
		Canonical: "https://chat.example.com/.well-known/security.txt",
		Now:       func() time.Time { return now },
	}})
	resp, err := http.Get("http://" + s.Addr().String() + "/.well-known/security.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f, err := checkSecurityTxt(string(body), now)
	if err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	if len(f["contact"]) != 2 || f["contact"][0] != "mailto:security@example.com" || f["canonical"][0] != "https://chat.example.com/.well-known/security.txt" {
		t.Errorf("fields %v", f)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr().String()+"/.well-known/security.txt", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp, err)
	}

	bare := start(t, server.Options{Mounts: map[string]http.Handler{"/": catchAll}})
	resp, err = http.Get("http://" + bare.Addr().String() + "/.well-known/security.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without contacts: %d, want 404", resp.StatusCode)
	}
}

// TestSecurityTxtCheckerRejectsBadFiles proves the checker above can fail:
// a file without Contact, without Expires, or with an expiry in the past
// or over a year away is refused.
func TestSecurityTxtCheckerRejectsBadFiles(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for name, body := range map[string]string{
		"no contact": "Expires: 2027-03-01T00:00:00Z\n",
		"no expires": "Contact: mailto:a@example.com\n",
		"expired":    "Contact: mailto:a@example.com\nExpires: 2026-01-01T00:00:00Z\n",
		"too far":    "Contact: mailto:a@example.com\nExpires: 2028-12-01T00:00:00Z\n",
		"twice":      "Contact: mailto:a@example.com\nExpires: 2027-03-01T00:00:00Z\nExpires: 2027-03-02T00:00:00Z\n",
		"not a uri":  "Contact: security team\nExpires: 2027-03-01T00:00:00Z\n",
	} {
		if _, err := checkSecurityTxt(body, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
