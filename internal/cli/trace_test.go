package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// logLines are the JSON log lines of a process that have key=value.
func logLines(t *testing.T, log, key, value string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if m[key] == value {
			out = append(out, m)
		}
	}
	return out
}

// TestRequestTracedAcrossWebAndGateway: a chat on the web role calls a
// separate gateway role; the web request's id is in the web role's log
// lines of that request (with the workspace), and the gateway's log lines
// of the call it served carry the same id as origin_request_id.
func TestRequestTracedAcrossWebAndGateway(t *testing.T) {
	t.Parallel()
	const providerKey = "sk-proj-traceCANARY0123456789abcdefT3BlbkFJ"
	fake := llmtest.NewOpenAI(t, llmtest.Options{APIKey: providerKey, Text: "Traced."})
	dir := t.TempDir()
	u, _ := url.Parse(fake.URL)
	policy := filepath.Join(dir, "egress.yaml")
	if err := os.WriteFile(policy, []byte("version: 1\nrules:\n  - name: fake\n    host: "+u.Hostname()+"\n    ports: ["+u.Port()+"]\n    methods: [POST]\n    paths: [/v1/chat/completions]\n    unsafe_allow_http: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	shared := map[string]string{"PALISADE_DATA_DIR": data, "PALISADE_GATEWAY_SIGNING_KEY": "gateway-signing-key-for-the-trace-test-0123456789"}
	gwEnv := map[string]string{"PALISADE_LLM_PROVIDER": "openai", "PALISADE_LLM_BASE_URL": fake.URL, "PALISADE_LLM_API_KEY": providerKey,
		"PALISADE_LLM_MODELS": "gpt-4o-mini", "PALISADE_EGRESS_POLICY": policy, "PALISADE_UNSAFE_EGRESS_ALLOW_LOOPBACK": "true"}
	webEnv := map[string]string{"PALISADE_LLM_MODELS": "gpt-4o-mini"}
	for k, v := range shared {
		gwEnv[k], webEnv[k] = v, v
	}
	gw := serve(t, gwEnv, "--role", "gateway", "--admin-addr", "")
	webEnv["PALISADE_GATEWAY_URL"] = gw.public
	web := serve(t, webEnv, "--admin-addr", "")

	cliEnv := map[string]string{"PALISADE_DATA_DIR": data}
	ws := regexp.MustCompile(`ws_[a-z2-7]{26}`).FindString(mustCLI(t, cliEnv, "workspace", "create", "--name", "Acme", "--owner-email", "o@acme.example"))
	key := strings.TrimSpace(mustCLI(t, cliEnv, "apikey", "create", "--workspace", ws, "--name", "t", "--scopes", "bots:write,messages:send"))
	call := func(path string, body any) (*http.Response, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, web.public+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, bot := call("/api/v1/bots", map[string]any{"name": "Helper", "model": "gpt-4o-mini"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create bot: %d %v", resp.StatusCode, bot)
	}
	resp, reply := call("/api/v1/bots/"+bot["id"].(string)+"/chat", map[string]any{"user_id": "alice", "message": "hello?"})
	if resp.StatusCode != http.StatusOK || reply["reply"] != "Traced." {
		t.Fatalf("chat through the gateway role: %d %v", resp.StatusCode, reply)
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no request id on the answer")
	}
	for _, r := range []running{gw, web} {
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}

	webLines := logLines(t, web.stderr.String(), "request_id", id)
	if len(webLines) == 0 {
		t.Fatalf("the web role's log has no line of request %s:\n%s", id, web.stderr.String())
	}
	access := 0
	for _, l := range webLines {
		if l["msg"] == "http request" {
			access++
			if l["workspace_id"] != ws {
				t.Errorf("the web access line of the chat does not name the workspace: %v", l)
			}
		}
	}
	if access != 1 {
		t.Errorf("%d web access lines of request %s, want 1", access, id)
	}
	gwLines := logLines(t, gw.stderr.String(), "origin_request_id", id)
	if len(gwLines) == 0 {
		t.Fatalf("the gateway's log has no line carrying the web request's id %s:\n%s", id, gw.stderr.String())
	}
	gwAccess := 0
	for _, l := range gwLines {
		if l["msg"] == "http request" && l["pattern"] == "POST /gateway/v1/complete" {
			gwAccess++
		}
		// The gateway's own id stays its own: the web id is an attribute
		// beside it, never a replacement a caller could choose.
		if l["request_id"] == id || l["request_id"] == nil {
			t.Errorf("the gateway line's own request id: %v", l)
		}
	}
	if gwAccess != 1 {
		t.Errorf("%d gateway access lines of the call carry the web request's id, want 1", gwAccess)
	}
	if strings.Contains(web.stderr.String()+gw.stderr.String(), "CANARY") {
		t.Fatal("provider key in a log line")
	}
}
