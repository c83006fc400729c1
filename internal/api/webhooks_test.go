package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestWebhookEndpoints drives the outgoing webhook routes: the secret is
// in the creation answer only, the listing masks it, a test event is
// queued, the log is listed, deletion works, a key without the scope is
// refused, and another workspace sees nothing.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	argsKey, err := job.NewArgsKey(bytes.Repeat([]byte{7}, job.ArgsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(events.Options{Store: s, ArgsKey: argsKey})
	if err != nil {
		t.Fatal(err)
	}
	a := wire(t, s, botConfig{})
	a.Events, a.Billing = ev, nil
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	defer srv.Close()
	b := bundle{srv: srv, store: s}
	newWS := func(name string) palisade.Scope {
		w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: name, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return palisade.ScopeFor(w.ID)
	}
	b.scope = newWS("A")
	writer := b.key(t, string(auth.ScopeWebhooksWrite))
	reader := b.key(t, string(auth.ScopeWebhooksRead))
	bots := b.key(t, string(auth.ScopeBotsWrite))
	other := bundle{srv: srv, store: s, scope: newWS("B")}
	otherKey := other.key(t, string(auth.ScopeWebhooksWrite))

	call := func(method, path, key string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}

	code, out := call(http.MethodPost, "/api/v1/webhooks", writer, map[string]any{"url": "https://hooks.example.com/palisade", "events": []string{"reply.sent"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	var created struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	if err := json.Unmarshal(out, &created); err != nil || !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secret) < 40 ||
		!palisade.ValidID(palisade.PrefixEventEndpoint, created.ID) {
		t.Fatalf("create answered %s", out)
	}
	if code, out := call(http.MethodPost, "/api/v1/webhooks", writer, map[string]any{"url": "http://hooks.example.com/"}); code != http.StatusBadRequest {
		t.Fatalf("plain http endpoint: %d %s", code, out)
	}
	code, out = call(http.MethodGet, "/api/v1/webhooks", reader, nil)
	if code != http.StatusOK || !bytes.Contains(out, []byte(created.ID)) || bytes.Contains(out, []byte(created.Secret)) ||
		bytes.Contains(out, []byte(strings.TrimPrefix(created.Secret, "whsec_"))) || !bytes.Contains(out, []byte("whsec_********")) {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _ := call(http.MethodPost, "/api/v1/webhooks/"+created.ID+"/test", reader, nil); code != http.StatusForbidden {
		t.Fatalf("test with a read-only key: %d", code)
	}
	if code, _ := call(http.MethodGet, "/api/v1/webhooks", bots, nil); code != http.StatusForbidden {
		t.Fatalf("list with a key without the scope: %d", code)
	}
	code, out = call(http.MethodPost, "/api/v1/webhooks/"+created.ID+"/test", writer, nil)
	if code != http.StatusAccepted || !bytes.Contains(out, []byte(`"event_id":"evt_`)) {
		t.Fatalf("test: %d %s", code, out)
	}
	if n, err := s.Jobs().Count(ctx, job.EventArgs{}.Kind()); err != nil || n != 1 {
		t.Fatalf("event jobs queued: %d, %v", n, err)
	}
	if code, out := call(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/deliveries?limit=10", reader, nil); code != http.StatusOK || !bytes.Contains(out, []byte(`"data":[]`)) {
		t.Fatalf("deliveries: %d %s", code, out)
	}
	if code, _ := call(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/deliveries?limit=1000", reader, nil); code != http.StatusBadRequest {
		t.Fatalf("deliveries with a bad limit: %d", code)
	}
	// Another workspace: nothing.
	for _, rt := range []struct{ method, path string }{{http.MethodGet, "/deliveries"}, {http.MethodPost, "/test"}, {http.MethodDelete, ""}} {
		if code, _ := call(rt.method, "/api/v1/webhooks/"+created.ID+rt.path, otherKey, nil); code != http.StatusNotFound {
			t.Fatalf("%s %s from another workspace: %d", rt.method, rt.path, code)
		}
	}
	if code, out := call(http.MethodGet, "/api/v1/webhooks", otherKey, nil); code != http.StatusOK || bytes.Contains(out, []byte(created.ID)) {
		t.Fatalf("another workspace's list: %d %s", code, out)
	}
	if code, _ := call(http.MethodDelete, "/api/v1/webhooks/"+created.ID, writer, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := call(http.MethodDelete, "/api/v1/webhooks/"+created.ID, writer, nil); code != http.StatusNotFound {
		t.Fatalf("second delete: %d", code)
	}
	// Billing off: its route is 404.
	if code, _ := call(http.MethodGet, "/api/v1/billing", b.key(t, string(auth.ScopeBilling)), nil); code != http.StatusNotFound {
		t.Fatalf("billing without billing: %d", code)
	}
}
