package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// e2eProvider is one provider as the whole app is configured with it.
type e2eProvider struct {
	name  string
	model string
	fake  func(testing.TB, llmtest.Options) *llmtest.Server
}

var e2eProviders = []e2eProvider{
	{"openai", "gpt-4o-mini", llmtest.NewOpenAI},
	{"anthropic", "claude-3-5-haiku-latest", llmtest.NewAnthropic},
	{"gemini", "gemini-2.0-flash", llmtest.NewGemini},
}

const (
	e2eSystemPrompt = "You are Parcelbot. Answer only about deliveries."
	e2eReply        = "Your parcel ships within two business days from our warehouse."
	e2eDocument     = "Orders leave our warehouse within two business days. Refunds are issued within 14 days."
)

// e2eCapture collects everything the scenario's server and commands put
// out: log lines, standard output, every response header and body.
type e2eCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *e2eCapture) add(what string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.buf, "\n==== %s ====\n", what)
	c.buf.Write(b)
}

func (c *e2eCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// e2eClient talks to the running server with an API key, capturing every
// response.
type e2eClient struct {
	t    *testing.T
	base string
	key  string
	cap  *e2eCapture
	n    int
}

func (c *e2eClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	c.n++
	var h bytes.Buffer
	_ = resp.Header.Write(&h)
	c.cap.add(fmt.Sprintf("response %d headers (%d)", c.n, resp.StatusCode), h.Bytes())
	c.cap.add(fmt.Sprintf("response %d body", c.n), raw)
	return resp.StatusCode, raw
}

func (c *e2eClient) json(method, path string, body any, wantStatus int) map[string]any {
	c.t.Helper()
	code, raw := c.do(method, path, body)
	if code != wantStatus {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, wantStatus, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	return out
}

type sseEvent struct {
	name string
	data map[string]any
}

// events parses a server-sent event stream.
func (c *e2eClient) events(raw []byte) []sseEvent {
	c.t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				c.t.Fatalf("event data not JSON: %q", line)
			}
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		}
	}
	return out
}

// stream sends a streaming chat and returns its events.
func (c *e2eClient) stream(bot, user, message string) []sseEvent {
	c.t.Helper()
	code, raw := c.do(http.MethodPost, "/api/v1/bots/"+bot+"/chat", map[string]any{"user_id": user, "message": message, "stream": true})
	if code != http.StatusOK {
		c.t.Fatalf("streaming chat = %d: %s", code, raw)
	}
	return c.events(raw)
}

// egressPolicyFor writes a policy file allowing exactly the origin of url.
func egressPolicyFor(t testing.TB, url string) string {
	t.Helper()
	rule, err := egress.RuleForURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.Marshal(map[string]any{"version": egress.PolicyVersion, "rules": []egress.Rule{rule}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := egress.ParsePolicy(raw); err != nil {
		t.Fatalf("the generated policy does not parse: %v\n%s", err, raw)
	}
	path := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eSetup creates a workspace and an API key through the CLI.
func e2eSetup(t *testing.T, env map[string]string, cap *e2eCapture) (palisade.Scope, string) {
	t.Helper()
	ws := createWorkspace(t, env, "E2E")
	var errOut syncBuffer
	out, err := runCLI(t, t.Context(), env, &errOut, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "e2e",
		"--scopes", "bots:write,documents:write,messages:send,bots:read")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut.String())
	}
	cap.add("apikey create stderr", []byte(errOut.String()))
	return ws, strings.TrimSpace(out)
}

// checkNoCanary fails when the provider key, or its last 12 characters,
// appears anywhere in the capture.
func checkNoCanary(t *testing.T, cap *e2eCapture, key string) {
	t.Helper()
	dump := cap.String()
	for _, v := range []string{key, key[len(key)-12:]} {
		if i := strings.Index(dump, v); i >= 0 {
			start := max(0, strings.LastIndex(dump[:i], "\n==== "))
			t.Errorf("the provider key leaked (%q) in: %q", v, dump[start:min(len(dump), i+len(v)+40)])
		}
	}
}

// TestLLMEndToEnd, through the whole app:
// for each provider, a bot answers through the in-process gateway and the
// egress client, streaming and not, from a fake speaking the provider's
// wire format and requiring a canary key; a mid-stream provider error
// gives the user a clean error and stores nothing of the partial answer;
// the key appears in no log line, response header or body.
func TestLLMEndToEnd(t *testing.T) {
	t.Parallel()
	for _, p := range e2eProviders {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			apiKey := "sk-canary-" + p.name + "-Qw7RtY2uIo9pAs4dFg6hJk8LzX"
			fake := p.fake(t, llmtest.Options{APIKey: apiKey, Text: e2eReply})
			dir := filepath.Join(t.TempDir(), "palisade-data")
			env := map[string]string{"PALISADE_DATA_DIR": dir}
			cap := &e2eCapture{}
			ws, key := e2eSetup(t, env, cap)
			r := serve(t, env, "--llm-provider", p.name, "--llm-base-url", fake.URL, "--llm-api-key", apiKey, "--llm-models", p.model,
				"--egress-policy", egressPolicyFor(t, fake.URL), "--unsafe-egress-allow-loopback=true")
			c := &e2eClient{t: t, base: r.public, key: key, cap: cap}

			bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Parcelbot", "system_prompt": e2eSystemPrompt, "model": p.model}, http.StatusCreated)
			botID, _ := bot["id"].(string)
			c.json(http.MethodPost, "/api/v1/bots/"+botID+"/documents", map[string]any{"title": "Shipping policy", "content": e2eDocument,
				"content_type": "text/plain"}, http.StatusCreated)

			// Not streaming.
			const question = "When does my parcel leave the warehouse?"
			out := c.json(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "alice", "message": question}, http.StatusOK)
			if out["reply"] != e2eReply || out["mode"] != conversation.ModeGenerated {
				t.Fatalf("chat answer = %v", out)
			}
			if srcs, _ := out["sources"].([]any); len(srcs) == 0 {
				t.Fatalf("no sources in %v", out)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("the fake received %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Key != apiKey || got.Model != p.model || got.Stream {
				t.Fatalf("provider request: key ok %v, model %q, stream %v", got.Key == apiKey, got.Model, got.Stream)
			}
			// The bot's prompt is the system prompt; the user's text is
			// data inside the user turn, never in the system prompt.
			if !strings.Contains(got.System, e2eSystemPrompt) || strings.Contains(got.System, question) {
				t.Fatalf("system prompt sent = %q", got.System)
			}
			last := got.Messages[len(got.Messages)-1]
			if last.Role != "user" || !strings.Contains(last.Content, question) || !strings.Contains(last.Content, "two business days") {
				t.Fatalf("last turn sent = %+v", last)
			}

			// Streaming: the deltas, then done with the whole reply.
			evs := c.stream(botID, "alice", "And refunds?")
			var text strings.Builder
			for _, e := range evs[:len(evs)-1] {
				if e.name != "delta" {
					t.Fatalf("event %q before the end: %+v", e.name, evs)
				}
				s, _ := e.data["text"].(string)
				text.WriteString(s)
			}
			done := evs[len(evs)-1]
			if len(evs) < 3 || done.name != "done" || done.data["reply"] != e2eReply || text.String() != e2eReply || done.data["mode"] != conversation.ModeGenerated {
				t.Fatalf("stream = %+v (deltas joined %q)", evs, text.String())
			}
			if reqs := fake.Requests(); len(reqs) != 2 || !reqs[1].Stream || len(reqs[1].Messages) != 3 {
				// History: the first question and answer, then this one.
				t.Fatalf("streaming provider request: %d requests, %+v", len(reqs), reqs[len(reqs)-1].Messages)
			}

			// A provider error in the middle of the stream: the client
			// sees the deltas that came, then an error event, no done.
			fake.Inject(llmtest.MidStreamError(2))
			evs = c.stream(botID, "bob", "Where is my parcel right now?")
			if len(evs) != 3 || evs[0].name != "delta" || evs[1].name != "delta" || evs[2].name != "error" {
				t.Fatalf("mid-stream error stream = %+v", evs)
			}
			if code, _ := evs[2].data["code"].(string); code != string(palisade.CodeUnavailable) {
				t.Fatalf("error event = %+v", evs[2].data)
			}
			// Not streaming: the provider fails every attempt (the client
			// retries 5xx); the answer is a clean 503 in the API's shape.
			fake.Inject(llmtest.MidStreamError(0), llmtest.MidStreamError(0), llmtest.MidStreamError(0))
			code, raw := c.do(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "carol", "message": "Is it shipped?"})
			var errBody struct {
				Error struct{ Code, Message string }
			}
			if code != http.StatusServiceUnavailable || json.Unmarshal(raw, &errBody) != nil || errBody.Error.Code != string(palisade.CodeUnavailable) || errBody.Error.Message == "" {
				t.Fatalf("non-streaming provider failure = %d %s", code, raw)
			}

			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			cap.add("serve stderr (the log)", []byte(r.stderr.String()))
			cap.add("serve stdout", []byte(r.stdout.String()))

			// What was stored, read back through the sealed store.
			s := openSealed(t, env)
			msgs := func(user string) []palisade.Message {
				t.Helper()
				in := conversation.Inbound{BotID: palisade.BotID(botID), Channel: "api", UserID: user}
				conv, err := s.OpenConversation(t.Context(), ws, store.OpenConversationParams{BotID: in.BotID, Key: in.Key(), Channel: "api",
					ExternalUser: user, Now: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				m, err := s.ListMessages(t.Context(), ws, conv.ID, 100)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			alice := msgs("alice")
			if len(alice) != 4 || alice[1].Role != palisade.MessageAssistant || alice[1].Body != e2eReply || alice[3].Body != e2eReply {
				t.Fatalf("alice's conversation = %+v", alice)
			}
			// The failed answers left the user's message and nothing else:
			// no partial reply, no error text posing as one.
			for _, user := range []string{"bob", "carol"} {
				if m := msgs(user); len(m) != 1 || m[0].Role != palisade.MessageUser {
					t.Fatalf("%s's conversation after a provider error = %+v", user, m)
				}
			}
			usage, err := s.UsageOn(t.Context(), ws, palisade.BotID(botID), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if usage.Requests < 2 || usage.TokensIn <= 0 || usage.TokensOut < int64(2*llmtest.CountTokens(e2eReply)) || usage.Errors < 1 {
				t.Fatalf("usage recorded = %+v", usage)
			}
			s.close()

			if !strings.Contains(cap.String(), `"msg":"palisade is serving"`) || !strings.Contains(cap.String(), e2eReply) {
				t.Fatal("the capture is blind: it holds neither the log nor the replies")
			}
			checkNoCanary(t, cap, apiKey)
		})
	}
}

// TestLLMEgressDenied, through the whole app: a provider the policy names
// but whose address the egress client refuses when it dials (a loopback
// address, without the unsafe switch) is never reached. Start-up warns
// once, naming the flag to fix (a refusal at start is for what the policy
// itself refuses); the chat fails cleanly; the denial is in the server log
// with the request's real path and in the platform audit chain, which
// still verifies; the key leaks nowhere.
func TestLLMEgressDenied(t *testing.T) {
	t.Parallel()
	apiKey := "sk-canary-egress-Mn3Bv5Cx7Zl9Kj2Hg4Fd6Sa8Po"
	outside := llmtest.NewOpenAI(t, llmtest.Options{APIKey: apiKey})
	dir := filepath.Join(t.TempDir(), "palisade-data")
	env := map[string]string{"PALISADE_DATA_DIR": dir}
	cap := &e2eCapture{}
	ws, key := e2eSetup(t, env, cap)
	r := serve(t, env, "--llm-provider", "openai", "--llm-base-url", outside.URL, "--llm-api-key", apiKey, "--llm-models", "gpt-4o-mini",
		"--egress-policy", egressPolicyFor(t, outside.URL))
	c := &e2eClient{t: t, base: r.public, key: key, cap: cap}
	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Egress", "model": "gpt-4o-mini"}, http.StatusCreated)
	botID, _ := bot["id"].(string)

	code, raw := c.do(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "alice", "message": "Hello?"})
	var errBody struct {
		Error struct{ Code, Message string }
	}
	if code != http.StatusServiceUnavailable || json.Unmarshal(raw, &errBody) != nil || errBody.Error.Code != string(palisade.CodeUnavailable) {
		t.Fatalf("chat through a refused provider = %d %s", code, raw)
	}
	// Streaming is refused before any text: an ordinary error answer.
	code, raw = c.do(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "alice", "message": "Hello again?", "stream": true})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), `"unavailable"`) {
		t.Fatalf("streaming chat through a refused provider = %d %s", code, raw)
	}
	if n := len(outside.Requests()); n != 0 {
		t.Fatalf("the provider received %d requests; egress should have refused them", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	log := r.stderr.String()
	cap.add("serve stderr (the log)", []byte(log))
	cap.add("serve stdout", []byte(r.stdout.String()))
	if !strings.Contains(log, `"msg":"egress request denied"`) {
		t.Fatalf("no egress denial in the log:\n%s", log)
	}
	if n := strings.Count(log, "the LLM provider's base URL is a loopback address"); n != 1 || !strings.Contains(log, `"flag":"--llm-base-url"`) {
		t.Fatalf("start-up warned %d times (want once, naming --llm-base-url):\n%s", n, log)
	}
	// The provider failure names the real path (the egress client's own
	// line redacts every path segment that could carry a token, as it
	// must for APIs that put one there).
	failed := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"msg":"provider call failed"`) {
			failed++
			if !strings.Contains(line, `"provider":"openai","path":"/v1/chat/completions"`) {
				t.Errorf("the provider failure does not name the real path: %s", line)
			}
		}
	}
	if failed == 0 {
		t.Fatalf("no provider failure in the log:\n%s", log)
	}

	s := openSealed(t, env)
	entries, err := s.ListPlatformAudit(t.Context(), store.ListAuditParams{})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range entries {
		if e.Action == string(audit.ActionEgressDenied) && e.Outcome == string(audit.OutcomeDenied) && e.Target == "127.0.0.1" {
			denied++
		}
	}
	if denied < 2 {
		t.Fatalf("%d egress denials in the platform audit chain, want one per chat: %+v", denied, entries)
	}
	s.close()
	var errOut syncBuffer
	out, err := runCLI(t, t.Context(), env, &errOut, "audit", "verify")
	if err != nil {
		t.Fatalf("audit verify after the denials: %v\n%s\n%s", err, out, errOut.String())
	}
	cap.add("audit verify", []byte(out+errOut.String()))
	if !strings.Contains(cap.String(), string(ws.Workspace())) && !strings.Contains(log, "palisade is serving") {
		t.Fatal("the capture is blind")
	}
	checkNoCanary(t, cap, apiKey)
}

// TestLLMProviderErrorCarriesNoKey, the hardest case of a key leaking: a
// provider that refuses the key and quotes it whole in its error (as some
// OpenAI-compatible servers do). The chat fails cleanly, the log names the
// flag of the refused key once, and the key is in no log line, response
// header or body.
func TestLLMProviderErrorCarriesNoKey(t *testing.T) {
	t.Parallel()
	apiKey := "sk-canary-echoed-Vb6Nm1Qa3Ws5Ed7Rf9Tg2Yh4Uj"
	fake := llmtest.NewOpenAI(t, llmtest.Options{APIKey: "sk-the-key-the-server-wants", EchoKey: true})
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "palisade-data")}
	cap := &e2eCapture{}
	_, key := e2eSetup(t, env, cap)
	r := serve(t, env, "--llm-provider", "openai", "--llm-base-url", fake.URL, "--llm-api-key", apiKey, "--llm-models", "gpt-4o-mini",
		"--egress-policy", egressPolicyFor(t, fake.URL), "--unsafe-egress-allow-loopback=true", "--log-level", "debug")
	c := &e2eClient{t: t, base: r.public, key: key, cap: cap}
	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Echo", "model": "gpt-4o-mini"}, http.StatusCreated)
	botID, _ := bot["id"].(string)
	for _, stream := range []bool{false, true} {
		code, raw := c.do(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "alice", "message": "Hi", "stream": stream})
		if code < 500 || !strings.Contains(string(raw), `"error"`) {
			t.Fatalf("chat with a refused key (stream %v) = %d %s", stream, code, raw)
		}
	}
	// The fake did receive the key, and did quote it: the check below is
	// not blind to the path that would leak it.
	reqs := fake.Requests()
	if len(reqs) == 0 || reqs[0].Key != apiKey {
		t.Fatalf("the fake received %d requests", len(reqs))
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	cap.add("serve stderr (the log)", []byte(r.stderr.String()))
	cap.add("serve stdout", []byte(r.stdout.String()))
	if !strings.Contains(r.stderr.String(), `"http request"`) {
		t.Fatal("the capture is blind: no access log")
	}
	// The refused key is named once, with the flag to fix, however many
	// chats fail on it.
	if n := strings.Count(r.stderr.String(), "the openai provider refused the operator's API key"); n != 1 ||
		!strings.Contains(r.stderr.String(), "until --llm-api-key is fixed") {
		t.Fatalf("the refused key was reported %d times (want once, naming --llm-api-key):\n%s", n, r.stderr.String())
	}
	checkNoCanary(t, cap, apiKey)
}
