package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/store"
)

// post sends body to url with the secret header (when not empty) and
// returns the status and the error body's code and message.
func post(t *testing.T, url, secretHeader string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secretHeader != "" {
		req.Header.Set(telegram.SecretHeader, secretHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code + ": " + e.Error.Message
}

// TestRefusalsLookAlikeAndRunOnlyTheLookup: a wrong or missing secret
// header, a body changed by one byte under a wrong secret, an unknown bot
// and a malformed bot id are each refused with 401 and the same body,
// before anything is parsed, with no query but the channel lookup (none
// at all for the malformed id), no job enqueued, and each counted by its
// reason.
func TestRefusalsLookAlikeAndRunOnlyTheLookup(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{noRunner: true})
	st.connect(t)
	good := st.fake.Bot(botToken).Webhook.SecretToken
	body := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")
	changed := bytes.Replace(body, []byte("hello"), []byte("hellp"), 1)
	other := palisade.NewBotID()
	cases := []struct {
		name    string
		url     string
		header  string
		body    []byte
		queries int64
		reason  channel.Reason
	}{
		{"wrong secret", st.hookURL(st.bot.ID), "not-the-secret", body, 1, channel.ReasonBadSignature},
		{"secret one byte off", st.hookURL(st.bot.ID), good[:len(good)-1] + "_", body, 1, channel.ReasonBadSignature},
		{"missing secret", st.hookURL(st.bot.ID), "", body, 1, channel.ReasonMissingHeader},
		{"body changed, wrong secret", st.hookURL(st.bot.ID), "guess", changed, 1, channel.ReasonBadSignature},
		{"unknown bot", st.hookURL(other), good, body, 1, channel.ReasonUnknownChannel},
		{"malformed bot id", st.srv.URL + "/hooks/telegram/bot_short", good, body, 0, channel.ReasonMalformedID},
		{"injection as bot id", st.srv.URL + "/hooks/telegram/bot_%27%20OR%201%3D1--", good, body, 0, channel.ReasonMalformedID},
		{"another prefix", st.srv.URL + "/hooks/telegram/" + string(palisade.NewWorkspaceID()), good, body, 0, channel.ReasonMalformedID},
	}
	var first string
	for _, c := range cases {
		before := st.queries.Load()
		status, msg := post(t, c.url, c.header, c.body)
		if n := st.queries.Load() - before; n != c.queries {
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
		if st.refusals.get("telegram", c.reason) == 0 {
			t.Errorf("%s: not counted as %s", c.name, c.reason)
		}
	}
	if n, err := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); err != nil || n != 0 {
		t.Fatalf("refused deliveries enqueued %d jobs (%v)", n, err)
	}

	// Telegram signs nothing: with the right secret, a body changed so it
	// no longer parses is refused with 400 after the lookup, and nothing
	// is enqueued; a body still well-formed is a different update.
	before := st.queries.Load()
	if status, _ := post(t, st.hookURL(st.bot.ID), good, body[:len(body)-1]); status != http.StatusBadRequest {
		t.Fatalf("truncated body: status %d, want 400", status)
	}
	if n := st.queries.Load() - before; n != 1 {
		t.Fatalf("truncated body: %d queries, want 1", n)
	}
	if n, _ := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); n != 0 || st.refusals.get("telegram", channel.ReasonUnparsable) != 1 {
		t.Fatalf("an unparsable body enqueued %d jobs", n)
	}
	if status, _ := post(t, st.hookURL(st.bot.ID), good, body); status != http.StatusOK {
		t.Fatalf("the genuine delivery: status %d", status)
	}
	if n, _ := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); n != 1 {
		t.Fatalf("the genuine delivery enqueued %d jobs", n)
	}
	// Only refusals of the known channel are audited, aggregated, without
	// payload.
	st.rej.Flush(t.Context(), true)
	got := st.audit.of(audit.ActionWebhookRejected)
	total := 0
	for _, e := range got {
		if e.Target != string(st.bot.ID) || strings.Contains(e.Detail["reason"], "unknown") || strings.Contains(e.Detail["reason"], "malformed_bot") {
			t.Fatalf("audited a refusal of no known channel: %+v", e)
		}
		n := 0
		for _, c := range e.Detail["count"] {
			n = n*10 + int(c-'0')
		}
		total += n
	}
	if len(got) != 2 || total != 4 {
		t.Fatalf("rejection audit entries = %+v", got)
	}
}

// TestRateLimitedBeforeTheLookup: past the webhook limit of a bot and
// channel, a delivery is refused with 429 and Retry-After before any
// query; another bot is not affected. The refusal is counted for the
// bot's workspace when the counts are flushed, not before.
func TestRateLimitedBeforeTheLookup(t *testing.T) {
	t.Parallel()
	limits := ratelimit.Defaults()
	if err := limits.Set(ratelimit.ClassWebhook, "3/min"); err != nil {
		t.Fatal(err)
	}
	st := newStack(t, "sqlite", stackOptions{limits: limits, noRunner: true})
	st.connect(t)
	good := st.fake.Bot(botToken).Webhook.SecretToken
	for i := range 3 {
		if status, _ := post(t, st.hookURL(st.bot.ID), good, channeltest.TextUpdate(int64(100+i), 1, 1, "A", "x")); status != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, status)
		}
	}
	before := st.queries.Load()
	req, _ := http.NewRequest(http.MethodPost, st.hookURL(st.bot.ID), bytes.NewReader(channeltest.TextUpdate(200, 1, 1, "A", "x")))
	req.Header.Set(telegram.SecretHeader, good)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || st.queries.Load() != before {
		t.Fatalf("4th delivery: %d, Retry-After %q, %d queries", resp.StatusCode, resp.Header.Get("Retry-After"), st.queries.Load()-before)
	}
	if status, _ := post(t, st.hookURL(palisade.NewBotID()), good, nil); status != http.StatusUnauthorized {
		t.Fatalf("another bot: %d", status)
	}
	if err := st.limited.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	days, err := (&conversation.Dashboard{Store: st.s}).Days(t.Context(), st.scope, 1)
	if err != nil || len(days) != 1 || days[0].RateLimited != 1 {
		t.Fatalf("activity = %+v, %v; want the refused delivery counted", days, err)
	}
}

// TestOversizedBodyRefused: a body over the limit is refused with 413
// before the lookup.
func TestOversizedBodyRefused(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{noRunner: true})
	st.connect(t)
	before := st.queries.Load()
	status, _ := post(t, st.hookURL(st.bot.ID), "x", bytes.Repeat([]byte("a"), 2<<20))
	if status != http.StatusRequestEntityTooLarge || st.queries.Load() != before {
		t.Fatalf("oversized body: %d, %d queries", status, st.queries.Load()-before)
	}
}

// TestDeliveredOnceAnsweredOnce, on SQLite and PostgreSQL: an update
// delivered five times in a row, and another five times at once, are each
// answered exactly once, in the right chat (the fake never deduplicates,
// so a second reply would show); a group message that mentions the bot is
// answered in the group, as a reply, and kept in the group's conversation.
func TestDeliveredOnceAnsweredOnce(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			gen := conversation.GeneratorFunc(func(_ context.Context, req conversation.Request) (conversation.Generated, error) {
				return conversation.Generated{Text: "Answer to: " + req.Message}, nil
			})
			st := newStack(t, dialect, stackOptions{generator: gen})
			st.connect(t)
			ctx := t.Context()

			seq := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "Where is my parcel?")
			for i := range 5 {
				if status, err := st.fake.Deliver(ctx, botToken, seq); err != nil || status != http.StatusOK {
					t.Fatalf("sequential delivery %d: %d, %v", i, status, err)
				}
			}
			conc := channeltest.TextUpdate(100000002, 43, 222222222, "Bo", "Do you ship to Norway?")
			var wg sync.WaitGroup
			statuses := make([]int, 5)
			for i := range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], _ = st.fake.Deliver(ctx, botToken, conc)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s != http.StatusOK {
					t.Fatalf("concurrent delivery %d: %d", i, s)
				}
			}
			group := channeltest.GroupUpdate(100000003, 44, -1001234567890, 333333333, "Cy", "what are your hours?", "@helper_bot", nil)
			if status, err := st.fake.Deliver(ctx, botToken, group); err != nil || status != http.StatusOK {
				t.Fatalf("group delivery: %d, %v", status, err)
			}

			waitFor(t, "three replies", func() bool { return len(st.fake.Sent()) >= 3 })
			waitFor(t, "every job completed", func() bool {
				s := st.jobStates(t)
				return len(s) == 3 && s[0] == "completed" && s[1] == "completed" && s[2] == "completed"
			})
			time.Sleep(100 * time.Millisecond) // a duplicate would have arrived by now
			byChat := map[int64][]channeltest.Sent{}
			for _, s := range st.fake.Sent() {
				byChat[s.ChatID] = append(byChat[s.ChatID], s)
			}
			if len(st.fake.Sent()) != 3 || len(byChat[111111111]) != 1 || len(byChat[222222222]) != 1 || len(byChat[-1001234567890]) != 1 {
				t.Fatalf("replies = %+v", st.fake.Sent())
			}
			if byChat[111111111][0].Text != "Answer to: Where is my parcel?" || byChat[222222222][0].Text != "Answer to: Do you ship to Norway?" {
				t.Fatalf("replies in the wrong chat: %+v", st.fake.Sent())
			}
			if g := byChat[-1001234567890][0]; g.Text != "Answer to: what are your hours?" || g.ReplyTo != 44 {
				t.Fatalf("group reply = %+v", g)
			}
			// The group's conversation is the group's, not the sender's.
			in := conversation.Inbound{BotID: st.bot.ID, Channel: "telegram", UserID: "333333333", ChatID: "-1001234567890"}
			conv, err := st.s.OpenConversation(ctx, st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "telegram", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if msgs, err := st.s.ListMessages(ctx, st.scope, conv.ID, 10); err != nil || len(msgs) != 2 || msgs[0].Body != "what are your hours?" {
				t.Fatalf("group conversation %s = %+v, %v", in.Key(), msgs, err)
			}
		})
	}
}

// TestRetryAfterIsWaitedOut: Telegram's flood control answer (429 with
// retry_after 1) is retried after that delay, and the reply arrives once.
func TestRetryAfterIsWaitedOut(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{realSleep: true})
	st.connect(t)
	st.fake.Fail(channeltest.TooManyRequests(1))
	if status, err := st.fake.Deliver(t.Context(), botToken, channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the reply", func() bool { return len(st.fake.Sent()) == 1 })
	calls := st.fake.CallsOf("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("sendMessage calls = %d, want 2", len(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Fatalf("retried after %s, before the second retry_after asked for", gap)
	}
}

// TestPlatformDownFailsVisibly: with Telegram down, the job retries with
// backoff and ends discarded — visible in its state — while the message
// and its answer stay stored; nothing is lost.
func TestPlatformDownFailsVisibly(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{})
	st.connect(t)
	st.fake.SetDown(true)
	if status, err := st.fake.Deliver(t.Context(), botToken, channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the job to be retried", func() bool {
		s := st.jobStates(t)
		return len(s) == 1 && (s[0] == "retryable" || s[0] == "available" || s[0] == "running")
	})
	waitFor(t, "the job to be discarded", func() bool {
		s := st.jobStates(t)
		return len(s) == 1 && s[0] == "discarded"
	})
	if n := len(st.fake.CallsOf("sendMessage")); n < job.InboundMaxAttempts {
		t.Fatalf("sendMessage tried %d times, want at least one per attempt (%d)", n, job.InboundMaxAttempts)
	}
	if len(st.fake.Sent()) != 0 {
		t.Fatal("a message was sent while Telegram was down")
	}
	in := conversation.Inbound{BotID: st.bot.ID, Channel: "telegram", UserID: "111111111"}
	conv, err := st.s.OpenConversation(t.Context(), st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "telegram", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if msgs, _ := st.s.ListMessages(t.Context(), st.scope, conv.ID, 10); len(msgs) != 2 {
		t.Fatalf("stored messages = %+v", msgs)
	}
}
