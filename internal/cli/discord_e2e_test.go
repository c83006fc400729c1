package cli_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/store"
)

// TestDiscordEndToEnd, through the whole app on SQLite and PostgreSQL: a
// bot is connected to Discord through the API with the REST URL set to a
// fake (the /ask command is registered); a signed /ask is answered
// deferred and its original edited with the answer; a forged interaction
// is refused with 401; a DM that arrives over the fake Gateway — the
// session started by serve — is answered over REST with an idempotency
// nonce and mentions disabled. The bot token appears in no response, log
// line or audit entry.
func TestDiscordEndToEnd(t *testing.T) {
	t.Parallel()
	const (
		appID = "787053080478613554"
		token = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.CanaryDiscordE2EBotToken0123456789abcd"
	)
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := backend(t)
			fake := channeltest.NewDiscord(t, channeltest.DiscordOptions{})
			app := fake.AddApp(channeltest.DiscordApp{ApplicationID: appID, BotToken: token, BotUserID: "787053080478613560", Username: "e2e_helper"})
			cap := &e2eCapture{}
			ws := createWorkspace(t, env, "Discord")
			key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "e2e",
				"--scopes", "bots:write,channels:write"))
			addr := freeAddr(t)
			r := serve(t, env, "--addr", addr, "--public-url", "http://"+addr, "--discord-api-url", fake.URL,
				"--egress-policy", egressPolicyFor(t, fake.URL), "--unsafe-egress-allow-loopback=true")
			c := &e2eClient{t: t, base: r.public, key: key, cap: cap}

			bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Parcelbot"}, http.StatusCreated)
			botID, _ := bot["id"].(string)
			ch := c.json(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "discord",
				"credentials": map[string]any{"application_id": appID, "public_key": app.PublicKey, "bot_token": token}}, http.StatusCreated)
			hook := "http://" + addr + "/hooks/discord/" + botID
			if ch["status"] != "active" || ch["webhook_url"] != hook {
				t.Fatalf("channel = %v", ch)
			}
			if cmds := fake.Commands(); len(cmds) != 1 || cmds[0].Body["name"] != "ask" || cmds[0].ApplicationID != appID {
				t.Fatalf("commands registered = %+v", cmds)
			}
			c.json(http.MethodPost, "/api/v1/bots/"+botID+"/channels/"+ch["id"].(string)+"/test", nil, http.StatusOK)

			// A forged interaction is refused; the genuine /ask is
			// deferred, then its original edited once.
			now := time.Now()
			ask := fake.AskInteraction(app, channeltest.Snowflake(now, 1), "1100000000000000001", "", "1200000000000000001", "Where is my parcel?", now)
			if status, err := channeltest.Post(t.Context(), hook, http.Header{"X-Signature-Ed25519": {strings.Repeat("00", 64)},
				"X-Signature-Timestamp": {"1700000000"}}, ask); err != nil || status != http.StatusUnauthorized {
				t.Fatalf("forged interaction: %d, %v", status, err)
			}
			if status, err := fake.DeliverInteraction(t.Context(), hook, app, ask); err != nil || status != http.StatusOK {
				t.Fatalf("interaction: %d, %v", status, err)
			}
			edits := fake.WaitEdits(t, 1, 30*time.Second)
			if !strings.Contains(edits[0].Content, "retrieval-only mode") || edits[0].Followup {
				t.Fatalf("edit = %+v", edits[0])
			}

			// The Gateway session serve started delivers a DM.
			fake.WaitConnected(t, token, 1, 0, 30*time.Second)
			dm := channeltest.MessageCreate(channeltest.Snowflake(time.Now(), 2), "1100000000000000002", "", "1200000000000000002", false, "Do you ship to Norway?", "")
			fake.Dispatch(token, "MESSAGE_CREATE", dm)
			sent := fake.WaitSent(t, 1, 30*time.Second)
			if sent[0].ChannelID != "1100000000000000002" || sent[0].Nonce == "" || !sent[0].EnforceNonce || sent[0].AllowedMentions == nil ||
				len(sent[0].AllowedMentions) != 0 || !strings.Contains(sent[0].Content, "retrieval-only mode") {
				t.Fatalf("reply = %+v", sent[0])
			}
			time.Sleep(200 * time.Millisecond)
			if len(fake.Sent()) != 1 || len(fake.Edits()) != 1 {
				t.Fatalf("%d replies and %d edits, want one each", len(fake.Sent()), len(fake.Edits()))
			}
			c.do(http.MethodDelete, "/api/v1/bots/"+botID+"/channels/"+ch["id"].(string), nil)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			cap.add("serve stderr (the log)", []byte(r.stderr.String()))
			cap.add("serve stdout", []byte(r.stdout.String()))

			s := openSealed(t, env)
			entries, err := s.ListAudit(t.Context(), ws, store.ListAuditParams{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			actions := map[string]bool{}
			for _, e := range entries {
				actions[e.Action] = true
				cap.add("audit "+e.Action, []byte(e.Actor+" "+e.Target+" "+e.Detail))
			}
			s.close()
			for _, a := range []string{"channel.connected", "channel.disconnected", "webhook.rejected"} {
				if !actions[a] {
					t.Errorf("no %s entry in the audit log: %v", a, actions)
				}
			}
			if !strings.Contains(cap.String(), "Discord Gateway session ready") || !strings.Contains(cap.String(), "@e2e_helper") {
				t.Fatal("the capture is blind: it holds neither the log nor the responses")
			}
			checkNoCanary(t, cap, token)
		})
	}
}
