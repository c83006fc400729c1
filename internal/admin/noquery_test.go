package admin_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestMalformedIDRunsNoQuery: a malformed id or token in any UI path is
// refused with 404 or 400 before the session is even looked up, with no
// query run.
func TestMalformedIDRunsNoQuery(t *testing.T) {
	t.Parallel()
	var queries atomic.Int64
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { queries.Add(1) }, UserSealer: testUserSealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lim := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: &outbox{},
		Limiter: lim, Limits: ratelimit.Defaults(), Now: time.Now, BaseURL: "https://ui.example"})
	if err != nil {
		t.Fatal(err)
	}
	ui := newUI(t, svc, s, nil, time.Now, testModels, nil, lim, ratelimit.Defaults())
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Format: httpx.FormatHTML}, ui.Handler()))
	defer srv.Close()
	bad := []string{"ws_short", "WS_AAAAAAAAAAAAAAAAAAAAAAAAAA", "bot_%27%20OR%201%3D1--", "..%2f..%2fetc", "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa"}
	tested := 0
	for _, rt := range ui.Routes() {
		params := palisade.PathWildcards(rt.Pattern)
		if len(params) == 0 {
			continue
		}
		for _, b := range bad {
			path := rt.Pattern
			for _, p := range params {
				path = strings.Replace(path, "{"+p+"}", b, 1)
			}
			path = strings.TrimSuffix(path, "{$}")
			before := queries.Load()
			req, _ := http.NewRequest(rt.Method, srv.URL+path, strings.NewReader("csrf=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: admin.SessionCookie, Value: strings.Repeat("A", 43)})
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %s: %d, want 404 or 400", rt.Method, path, resp.StatusCode)
			}
			if n := queries.Load() - before; n != 0 {
				t.Errorf("%s %s: %d queries ran", rt.Method, path, n)
			}
			tested++
		}
	}
	if tested == 0 {
		t.Fatal("no UI route with a path parameter")
	}
	// The hook does count: a well-formed id with a session cookie is
	// looked up (the session first).
	before := queries.Load()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/w/"+string(palisade.NewWorkspaceID())+"/bots", nil)
	req.AddCookie(&http.Cookie{Name: admin.SessionCookie, Value: strings.Repeat("A", 43)})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if queries.Load() == before {
		t.Fatal("a well-formed request ran no query: the hook is not counting")
	}
}
