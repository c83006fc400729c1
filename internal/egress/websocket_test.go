package egress

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, b, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, b)
		_ = c.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWebSocketClientDialsThroughThePolicy: a handshake the policy allows
// gets a working, writable connection; one to a host the policy does not
// name, or to a loopback address without the unsafe switch, is refused
// before any connection is made.
func TestWebSocketClientDialsThroughThePolicy(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/gateway?v=10&encoding=json"
	rule, err := RuleForURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, policy, Options{UnsafeAllowLoopback: true})
	conn, _, err := websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{HTTPClient: c.WebSocketClient()})
	if err != nil {
		t.Fatalf("an allowed handshake failed: %v", err)
	}
	defer conn.CloseNow()
	if err := conn.Write(t.Context(), websocket.MessageText, []byte(`{"op":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := conn.Read(t.Context()); err != nil || string(b) != `{"op":1}` {
		t.Fatalf("echo = %q, %v", b, err)
	}

	other := mustClient(t, mustPolicy(t, "version: 1\nrules:\n  - name: gw\n    host: gateway.discord.gg\n    ports: [443]\n    methods: [GET]\n    paths: [/]\n"),
		Options{UnsafeAllowLoopback: true})
	_, _, err = websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{HTTPClient: other.WebSocketClient()})
	var de *DenialError
	if !errors.As(err, &de) || de.Denial.Reason != ReasonNoRule {
		t.Fatalf("a handshake outside the policy: %v", err)
	}

	strict := mustClient(t, policy, Options{})
	_, _, err = websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{HTTPClient: strict.WebSocketClient()})
	if !errors.As(err, &de) || de.Denial.Reason != ReasonPrivateAddress {
		t.Fatalf("a handshake to loopback without the unsafe switch: %v", err)
	}
}
