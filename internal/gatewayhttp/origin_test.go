package gatewayhttp_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/gatewayhttp"
	"github.com/palisadehq/palisade/internal/httpx"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOriginRequestIDOnlyFromSignedCalls: the web request's id a call
// carries reaches the gateway's log lines only on a correctly signed call
// and only in the strict request-id format; it never replaces the
// gateway's own request id.
func TestOriginRequestIDOnlyFromSignedCalls(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var logs lockedBuffer
	logger := slog.New(httpx.LogHandler(slog.NewJSONHandler(&logs, nil)))
	h, err := gatewayhttp.NewHandler(f.service, gatewayhttp.HandlerOptions{Keys: []gatewayhttp.SigningKey{f.key}, Nonces: f.nonces, Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: logger}, h.Routes()))
	t.Cleanup(srv.Close)

	const origin = "req_webrequest0123456789"
	for _, tc := range []struct {
		name, id string
		forge    bool
		want     int
	}{
		{"signed", origin, false, http.StatusOK},
		{"signed, malformed id", "no", false, http.StatusOK},
		{"forged", origin + "forged", true, http.StatusUnauthorized},
	} {
		req, body := capture(t, f, f.call(f.token, "hi"))
		req.Header.Set(gatewayhttp.HeaderOriginRequestID, tc.id)
		if tc.forge {
			req.Header.Set("X-Palisade-Bot-Id", string(f.bot2))
		}
		if got := deliver(t, srv, req, body); got != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	var access []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "http request" {
			access = append(access, m)
		}
	}
	if len(access) != 3 {
		t.Fatalf("%d access lines:\n%s", len(access), logs.String())
	}
	if access[0]["origin_request_id"] != origin || access[0]["request_id"] == origin {
		t.Errorf("signed call: %v", access[0])
	}
	for i, l := range access[1:] {
		if _, ok := l["origin_request_id"]; ok {
			t.Errorf("call %d carries an origin id it should not: %v", i+2, l)
		}
	}
}
