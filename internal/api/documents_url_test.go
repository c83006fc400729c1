package api_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/palisadehq/palisade/internal/egress"
)

// fakeResolver answers chosen addresses for chosen names, so a test can
// put a name on loopback (the TLS fake) or on a private address.
type fakeResolver map[string]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := f[host]; ok {
		return []net.IPAddr{{IP: net.ParseIP(a)}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestDocumentFromURL: a page on one of the bot's allowed domains is
// fetched over https and added; a host not on the list, plain http, a
// private address, a redirect off the bot's domains and a page over the
// size limit are refused, the first three without a request reaching any
// server.
func TestDocumentFromURL(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/guide.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<title>Descaling guide</title><script>x()</script><p>Descale the kettle monthly with citric acid.</p>`)
		case "/away":
			http.Redirect(w, r, "https://evil.example.com:"+r.Host[strings.LastIndex(r.Host, ":")+1:]+"/guide.html", http.StatusFound)
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			chunk := strings.Repeat("a", 1<<20)
			for range 11 {
				fmt.Fprint(w, chunk)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)
	port := site.URL[strings.LastIndex(site.URL, ":")+1:]
	roots := x509.NewCertPool()
	roots.AddCert(site.Certificate())
	// httptest's certificate names example.com: the allowed domain is
	// that name, put on loopback by the resolver.
	b := setupWith(t, botConfig{Fetch: egress.Options{RootCAs: roots, UnsafeAllowLoopback: true,
		Resolver: fakeResolver{"example.com": "127.0.0.1", "evil.example.com": "127.0.0.1", "intranet.example.com": "10.20.30.40"}}})
	key := b.key(t, "bots:write", "documents:write", "documents:read")
	status, bot := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots", key,
		fmt.Sprintf(`{"name":"Fetch","allowed_domains":["https://example.com:%s","https://intranet.example.com:%s"]}`, port, port))
	if status != http.StatusCreated {
		t.Fatalf("create bot: %d %v", status, bot)
	}
	docs := b.srv.URL + "/api/v1/bots/" + bot["id"].(string) + "/documents"

	status, got := call(t, http.MethodPost, docs, key, fmt.Sprintf(`{"url":"https://example.com:%s/guide.html"}`, port))
	if status != http.StatusCreated || got["title"] != "Descaling guide" || got["content_type"] != "text/html" {
		t.Fatalf("fetch an allowed page: %d %v", status, got)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests reached the site, want 1", hits.Load())
	}

	for _, tc := range []struct {
		name, url  string
		status     int
		msg        string
		reachesAny bool
	}{
		{"host not on the list", "https://other.example.com:" + port + "/guide.html", 400, "allowed domains", false},
		{"allowed host on another port", "https://example.com:1/guide.html", 400, "allowed domains", false},
		{"plain http", "http://example.com:" + port + "/guide.html", 400, "https", false},
		{"private address", "https://intranet.example.com:" + port + "/guide.html", 400, "private_address", false},
		{"user in the URL", "https://u:p@example.com:" + port + "/guide.html", 400, "user name", false},
		{"redirect off the bot's domains", "https://example.com:" + port + "/away", 400, "redirect", true},
		{"over the size limit", "https://example.com:" + port + "/big", 413, "at most", true},
		{"not found", "https://example.com:" + port + "/missing", 400, "HTTP 404", true},
	} {
		before := hits.Load()
		status, body := call(t, http.MethodPost, docs, key, fmt.Sprintf(`{"url":%q}`, tc.url))
		_, _, msg := errField(body)
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %v, want %d with %q", tc.name, status, body, tc.status, tc.msg)
		}
		if reached := hits.Load() != before; reached != tc.reachesAny {
			t.Errorf("%s: a request reached the site: %v", tc.name, reached)
		}
	}
	if status, body := call(t, http.MethodPost, docs, key, `{"url":"https://example.com/x","content":"y"}`); status != 400 {
		t.Errorf("url with content: %d %v", status, body)
	}

	// A bot without allowed domains fetches nothing.
	_, other := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots", key, `{"name":"NoDomains"}`)
	status, body := call(t, http.MethodPost, b.srv.URL+"/api/v1/bots/"+other["id"].(string)+"/documents", key,
		fmt.Sprintf(`{"url":"https://example.com:%s/guide.html"}`, port))
	if _, field, _ := errField(body); status != 400 || field != "url" {
		t.Errorf("bot without domains: %d %v", status, body)
	}
}
