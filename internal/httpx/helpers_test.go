package httpx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects JSON log lines from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns every logged record.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// errorJSON decodes an error response body.
type errorJSON struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field"`
		ErrorID   string `json:"error_id"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, body []byte) errorJSON {
	t.Helper()
	var e errorJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// securityHeaderChecks lists what SPEC.md R4 requires on every response.
func checkSecurityHeaders(t *testing.T, h http.Header, tls bool) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self' 'nonce-", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q is not strict", csp)
	}
	want := map[string]string{
		"X-Frame-Options":              "DENY",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              ReferrerPolicy,
		"Permissions-Policy":           PermissionsPolicy,
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(PermissionsPolicy, "camera=()") || !strings.Contains(PermissionsPolicy, "microphone=()") || !strings.Contains(PermissionsPolicy, "geolocation=()") {
		t.Errorf("Permissions-Policy does not deny camera, microphone and geolocation")
	}
	if tls {
		if got := h.Get("Strict-Transport-Security"); got != HSTSValue {
			t.Errorf("HSTS = %q over TLS", got)
		}
	} else if got := h.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS %q over plain HTTP", got)
	}
	if h.Get("Server") != "" || h.Get("X-Powered-By") != "" {
		t.Errorf("banner headers present: %q %q", h.Get("Server"), h.Get("X-Powered-By"))
	}
	if !ValidRequestID(h.Get(HeaderRequestID)) {
		t.Errorf("X-Request-Id %q missing or malformed", h.Get(HeaderRequestID))
	}
}
