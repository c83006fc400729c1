package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	discordApp   = "787053080478613554"
	discordBot   = "787053080478613560"
	discordToken = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.webhookPipelineDiscordToken0123456789"
)

// discordStack is the stack with the Discord adapter pointed at a fake,
// the bot connected to it.
type discordStack struct {
	*stack
	fake *channeltest.Discord
	app  *channeltest.DiscordApp
}

func newDiscordStack(t *testing.T, dialect string, o stackOptions) *discordStack {
	t.Helper()
	f := channeltest.NewDiscord(t, channeltest.DiscordOptions{})
	app := f.AddApp(channeltest.DiscordApp{ApplicationID: discordApp, BotToken: discordToken, BotUserID: discordBot, Username: "helper"})
	rule, _ := egress.RuleForURL(f.URL)
	policy, _ := egress.NewPolicy(rule)
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	p, err := discord.New(discord.Options{BaseURL: f.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	o.platforms = append(o.platforms, p)
	st := newStack(t, dialect, o)
	if _, err := st.svc.Connect(t.Context(), st.caller, st.bot.ID, channel.KindDiscord, channel.Credentials{
		"application_id": secret.New(discordApp), "public_key": secret.New(app.PublicKey), "bot_token": secret.New(discordToken)}); err != nil {
		t.Fatal(err)
	}
	return &discordStack{stack: st, fake: f, app: app}
}

func (ds *discordStack) url(bot palisade.BotID) string {
	return ds.srv.URL + "/hooks/discord/" + string(bot)
}

// postSigned sends body with the signature headers given (none when
// empty) and returns the status and the body answered (an error's code
// and message).
func postSigned(t *testing.T, url, sig, ts string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(discord.SignatureHeader, sig)
	}
	if ts != "" {
		req.Header.Set(discord.TimestampHeader, ts)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, string(raw)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code + ": " + e.Error.Message
}

// TestDiscordRefusals: a wrong signature, a missing header, a stale
// timestamp, a body changed by one byte, an unknown and a malformed bot
// id are each refused with 401 (what Discord expects), with the same
// body, before parsing, with no query but the lookup of the public key
// (none for the malformed id) and nothing enqueued; a PING correctly
// signed is answered PONG.
func TestDiscordRefusals(t *testing.T) {
	t.Parallel()
	ds := newDiscordStack(t, "sqlite", stackOptions{noRunner: true})
	body := channeltest.PingInteraction(ds.app, "787053080478613555")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-channel.SignatureWindow-time.Minute).Unix(), 10)
	changed := bytes.Replace(body, []byte(`"type":1`), []byte(`"type":2`), 1)
	good := ds.app.Sign(now, body)
	cases := []struct {
		name    string
		url     string
		sig, ts string
		body    []byte
		queries int64
		reason  channel.Reason
	}{
		{"wrong signature", ds.url(ds.bot.ID), ds.app.Sign(now, []byte("other")), now, body, 1, channel.ReasonBadSignature},
		{"missing signature", ds.url(ds.bot.ID), "", now, body, 1, channel.ReasonMissingHeader},
		{"missing timestamp", ds.url(ds.bot.ID), good, "", body, 1, channel.ReasonMissingHeader},
		{"stale timestamp", ds.url(ds.bot.ID), ds.app.Sign(stale, body), stale, body, 1, channel.ReasonStaleTimestamp},
		{"future timestamp", ds.url(ds.bot.ID), ds.app.Sign("99999999999", body), "99999999999", body, 1, channel.ReasonStaleTimestamp},
		{"body changed by one byte", ds.url(ds.bot.ID), good, now, changed, 1, channel.ReasonBadSignature},
		{"malformed signature", ds.url(ds.bot.ID), "zz", now, body, 1, channel.ReasonMalformedHeader},
		{"unknown bot", ds.url(palisade.NewBotID()), good, now, body, 1, channel.ReasonUnknownChannel},
		{"malformed bot id", ds.srv.URL + "/hooks/discord/bot_short", good, now, body, 0, channel.ReasonMalformedID},
	}
	var first string
	for _, c := range cases {
		before := ds.queries.Load()
		status, msg := postSigned(t, c.url, c.sig, c.ts, c.body)
		if n := ds.queries.Load() - before; n != c.queries {
			t.Errorf("%s: %d queries, want %d", c.name, n, c.queries)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, status)
		}
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("%s: answered %q, the others %q", c.name, msg, first)
		}
		if ds.refusals.get("discord", c.reason) == 0 {
			t.Errorf("%s: not counted as %s", c.name, c.reason)
		}
	}
	if n, err := ds.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); err != nil || n != 0 {
		t.Fatalf("refused deliveries enqueued %d jobs (%v)", n, err)
	}
	status, res := postSigned(t, ds.url(ds.bot.ID), good, now, body)
	if status != http.StatusOK || res != `{"type":1}` {
		t.Fatalf("PING: %d %s", status, res)
	}
	// Through the fake, signed as Discord signs.
	if status, err := ds.fake.DeliverInteraction(t.Context(), ds.url(ds.bot.ID), ds.app, body); err != nil || status != http.StatusOK {
		t.Fatalf("PING from the fake: %d, %v", status, err)
	}
}

// TestDiscordAskDeferredThenEdited, on SQLite and PostgreSQL: /ask is
// answered with a deferred response at once and its original edited with
// the answer; the same interaction delivered five times in a row and
// another five times at once each produce exactly one edit (the fake
// never deduplicates).
func TestDiscordAskDeferredThenEdited(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			gen := conversation.GeneratorFunc(func(_ context.Context, req conversation.Request) (conversation.Generated, error) {
				return conversation.Generated{Text: "Answer to: " + req.Message}, nil
			})
			ds := newDiscordStack(t, dialect, stackOptions{generator: gen})
			if cmds := ds.fake.Commands(); len(cmds) != 1 || cmds[0].Body["name"] != "ask" {
				t.Fatalf("connecting registered %+v", cmds)
			}
			ctx := t.Context()
			now := time.Now()
			seq := ds.fake.AskInteraction(ds.app, channeltest.Snowflake(now, 1), "1100000000000000001", "", "1200000000000000001", "Where is my parcel?", now)
			for i := range 5 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ds.url(ds.bot.ID), bytes.NewReader(seq))
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req.Header.Set(discord.SignatureHeader, ds.app.Sign(ts, seq))
				req.Header.Set(discord.TimestampHeader, ts)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(raw) != `{"type":5}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("sequential delivery %d: %d %s", i, resp.StatusCode, raw)
				}
			}
			conc := ds.fake.AskInteraction(ds.app, channeltest.Snowflake(now, 2), "1100000000000000002", "1000000000000000009", "1200000000000000002", "Do you ship to Norway?", now)
			var wg sync.WaitGroup
			statuses := make([]int, 5)
			for i := range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], _ = ds.fake.DeliverInteraction(ctx, ds.url(ds.bot.ID), ds.app, conc)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s != http.StatusOK {
					t.Fatalf("concurrent delivery %d: %d", i, s)
				}
			}
			waitFor(t, "two edits", func() bool { return len(ds.fake.Edits()) >= 2 })
			waitFor(t, "both jobs completed", func() bool {
				s := ds.jobStates(t)
				return len(s) == 2 && s[0] == "completed" && s[1] == "completed"
			})
			time.Sleep(100 * time.Millisecond)
			edits := ds.fake.Edits()
			if len(edits) != 2 || len(ds.fake.Sent()) != 0 {
				t.Fatalf("edits = %+v, messages = %+v", edits, ds.fake.Sent())
			}
			got := map[string]bool{}
			for _, e := range edits {
				if e.Followup || e.AllowedMentions == nil || len(e.AllowedMentions) != 0 {
					t.Fatalf("edit = %+v", e)
				}
				got[e.Content] = true
			}
			if !got["Answer to: Where is my parcel?"] || !got["Answer to: Do you ship to Norway?"] {
				t.Fatalf("edits = %+v", edits)
			}
		})
	}
}

// TestDiscordExpiredInteractionIsCancelled: a reply job whose interaction
// token has outlived its 15 minutes is cancelled, not retried forever,
// and nothing is sent.
func TestDiscordExpiredInteractionIsCancelled(t *testing.T) {
	t.Parallel()
	ds := newDiscordStack(t, "sqlite", stackOptions{})
	old := time.Now().Add(-discord.TokenLife - time.Minute)
	body := ds.fake.AskInteraction(ds.app, channeltest.Snowflake(old, 1), "1100000000000000001", "", "1200000000000000001", "late?", old)
	if status, err := ds.fake.DeliverInteraction(t.Context(), ds.url(ds.bot.ID), ds.app, body); err != nil || status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the job to be cancelled", func() bool {
		s := ds.jobStates(t)
		return len(s) == 1 && s[0] == "cancelled"
	})
	if len(ds.fake.Edits()) != 0 {
		t.Fatal("an expired interaction was edited")
	}
}

// TestDiscordRetryAfterIsWaitedOut: Discord's 429 with retry_after is
// waited out before the edit is tried again, and the edit arrives once.
func TestDiscordRetryAfterIsWaitedOut(t *testing.T) {
	t.Parallel()
	ds := newDiscordStack(t, "sqlite", stackOptions{realSleep: true})
	ds.fake.Fail(channeltest.DiscordRateLimited(1.2))
	now := time.Now()
	body := ds.fake.AskInteraction(ds.app, channeltest.Snowflake(now, 1), "1100000000000000001", "", "1200000000000000001", "hello", now)
	if status, err := ds.fake.DeliverInteraction(t.Context(), ds.url(ds.bot.ID), ds.app, body); err != nil || status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	edits := ds.fake.WaitEdits(t, 1, 30*time.Second)
	var tries []time.Time
	for _, c := range ds.fake.Calls() {
		if c.Method == http.MethodPatch {
			tries = append(tries, c.At)
		}
	}
	if len(tries) != 2 || tries[1].Sub(tries[0]) < 1200*time.Millisecond {
		t.Fatalf("edit tried at %v, want twice, 1.2s apart", tries)
	}
	time.Sleep(100 * time.Millisecond)
	if len(ds.fake.Edits()) != 1 || edits[0].Followup {
		t.Fatalf("edits = %+v", ds.fake.Edits())
	}
}
