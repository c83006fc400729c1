package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/stdwebhook"
)

// TestBillingEndToEnd runs the server with a plans file and the Polar
// secret from a _FILE twin: the workspace starts on the default plan, a
// signed subscription event at /hooks/billing/polar moves it to the
// product's plan, a replay and a forged delivery change nothing, and the
// plan's bot limit is enforced on the API. The secret never reaches the
// logs.
func TestBillingEndToEnd(t *testing.T) {
	t.Parallel()
	const polarSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.yaml")
	if err := os.WriteFile(plans, []byte("default: {name: free, bots: 1}\nproducts:\n  prod-pro: {name: pro, bots: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "polar-secret")
	if err := os.WriteFile(secretFile, []byte(polarSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "palisade-data"), "PALISADE_POLAR_WEBHOOK_SECRET_FILE": secretFile}
	ws := createWorkspace(t, env, "Billed")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "b",
		"--scopes", "bots:write,billing:manage"))
	r := serve(t, env, "--billing-plans-file", plans, "--polar-checkout-url", "https://buy.polar.sh/polar_cl_test")

	call := func(method, path string, body []byte, h http.Header) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, r.public+path, bytes.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	bearer := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
	plan := func() map[string]any {
		t.Helper()
		code, b := call(http.MethodGet, "/api/v1/billing", nil, bearer)
		var out map[string]any
		if code != http.StatusOK || json.Unmarshal(b, &out) != nil {
			t.Fatalf("GET /api/v1/billing = %d %s", code, b)
		}
		return out
	}
	p := plan()
	if p["plan"] != "free" || p["subscribed"] != false || !strings.Contains(p["checkout_url"].(string), string(ws.Workspace())) {
		t.Fatalf("before subscribing: %v", p)
	}
	if code, b := call(http.MethodPost, "/api/v1/bots", []byte(`{"name":"one"}`), bearer); code != http.StatusCreated {
		t.Fatalf("first bot: %d %s", code, b)
	}
	if code, b := call(http.MethodPost, "/api/v1/bots", []byte(`{"name":"two"}`), bearer); code != http.StatusForbidden || !bytes.Contains(b, []byte("free plan")) {
		t.Fatalf("second bot on the free plan: %d %s", code, b)
	}

	body, _ := json.Marshal(map[string]any{"type": "subscription.created", "data": map[string]any{"id": "sub-1", "status": "active",
		"product_id": "prod-pro", "modified_at": time.Now().UTC(), "metadata": map[string]any{"workspace_id": string(ws.Workspace())}}})
	signed := func(id string, b []byte) http.Header {
		now := time.Now()
		sig, err := stdwebhook.Sign(polarSecret, id, now, b)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Webhook-Signature": {sig},
			"Content-Type": {"application/json"}}
	}
	forged := signed("evt-1", body)
	forged.Set("Webhook-Signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
	if code, _ := call(http.MethodPost, "/hooks/billing/polar", body, forged); code != http.StatusUnauthorized {
		t.Fatalf("forged delivery: %d", code)
	}
	if p := plan(); p["plan"] != "free" {
		t.Fatalf("a forged delivery changed the plan: %v", p)
	}
	if code, b := call(http.MethodPost, "/hooks/billing/polar", body, signed("evt-1", body)); code != http.StatusOK {
		t.Fatalf("genuine delivery: %d %s", code, b)
	}
	if p := plan(); p["plan"] != "pro" || p["subscribed"] != true {
		t.Fatalf("after subscribing: %v", p)
	}
	revoked := bytes.Replace(body, []byte(`"subscription.created"`), []byte(`"subscription.revoked"`), 1)
	if code, _ := call(http.MethodPost, "/hooks/billing/polar", revoked, signed("evt-1", revoked)); code != http.StatusOK {
		t.Fatalf("replayed id: %d", code)
	}
	if p := plan(); p["plan"] != "pro" {
		t.Fatalf("a replayed id changed the plan: %v", p)
	}
	if code, b := call(http.MethodPost, "/api/v1/bots", []byte(`{"name":"two"}`), bearer); code != http.StatusCreated {
		t.Fatalf("second bot on the pro plan: %d %s", code, b)
	}
	logs := r.stdout.String() + r.stderr.String()
	if strings.Contains(logs, polarSecret) || strings.Contains(logs, strings.TrimPrefix(polarSecret, "whsec_")) {
		t.Fatal("the Polar secret is in the logs")
	}
}
