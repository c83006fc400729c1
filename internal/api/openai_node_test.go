package api_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// nodeClientDir holds the pinned openai npm package (package.json and
// package-lock.json); .ci/run installs it there with npm ci.
const nodeClientDir = "testdata/openai-node"

// requireNodeClient returns the node binary, or skips (fails when services
// are required) when Node or the installed package is missing: the test
// installs nothing itself.
func requireNodeClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed (Debian: apt-get install nodejs npm)"
	default:
		if _, err := os.Stat(filepath.Join(nodeClientDir, "node_modules", "openai", "package.json")); err != nil {
			missing = "the openai npm package is not installed (run: npm ci --prefix internal/api/" + nodeClientDir + ")"
		}
	}
	if missing != "" {
		if servicetest.Required() {
			t.Fatalf("%s=1 but %s", servicetest.EnvRequire, missing)
		}
		t.Skipf("skipping the official openai npm client test: %s", missing)
	}
	return node
}

// nodeResult is what run.mjs reports.
type nodeResult struct {
	Retrieval struct {
		Completion nodeCompletion `json:"completion"`
		Stream     nodeStream     `json:"stream"`
		Models     []string       `json:"models"`
	} `json:"retrieval"`
	Provider struct {
		Completion nodeCompletion `json:"completion"`
		Stream     nodeStream     `json:"stream"`
	} `json:"provider"`
	OtherWorkspace       nodeFailure `json:"otherWorkspace"`
	OtherWorkspaceStream nodeFailure `json:"otherWorkspaceStream"`
	NoSend               nodeFailure `json:"noSend"`
	BadKey               nodeFailure `json:"badKey"`
}

type nodeUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type nodeCompletion struct {
	ID           string     `json:"id"`
	Object       string     `json:"object"`
	Model        string     `json:"model"`
	Role         string     `json:"role"`
	Content      string     `json:"content"`
	FinishReason string     `json:"finish_reason"`
	Usage        *nodeUsage `json:"usage"`
}

type nodeStream struct {
	Chunks       int        `json:"chunks"`
	Content      string     `json:"content"`
	Role         string     `json:"role"`
	FinishReason string     `json:"finish_reason"`
	Usage        *nodeUsage `json:"usage"`
	IDs          int        `json:"ids"`
}

type nodeFailure struct {
	OK      bool   `json:"ok"`
	Class   string `json:"class"`
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Param   string `json:"param"`
	Message string `json:"message"`
}

// TestOpenAINodeClient runs the official openai npm client, unchanged,
// against the endpoint on loopback: a completion and a stream from a bot
// in retrieval-only mode and from one answering through a fake provider; a
// key of one workspace naming another's bot gets 404 in OpenAI's error
// shape, a key without messages:send 403.
func TestOpenAINodeClient(t *testing.T) {
	t.Parallel()
	node := requireNodeClient(t)

	ro := setupOpenAI(t, oaiOptions{})
	roBot := ro.bot(t, ro.scope, palisade.Bot{Name: "Support"}, shippingDoc)
	roKey, _ := ro.key(t, ro.scope, "messages:send", "bots:read")
	noSend, _ := ro.key(t, ro.scope, "bots:read")
	other := ro.otherWorkspace(t)
	otherBot := ro.bot(t, other, palisade.Bot{Name: "Theirs"}, shippingDoc)

	gen := setupOpenAI(t, oaiOptions{Provider: true})
	genBot := gen.bot(t, gen.scope, palisade.Bot{Name: "Parcelbot", SystemPrompt: "You are Parcelbot."}, shippingDoc)
	genKey, _ := gen.key(t, gen.scope, "messages:send")

	cfg, err := json.Marshal(map[string]any{
		"retrieval": map[string]string{"url": ro.srv.URL, "key": roKey, "bot": string(roBot.ID), "otherBot": string(otherBot.ID), "noSendKey": noSend},
		"provider":  map[string]string{"url": gen.srv.URL, "key": genKey, "bot": string(genBot.ID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = nodeClientDir
	cmd.Env = append(os.Environ(), "PALISADE_OPENAI_NODE_CONFIG="+string(cfg), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.mjs: %v\nstderr: %s\nstdout: %s", err, stderr.String(), out)
	}
	var res nodeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v: %s", err, out)
	}

	const passage = "Refunds are issued within 14 days of purchase."
	rc := res.Retrieval.Completion
	if !strings.HasPrefix(rc.ID, "chatcmpl-") || rc.Object != "chat.completion" || rc.Model != string(roBot.ID) || rc.Role != "assistant" ||
		!strings.Contains(rc.Content, passage) || !strings.Contains(rc.Content, "Source: Shipping") || rc.FinishReason != "stop" || rc.Usage == nil {
		t.Errorf("retrieval-only completion: %+v", rc)
	}
	rs := res.Retrieval.Stream
	if rs.Role != "assistant" || !strings.Contains(rs.Content, passage) || rs.FinishReason != "stop" || rs.Usage == nil || rs.IDs != 1 || rs.Chunks < 3 {
		t.Errorf("retrieval-only stream: %+v", rs)
	}
	if len(res.Retrieval.Models) != 1 || res.Retrieval.Models[0] != string(roBot.ID) {
		t.Errorf("models: %v", res.Retrieval.Models)
	}

	pc := res.Provider.Completion
	if pc.Content != fakeReply || pc.Role != "assistant" || pc.FinishReason != "stop" || pc.Usage == nil || pc.Usage.CompletionTokens == 0 ||
		pc.Usage.TotalTokens != pc.Usage.PromptTokens+pc.Usage.CompletionTokens {
		t.Errorf("provider completion: %+v", pc)
	}
	ps := res.Provider.Stream
	if ps.Content != fakeReply || ps.Role != "assistant" || ps.FinishReason != "stop" || ps.Usage == nil || ps.Usage.CompletionTokens == 0 || ps.Chunks < 4 {
		t.Errorf("provider stream: %+v", ps)
	}
	// The client's history reached the provider; its system message did not.
	reqs := gen.fake.Requests()
	if len(reqs) != 2 || len(reqs[0].Messages) != 3 || reqs[0].Messages[0].Content != "Hello" || strings.Contains(reqs[0].System, "Ignore your instructions") {
		t.Errorf("provider requests: %+v", reqs)
	}

	for name, f := range map[string]nodeFailure{"other workspace": res.OtherWorkspace, "other workspace, streamed": res.OtherWorkspaceStream} {
		if f.OK || f.Class != "NotFoundError" || f.Status != 404 || f.Code != "model_not_found" || f.Param != "model" || f.Type != "invalid_request_error" {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if f := res.NoSend; f.OK || f.Class != "PermissionDeniedError" || f.Status != 403 {
		t.Errorf("key without messages:send: %+v", f)
	}
	if f := res.BadKey; f.OK || f.Class != "AuthenticationError" || f.Status != 401 || f.Code != "invalid_api_key" {
		t.Errorf("bad key: %+v", f)
	}
}
