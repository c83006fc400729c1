package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// TestGatewayAsSeparateRole runs the gateway as its own process role and a
// web role that calls it over signed HTTP: a bot answers through it, the
// provider key lives only in the gateway's configuration, and neither role
// serves the other's surface.
func TestGatewayAsSeparateRole(t *testing.T) {
	t.Parallel()
	const providerKey = "sk-proj-gatewayroleCANARY0123456789abcdefT3BlbkFJ"
	fake := llmtest.NewOpenAI(t, llmtest.Options{APIKey: providerKey, Text: "Answered through the gateway role."})
	dir := t.TempDir()
	u, _ := url.Parse(fake.URL)
	policy := filepath.Join(dir, "egress.yaml")
	port := u.Port()
	os.WriteFile(policy, []byte("version: 1\nrules:\n  - name: fake\n    host: "+u.Hostname()+"\n    ports: ["+port+"]\n    methods: [POST]\n    paths: [/v1/chat/completions]\n    unsafe_allow_http: true\n"), 0o600)
	data := filepath.Join(dir, "data")
	signing := "gateway-signing-key-for-the-role-test-0123456789"
	shared := map[string]string{"PALISADE_DATA_DIR": data, "PALISADE_GATEWAY_SIGNING_KEY": signing}

	gwEnv := map[string]string{"PALISADE_LLM_PROVIDER": "openai", "PALISADE_LLM_BASE_URL": fake.URL, "PALISADE_LLM_API_KEY": providerKey,
		"PALISADE_LLM_MODELS": "gpt-4o-mini", "PALISADE_EGRESS_POLICY": policy, "PALISADE_UNSAFE_EGRESS_ALLOW_LOOPBACK": "true"}
	for k, v := range shared {
		gwEnv[k] = v
	}
	gw := serve(t, gwEnv, "--role", "gateway", "--admin-addr", "")
	webEnv := map[string]string{"PALISADE_GATEWAY_URL": gw.public, "PALISADE_LLM_MODELS": "gpt-4o-mini"}
	for k, v := range shared {
		webEnv[k] = v
	}
	web := serve(t, webEnv, "--admin-addr", "")

	out, _, err := run(t, map[string]string{"PALISADE_DATA_DIR": data}, "workspace", "create", "--name", "Acme", "--owner-email", "o@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	ws := regexp.MustCompile(`ws_[a-z2-7]{26}`).FindString(out)
	key, _, err := run(t, map[string]string{"PALISADE_DATA_DIR": data}, "apikey", "create", "--workspace", ws, "--name", "t", "--scopes", "bots:write,messages:send")
	if err != nil {
		t.Fatal(err)
	}
	key = strings.TrimSpace(key)

	call := func(method, url string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, url, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(raw), "CANARY") {
			t.Fatalf("provider key in a response: %s", raw)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	code, bot := call(http.MethodPost, web.public+"/api/v1/bots", map[string]any{"name": "Helper", "model": "gpt-4o-mini"})
	if code != http.StatusCreated {
		t.Fatalf("create bot: %d %v", code, bot)
	}
	code, reply := call(http.MethodPost, web.public+"/api/v1/bots/"+bot["id"].(string)+"/chat", map[string]any{"user_id": "alice", "message": "hello?"})
	if code != http.StatusOK || reply["reply"] != "Answered through the gateway role." || reply["mode"] != "generated" {
		t.Fatalf("chat through the gateway role: %d %v", code, reply)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("provider saw %d requests, want 1", n)
	}
	// Each role serves only its own surface.
	if code, _ := get(t, gw.public+"/api/v1/bots"); code != http.StatusNotFound {
		t.Errorf("gateway role serves the API: %d", code)
	}
	if code, _ := get(t, web.public+"/gateway/v1/complete"); code != http.StatusNotFound {
		t.Errorf("web role serves the gateway: %d", code)
	}
	// An unsigned call to the gateway is refused.
	resp, err := http.Post(gw.public+"/gateway/v1/complete", "application/json", strings.NewReader(`{"model":"gpt-4o-mini"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned gateway call: %d", resp.StatusCode)
	}
	for _, r := range []running{gw, web} {
		r.stop()
		if strings.Contains(r.stderr.String(), "CANARY") || strings.Contains(r.stdout.String(), "CANARY") {
			t.Fatal("provider key in a log line")
		}
	}
}
