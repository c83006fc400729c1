package cli_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// auditActions lists the actions of a chain: the platform chain for the
// zero scope.
func auditActions(t *testing.T, env map[string]string, scope palisade.Scope) []store.AuditEntry {
	t.Helper()
	s := openSealed(t, env)
	defer s.close()
	var entries []store.AuditEntry
	var err error
	if scope.Valid() {
		entries, err = s.ListAudit(t.Context(), scope, store.ListAuditParams{Limit: 200})
	} else {
		entries, err = s.ListPlatformAudit(t.Context(), store.ListAuditParams{Limit: 200})
	}
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func hasEntry(entries []store.AuditEntry, action, target string, detail ...string) bool {
	for _, e := range entries {
		if e.Action != action || e.Target != target || e.Actor != "cli" {
			continue
		}
		ok := true
		for _, d := range detail {
			ok = ok && strings.Contains(e.Detail, d)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestWorkspaceSuspendEndToEnd, through the whole app on SQLite and
// PostgreSQL, with the server running while the operator acts: once
// `workspace suspend` has run, the workspace's bot answers neither the
// API's chat, nor the OpenAI-compatible endpoint (403
// workspace_suspended, without the reason), nor a Telegram delivery
// (acknowledged with 200, never answered nor stored); its API refuses
// changes but still reads; another workspace is unaffected; `workspace
// list` shows the state; `workspace resume` brings the answers back; both
// are in the platform chain and the workspace's own, and in no other
// workspace's.
func TestWorkspaceSuspendEndToEnd(t *testing.T) {
	t.Parallel()
	const token = "7234567890:AAHCanarySuspendE2EBotToken_xyz01"
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			fake := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
			fake.AddBot(token, "suspend_helper_bot")
			cap := &e2eCapture{}
			const scopes = "bots:write,bots:read,channels:write,messages:send"
			wsA, wsB := createWorkspace(t, env, "Abusive"), createWorkspace(t, env, "Bystander")
			keyA := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(wsA.Workspace()), "--name", "a", "--scopes", scopes))
			keyB := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(wsB.Workspace()), "--name", "b", "--scopes", scopes))
			addr := freeAddr(t)
			r := serve(t, env, "--addr", addr, "--public-url", "http://"+addr, "--telegram-api-url", fake.URL,
				"--egress-policy", egressPolicyFor(t, fake.URL), "--unsafe-egress-allow-loopback=true")
			a := &e2eClient{t: t, base: r.public, key: keyA, cap: cap}
			b := &e2eClient{t: t, base: r.public, key: keyB, cap: cap}
			botA, _ := a.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Phisher"}, http.StatusCreated)["id"].(string)
			botB, _ := b.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Helper"}, http.StatusCreated)["id"].(string)
			a.json(http.MethodPost, "/api/v1/bots/"+botA+"/channels", map[string]any{"type": "telegram",
				"credentials": map[string]any{"bot_token": token}}, http.StatusCreated)
			chat := func(c *e2eClient, bot, user string) (int, []byte) {
				return c.do(http.MethodPost, "/api/v1/bots/"+bot+"/chat", map[string]any{"user_id": user, "message": "Where is my parcel?"})
			}
			if code, raw := chat(a, botA, "u1"); code != http.StatusOK {
				t.Fatalf("chat before the suspension: %d %s", code, raw)
			}
			if status, err := fake.Deliver(t.Context(), token, channeltest.TextUpdate(100000001, 1, 111, "Ann", "Hello?")); err != nil || status != http.StatusOK {
				t.Fatalf("delivery before the suspension: %d, %v", status, err)
			}
			fake.WaitSent(t, 1, 30*time.Second)

			const reason = "Phishing reported by three banks"
			out := mustCLI(t, env, "workspace", "suspend", string(wsA.Workspace()), "--reason", reason)
			if !strings.Contains(out, "suspended") {
				t.Fatalf("suspend said %q", out)
			}
			refused := func(what string, code int, raw []byte) {
				t.Helper()
				var body struct {
					Error struct {
						Code string `json:"code"`
					} `json:"error"`
				}
				_ = json.Unmarshal(raw, &body)
				if code != http.StatusForbidden || body.Error.Code != "workspace_suspended" || strings.Contains(string(raw), reason) {
					t.Errorf("%s while suspended: %d %s", what, code, raw)
				}
			}
			code, raw := chat(a, botA, "u2")
			refused("API chat", code, raw)
			code, raw = a.do(http.MethodPost, "/v1/chat/completions", map[string]any{"model": botA,
				"messages": []map[string]string{{"role": "user", "content": "Where is my parcel?"}}})
			refused("OpenAI-compatible chat", code, raw)
			code, raw = a.do(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Another"})
			refused("creating a bot", code, raw)
			if code, raw := a.do(http.MethodGet, "/api/v1/bots/"+botA, nil); code != http.StatusOK {
				t.Errorf("reading a bot while suspended: %d %s", code, raw)
			}
			if status, err := fake.Deliver(t.Context(), token, channeltest.TextUpdate(100000002, 2, 222, "Bob", "Anyone there?")); err != nil || status != http.StatusOK {
				t.Fatalf("a delivery while suspended is acknowledged: %d, %v", status, err)
			}
			// The bystander is answered meanwhile; the suspended bot's
			// delivery never is.
			if code, raw := chat(b, botB, "u1"); code != http.StatusOK {
				t.Errorf("another workspace's chat: %d %s", code, raw)
			}
			time.Sleep(1500 * time.Millisecond)
			if sent := fake.Sent(); len(sent) != 1 {
				t.Fatalf("%d Telegram replies, want only the one sent before the suspension: %+v", len(sent), sent)
			}

			list := mustCLI(t, env, "workspace", "list", "--json")
			var rows []struct {
				ID              string `json:"id"`
				Status          string `json:"status"`
				SuspendedReason string `json:"suspended_reason"`
			}
			if err := json.Unmarshal([]byte(list), &rows); err != nil {
				t.Fatalf("workspace list --json: %v\n%s", err, list)
			}
			states := map[string]string{}
			for _, row := range rows {
				states[row.ID] = row.Status + "/" + row.SuspendedReason
			}
			if states[string(wsA.Workspace())] != "suspended/"+reason || states[string(wsB.Workspace())] != "active/" {
				t.Fatalf("workspace list: %v\n%s", states, list)
			}
			if table := mustCLI(t, env, "workspace", "list"); !regexp.MustCompile(string(wsA.Workspace()) + `\s+Abusive\s+suspended since `).MatchString(table) {
				t.Errorf("workspace list table:\n%s", table)
			}

			if out := mustCLI(t, env, "workspace", "resume", string(wsA.Workspace())); !strings.Contains(out, "resumed") {
				t.Fatalf("resume said %q", out)
			}
			if code, raw := chat(a, botA, "u3"); code != http.StatusOK {
				t.Fatalf("chat after resuming: %d %s", code, raw)
			}
			if status, err := fake.Deliver(t.Context(), token, channeltest.TextUpdate(100000003, 3, 333, "Cy", "Back?")); err != nil || status != http.StatusOK {
				t.Fatalf("delivery after resuming: %d, %v", status, err)
			}
			if sent := fake.WaitSent(t, 2, 30*time.Second); sent[1].ChatID != 333 {
				t.Fatalf("the reply after resuming went to %+v", sent[1])
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}

			// The delivery made while suspended was dropped, not queued:
			// one job before the suspension, one after resuming.
			s := openSealed(t, env)
			if n, err := s.Jobs().Count(t.Context(), "inbound_message"); err != nil || n != 2 {
				t.Errorf("%d inbound jobs, want 2: %v", n, err)
			}
			s.close()
			id := string(wsA.Workspace())
			platform := auditActions(t, env, palisade.Scope{})
			own := auditActions(t, env, wsA)
			for chain, entries := range map[string][]store.AuditEntry{"platform": platform, "workspace": own} {
				if !hasEntry(entries, "workspace.suspended", id, reason) || !hasEntry(entries, "workspace.resumed", id) {
					t.Errorf("the %s chain lacks the suspension or the resumption", chain)
				}
			}
			for _, e := range auditActions(t, env, wsB) {
				if strings.HasPrefix(e.Action, "workspace.suspended") || strings.HasPrefix(e.Action, "workspace.resumed") {
					t.Errorf("the bystander's chain has %s", e.Action)
				}
			}
			mustCLI(t, env, "audit", "verify")
		})
	}
}
