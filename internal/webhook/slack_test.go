package webhook_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/slack"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
	"github.com/palisadehq/palisade/internal/webhook"
)

var slackApp = channeltest.SlackApp{BotToken: "xoxb-7123456789-7123456789012-WebhookPipelineSlack", SigningSecret: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
	TeamID: "T0HOOKS001", Team: "Hooks", BotUserID: "U0HELPER01", BotID: "B0HELPER01", BotName: "helper"}

// slackStack is the inbound path as the server wires it, with the Slack
// adapter pointed at a fake Slack: the webhook surface behind the edge on
// a loopback server, the channel service, and the job runner answering
// through the conversation service and replying through the channel
// service.
type slackStack struct {
	s        store.Store
	queries  *atomic.Int64
	fake     *channeltest.Slack
	svc      *channel.Service
	srv      *httptest.Server
	audit    *memAudit
	rej      *channel.Rejections
	refusals *refusals
	scope    palisade.Scope
	bot      palisade.Bot
	caller   palisade.Caller
}

func newSlackStack(t testing.TB, dialect string, o stackOptions) *slackStack {
	t.Helper()
	st := &slackStack{queries: &atomic.Int64{}, audit: &memAudit{}, refusals: &refusals{n: map[string]int{}}}
	sealer := sealtest.NewKeyring(t)
	st.s = openers[dialect](t, store.Options{Sealer: sealer, QueryHook: func(string) { st.queries.Add(1) }})
	t.Cleanup(func() { st.s.Close() })

	st.fake = channeltest.NewSlack(t)
	st.fake.AddApp(slackApp)
	rule, err := egress.RuleForURL(st.fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	sl, err := slack.New(slack.Options{BaseURL: st.fake.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	st.srv = httptest.NewUnstartedServer(nil)
	st.srv.Start()
	t.Cleanup(st.srv.Close)

	st.rej = channel.NewRejections(st.audit, nil, time.Now)
	sleep := func(context.Context, time.Duration) error { return nil }
	if o.realSleep {
		sleep = nil
	}
	st.svc, err = channel.New(channel.Options{Store: st.s, Sealer: sealer, ArgsKey: testArgsKey, Platforms: []channel.Platform{sl}, PublicURL: st.srv.URL,
		Audit: st.audit, Rejections: st.rej, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	limits := ratelimit.Defaults()
	if err := limits.Set(ratelimit.ClassWebhook, "10000/s"); err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.New(webhook.Options{Channels: st.svc, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Limits: limits,
		OnRefused: st.refusals.add})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", httpx.LimitBody(httpx.DefaultMaxBody)(hooks.Handler()))
	st.srv.Config.Handler = httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, httpx.Mux(mux))

	ws, err := st.s.CreateWorkspace(context.Background(), store.CreateWorkspaceParams{Name: "Hooks", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	st.scope = palisade.ScopeFor(ws.ID)
	st.caller = palisade.Caller{Scope: st.scope, Actor: "usr_test"}
	st.bot, err = st.s.CreateBot(context.Background(), st.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noRunner {
		know := &knowledge.Service{Store: st.s, Now: time.Now}
		conv := &conversation.Service{Store: st.s, Knowledge: know, Generator: o.generator, Now: time.Now}
		d := job.Deps{Store: st.s, ArgsKey: testArgsKey, Sealer: sealer, Conversations: conv, Replier: st.svc, Mail: noMail{}, Now: time.Now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		ro := job.RunnerOptions{PollInterval: 10 * time.Millisecond, FetchCooldown: 20 * time.Millisecond, RetryPolicy: fastRetry{}}
		var r *job.Runner
		switch s := st.s.(type) {
		case *sqlite.Store:
			r, err = job.NewRunner(riversqlite.New(s.DB()), d, ro, s.Jobs().(*sqlstore.RiverInserter[*sql.Tx]))
		case *postgres.Store:
			r, err = job.NewRunner(riverpgxv5.New(s.Pool()), d, ro, s.Jobs().(*sqlstore.RiverInserter[pgx.Tx]))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
	}
	return st
}

// connect connects the bot to the fake Slack through the service, then
// pastes the webhook URL as the app's Request URL, which Slack verifies
// with a url_verification request through the whole pipeline.
func (st *slackStack) connect(t testing.TB) channel.View {
	t.Helper()
	v, err := st.svc.Connect(context.Background(), st.caller, st.bot.ID, "slack",
		channel.Credentials{"bot_token": secret.New(slackApp.BotToken), "signing_secret": secret.New(slackApp.SigningSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.fake.VerifyRequestURL(context.Background(), slackApp.BotToken, v.WebhookURL); err != nil {
		t.Fatalf("Slack's url_verification of the webhook URL: %v", err)
	}
	return v
}

func (st *slackStack) hookURL(bot palisade.BotID) string {
	return st.srv.URL + "/hooks/slack/" + string(bot)
}

// inboundJobs counts the inbound jobs enqueued.
func (st *slackStack) inboundJobs(t testing.TB) int {
	t.Helper()
	n, err := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// postSlack sends body to url with the headers h and returns the status
// and the error body's code and message.
func postSlack(t *testing.T, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestSlackRefusalsLookAlikeAndRunOnlyTheLookup: a wrong signature, a
// missing signature or timestamp header, a stale or future timestamp
// (correctly signed), a body changed by one byte, a url_verification
// request signed with another secret, an unknown bot and a malformed bot
// id are each refused with 401 and the same body, before anything is
// parsed, with no query but the channel lookup (none for the malformed
// id), nothing enqueued, and each counted by its reason.
func TestSlackRefusalsLookAlikeAndRunOnlyTheLookup(t *testing.T) {
	t.Parallel()
	st := newSlackStack(t, "sqlite", stackOptions{noRunner: true})
	st.connect(t)
	body := channeltest.SlackDM(slackApp, "Ev0REFUSE1", "D0DIRECT01", "U0PERSON01", "1749416383.000100", "", "hello")
	now := time.Now()
	good := channeltest.SlackHeaders(slackApp.SigningSecret, now, body)
	without := func(name string) http.Header {
		h := good.Clone()
		h.Del(name)
		return h
	}
	wrong := good.Clone()
	wrong.Set("X-Slack-Signature", channeltest.SlackSignature("another0secret0of0the0same0sizes", good.Get("X-Slack-Request-Timestamp"), body))
	challenge := []byte(`{"token":"t","challenge":"forged","type":"url_verification"}`)
	other := palisade.NewBotID()
	cases := []struct {
		name    string
		url     string
		header  http.Header
		body    []byte
		queries int64
		reason  channel.Reason
	}{
		{"wrong signature", st.hookURL(st.bot.ID), wrong, body, 1, channel.ReasonBadSignature},
		{"missing signature", st.hookURL(st.bot.ID), without("X-Slack-Signature"), body, 1, channel.ReasonMissingHeader},
		{"missing timestamp", st.hookURL(st.bot.ID), without("X-Slack-Request-Timestamp"), body, 1, channel.ReasonMissingHeader},
		{"stale timestamp", st.hookURL(st.bot.ID), channeltest.SlackHeaders(slackApp.SigningSecret, now.Add(-slackWindow-time.Minute), body), body, 1, channel.ReasonStaleTimestamp},
		{"future timestamp", st.hookURL(st.bot.ID), channeltest.SlackHeaders(slackApp.SigningSecret, now.Add(slackWindow+time.Minute), body), body, 1, channel.ReasonStaleTimestamp},
		{"body changed by one byte", st.hookURL(st.bot.ID), good, bytes.Replace(body, []byte("hello"), []byte("hellp"), 1), 1, channel.ReasonBadSignature},
		{"forged url_verification", st.hookURL(st.bot.ID), channeltest.SlackHeaders("another0secret0of0the0same0sizes", now, challenge), challenge, 1, channel.ReasonBadSignature},
		{"unknown bot", st.hookURL(other), good, body, 1, channel.ReasonUnknownChannel},
		{"malformed bot id", st.srv.URL + "/hooks/slack/bot_short", good, body, 0, channel.ReasonMalformedID},
		{"injection as bot id", st.srv.URL + "/hooks/slack/bot_%27%20OR%201%3D1--", good, body, 0, channel.ReasonMalformedID},
	}
	var first string
	for _, c := range cases {
		before := st.queries.Load()
		status, answer := postSlack(t, c.url, c.header, c.body)
		if n := st.queries.Load() - before; n != c.queries {
			t.Errorf("%s: %d queries, want %d", c.name, n, c.queries)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, status)
		}
		// The request id differs per answer; the rest must not.
		answer = requestIDs.ReplaceAllString(answer, "")
		if first == "" {
			first = answer
		} else if answer != first {
			t.Errorf("%s: answered %q, the others %q", c.name, answer, first)
		}
		if strings.Contains(answer, "forged") || strings.Contains(answer, "hello") {
			t.Errorf("%s: the answer repeats the payload: %q", c.name, answer)
		}
		if st.refusals.get("slack", c.reason) == 0 {
			t.Errorf("%s: not counted as %s", c.name, c.reason)
		}
	}
	if n := st.inboundJobs(t); n != 0 {
		t.Fatalf("refused deliveries enqueued %d jobs", n)
	}
	if len(st.fake.Sent()) != 0 {
		t.Fatal("a refused delivery was answered")
	}
	// The genuine delivery passes with one lookup, then the transaction.
	if status, _ := postSlack(t, st.hookURL(st.bot.ID), good, body); status != http.StatusOK {
		t.Fatalf("the genuine delivery: %d", status)
	}
	if n := st.inboundJobs(t); n != 1 {
		t.Fatalf("the genuine delivery enqueued %d jobs", n)
	}
	st.rej.Flush(t.Context(), true)
	for _, e := range st.audit.of(audit.ActionWebhookRejected) {
		if e.Target != string(st.bot.ID) || e.Detail["channel"] != "slack" {
			t.Fatalf("rejection audit entry = %+v", e)
		}
		for _, v := range e.Detail {
			if strings.Contains(v, "hello") || strings.Contains(v, slackApp.SigningSecret) {
				t.Fatalf("the audit entry carries the payload or the secret: %+v", e)
			}
		}
	}
	if len(st.audit.of(audit.ActionWebhookRejected)) == 0 {
		t.Fatal("no refusal was audited")
	}
}

// requestIDs matches the request id of an error answer, which differs
// per request.
var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// slackWindow is the signed timestamp's window.
const slackWindow = channel.SignatureWindow

// TestSlackURLVerification: the challenge is answered as Slack checks it,
// and accepted without enqueuing anything.
func TestSlackURLVerification(t *testing.T) {
	t.Parallel()
	st := newSlackStack(t, "sqlite", stackOptions{noRunner: true})
	v := st.connect(t)
	if got := st.fake.App(slackApp.BotToken).RequestURL; got != v.WebhookURL {
		t.Fatalf("Request URL = %q, want %q", got, v.WebhookURL)
	}
	body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	status, answer := postSlack(t, v.WebhookURL, channeltest.SlackHeaders(slackApp.SigningSecret, time.Now(), body), body)
	if status != http.StatusOK || answer != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification = %d %q", status, answer)
	}
	if n := st.inboundJobs(t); n != 0 {
		t.Fatalf("url_verification enqueued %d jobs", n)
	}
}

// TestSlackDeliveredOnceAnsweredOnce, on SQLite and PostgreSQL: a direct
// message delivered five times in a row, a mention delivered five times
// at once, and a direct message followed by Slack's three retries are
// each answered exactly once (the fake never deduplicates): the direct
// messages in their im, the mention in a thread under it and in the
// channel's conversation. The bot's own message and an edit are not
// answered.
func TestSlackDeliveredOnceAnsweredOnce(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			gen := conversation.GeneratorFunc(func(_ context.Context, req conversation.Request) (conversation.Generated, error) {
				return conversation.Generated{Text: "Answer to: " + req.Message}, nil
			})
			st := newSlackStack(t, dialect, stackOptions{generator: gen})
			st.connect(t)
			ctx := t.Context()
			tok := slackApp.BotToken

			seq := channeltest.SlackDM(slackApp, "Ev0SEQ0001", "D0ANN00001", "U0ANN00001", "1749416383.000100", "", "Where is my parcel?")
			for i := range 5 {
				if status, err := st.fake.Deliver(ctx, tok, seq); err != nil || status != http.StatusOK {
					t.Fatalf("sequential delivery %d: %d, %v", i, status, err)
				}
			}
			conc := channeltest.SlackMention(slackApp, "Ev0CONC001", "C0GENERAL1", "U0BO000001", "1749416384.000200", "", "what are your hours?")
			var wg sync.WaitGroup
			statuses := make([]int, 5)
			for i := range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], _ = st.fake.Deliver(ctx, tok, conc)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s != http.StatusOK {
					t.Fatalf("concurrent delivery %d: %d", i, s)
				}
			}
			retried := channeltest.SlackDM(slackApp, "Ev0RETRY01", "D0CY000001", "U0CY000001", "1749416385.000300", "", "Do you ship to Norway?")
			if status, err := st.fake.Deliver(ctx, tok, retried); err != nil || status != http.StatusOK {
				t.Fatalf("delivery: %d, %v", status, err)
			}
			for n := 1; n <= 3; n++ {
				if status, err := st.fake.DeliverRetry(ctx, tok, retried, n, "http_timeout"); err != nil || status != http.StatusOK {
					t.Fatalf("retry %d: %d, %v", n, status, err)
				}
			}
			for _, ignored := range [][]byte{
				channeltest.SlackBotMessage(slackApp, "Ev0OWN0001", "D0ANN00001", "1749416386.000100", "Answer to: Where is my parcel?"),
				channeltest.SlackEdit(slackApp, "Ev0EDIT001", "D0ANN00001", "U0ANN00001", "1749416383.000100", "Where is my parcel now?"),
			} {
				if status, err := st.fake.Deliver(ctx, tok, ignored); err != nil || status != http.StatusOK {
					t.Fatalf("ignored event: %d, %v", status, err)
				}
			}

			waitFor(t, "three replies", func() bool { return len(st.fake.Sent()) >= 3 })
			waitFor(t, "three completed jobs", func() bool {
				s := jobStatesOf(t, st.s)
				return len(s) == 3 && s[0] == "completed" && s[1] == "completed" && s[2] == "completed"
			})
			time.Sleep(100 * time.Millisecond) // a duplicate would have arrived by now
			byChannel := map[string][]channeltest.SlackSent{}
			for _, s := range st.fake.Sent() {
				byChannel[s.Channel] = append(byChannel[s.Channel], s)
			}
			if len(st.fake.Sent()) != 3 || len(byChannel["D0ANN00001"]) != 1 || len(byChannel["C0GENERAL1"]) != 1 || len(byChannel["D0CY000001"]) != 1 {
				t.Fatalf("replies = %+v", st.fake.Sent())
			}
			if d := byChannel["D0ANN00001"][0]; d.Text != "Answer to: Where is my parcel?" || d.ThreadTS != "" {
				t.Fatalf("direct reply = %+v", d)
			}
			if d := byChannel["D0CY000001"][0]; d.Text != "Answer to: Do you ship to Norway?" {
				t.Fatalf("retried direct reply = %+v", d)
			}
			if m := byChannel["C0GENERAL1"][0]; m.Text != "Answer to: what are your hours?" || m.ThreadTS != "1749416384.000200" {
				t.Fatalf("mention reply = %+v", m)
			}
			// The mention is kept in the channel's conversation, the direct
			// message in its sender's.
			for _, in := range []conversation.Inbound{
				{BotID: st.bot.ID, Channel: "slack", UserID: "U0BO000001", ChatID: "C0GENERAL1"},
				{BotID: st.bot.ID, Channel: "slack", UserID: "U0ANN00001"},
			} {
				conv, err := st.s.OpenConversation(ctx, st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "slack", Now: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				if msgs, err := st.s.ListMessages(ctx, st.scope, conv.ID, 10); err != nil || len(msgs) != 2 {
					t.Fatalf("conversation %s = %+v, %v", in.Key(), msgs, err)
				}
			}
		})
	}
}

// jobStatesOf reads the states of the inbound jobs, oldest first.
func jobStatesOf(t testing.TB, s store.Store) []string {
	t.Helper()
	return (&stack{s: s}).jobStates(t)
}

// TestSlackOkFalseIsAFailure: chat.postMessage answering HTTP 200 with
// ok:false is a failure, not a sent reply: a transient code is retried
// and the reply then arrives once; a final one (the bot is not in the
// channel) cancels the job with nothing sent.
func TestSlackOkFalseIsAFailure(t *testing.T) {
	t.Parallel()
	st := newSlackStack(t, "sqlite", stackOptions{})
	st.connect(t)
	tok := slackApp.BotToken
	st.fake.Fail(channeltest.SlackError("internal_error"))
	if status, err := st.fake.Deliver(t.Context(), tok, channeltest.SlackDM(slackApp, "Ev0TRANS01", "D0ANN00001", "U0ANN00001", "1749416383.000100", "", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the reply", func() bool { return len(st.fake.Sent()) == 1 })
	if n := len(st.fake.CallsOf("chat.postMessage")); n != 2 {
		t.Fatalf("chat.postMessage calls = %d, want 2", n)
	}

	st.fake.Fail(channeltest.SlackError("not_in_channel"))
	if status, err := st.fake.Deliver(t.Context(), tok, channeltest.SlackMention(slackApp, "Ev0FINAL01", "C0PRIVATE1", "U0ANN00001", "1749416384.000100", "", "hi")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the job to be cancelled", func() bool {
		s := jobStatesOf(t, st.s)
		return len(s) == 2 && s[1] == "cancelled"
	})
	if n := len(st.fake.CallsOf("chat.postMessage")); n != 3 || len(st.fake.Sent()) != 1 {
		t.Fatalf("chat.postMessage calls = %d, sent = %+v", n, st.fake.Sent())
	}
}

// TestSlackRetryAfterIsWaitedOut: a 429 with Retry-After 1 is retried
// after that delay, and the reply arrives once.
func TestSlackRetryAfterIsWaitedOut(t *testing.T) {
	t.Parallel()
	st := newSlackStack(t, "sqlite", stackOptions{realSleep: true})
	st.connect(t)
	st.fake.Fail(channeltest.SlackRateLimited(1))
	if status, err := st.fake.Deliver(t.Context(), slackApp.BotToken, channeltest.SlackDM(slackApp, "Ev0LIMIT01", "D0ANN00001", "U0ANN00001", "1749416383.000100", "", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the reply", func() bool { return len(st.fake.Sent()) == 1 })
	calls := st.fake.CallsOf("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("chat.postMessage calls = %d, want 2", len(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Fatalf("retried after %s, before the Retry-After asked for", gap)
	}
	time.Sleep(100 * time.Millisecond)
	if len(st.fake.Sent()) != 1 {
		t.Fatalf("replies = %+v", st.fake.Sent())
	}
}
