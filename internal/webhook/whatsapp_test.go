package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

const (
	waToken       = "EAAGwebhookPipelineWhatsAppToken_0123456789"
	waAppSecret   = "0123456789abcdef0123456789abcdef"
	waVerifyToken = "pipeline-verify-token-42"
	waPhoneID     = "106540352242922"
)

// connectWhatsApp connects the bot to the fake WhatsApp through the
// service and subscribes the fake's app to the bot's webhook URL, which
// makes the GET challenge.
func (st *stack) connectWhatsApp(t testing.TB) channel.View {
	t.Helper()
	v, err := st.svc.Connect(context.Background(), st.caller, st.bot.ID, "whatsapp", channel.Credentials{"access_token": secret.New(waToken),
		"app_secret": secret.New(waAppSecret), "verify_token": secret.New(waVerifyToken), "phone_number_id": secret.New(waPhoneID)})
	if err != nil {
		t.Fatal(err)
	}
	if status, err := st.wa.Subscribe(context.Background(), v.WebhookURL, waVerifyToken); err != nil || status != http.StatusOK {
		t.Fatalf("the GET challenge: %d, %v", status, err)
	}
	return v
}

func waText(id, from, text string) []byte {
	return channeltest.WhatsAppTextPayload(channeltest.WhatsAppText{WABAID: "102290129340398", PhoneNumberID: waPhoneID, Display: "15550783881",
		From: from, Name: "Ann", ID: id, Text: text})
}

// postWith sends body to rawURL with the headers h and returns the status
// and the error body's code and message.
func postWith(t *testing.T, rawURL string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
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

// get sends a GET to rawURL and returns the status, Content-Type and body.
func get(t *testing.T, rawURL string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestWhatsAppRefusalsRunOnlyTheLookup: a wrong signature, a missing
// header, a body changed by one byte, an unknown and a malformed bot id
// are each refused with 401 and the same body as every other refusal,
// before anything is parsed, with no query but the channel lookup (none
// for the malformed id), no job enqueued, each counted by its reason; the
// GET challenge with a wrong verify token is refused alike, and with the
// right one echoes the challenge as text/plain.
func TestWhatsAppRefusalsRunOnlyTheLookup(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{noRunner: true})
	v := st.connectWhatsApp(t)
	hook := v.WebhookURL
	body := waText("wamid.REFUSED1", "16505551234", "hello")
	good := channeltest.SignWhatsApp(waAppSecret, body)
	changed := bytes.Clone(body)
	changed[bytes.Index(changed, []byte("hello"))] ^= 1
	sig := func(s string) http.Header {
		h := http.Header{}
		if s != "" {
			h.Set(whatsapp.SignatureHeader, s)
		}
		return h
	}
	cases := []struct {
		name    string
		url     string
		header  http.Header
		body    []byte
		queries int64
		reason  channel.Reason
	}{
		{"wrong signature", hook, sig(channeltest.SignWhatsApp("another-app-secret", body)), body, 1, channel.ReasonBadSignature},
		{"signature of another body", hook, sig(channeltest.SignWhatsApp(waAppSecret, waText("wamid.X", "1", "x"))), body, 1, channel.ReasonBadSignature},
		{"missing header", hook, sig(""), body, 1, channel.ReasonMissingHeader},
		{"malformed header", hook, sig("sha1=" + good[7:47]), body, 1, channel.ReasonMalformedHeader},
		{"body changed by one byte", hook, sig(good), changed, 1, channel.ReasonBadSignature},
		{"not JSON under a wrong signature", hook, sig(good), []byte("{{{"), 1, channel.ReasonBadSignature},
		{"unknown bot", st.srv.URL + "/hooks/whatsapp/" + string(palisade.NewBotID()), sig(good), body, 1, channel.ReasonUnknownChannel},
		{"malformed bot id", st.srv.URL + "/hooks/whatsapp/bot_short", sig(good), body, 0, channel.ReasonMalformedID},
		{"injection as bot id", st.srv.URL + "/hooks/whatsapp/bot_%27%20OR%201%3D1--", sig(good), body, 0, channel.ReasonMalformedID},
	}
	_, first := post(t, st.srv.URL+"/hooks/telegram/bot_short", "", nil)
	for _, c := range cases {
		before := st.queries.Load()
		status, msg := postWith(t, c.url, c.header, c.body)
		if n := st.queries.Load() - before; n != c.queries {
			t.Errorf("%s: %d queries, want %d", c.name, n, c.queries)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, status)
		}
		if st.refusals.get("whatsapp", c.reason) == 0 {
			t.Errorf("%s: not counted as %s", c.name, c.reason)
		}
		// The answer is the one every refusal gets, Telegram's included.
		if msg != first {
			t.Errorf("%s: answered %q, the others %q", c.name, msg, first)
		}
	}
	if n, err := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); err != nil || n != 0 {
		t.Fatalf("refused deliveries enqueued %d jobs (%v)", n, err)
	}

	// The GET challenge.
	challenge := func(base, mode, tok string) string {
		return base + "?" + url.Values{"hub.mode": {mode}, "hub.challenge": {"1158201444"}, "hub.verify_token": {tok}}.Encode()
	}
	for name, c := range map[string]struct {
		url     string
		queries int64
		reason  channel.Reason
	}{
		"wrong verify token":    {challenge(hook, "subscribe", "not-the-verify-token"), 1, channel.ReasonBadSignature},
		"app secret as token":   {challenge(hook, "subscribe", waAppSecret), 1, channel.ReasonBadSignature},
		"not subscribe":         {challenge(hook, "unsubscribe", waVerifyToken), 1, channel.ReasonMalformedHeader},
		"no query":              {hook, 1, channel.ReasonMissingHeader},
		"unknown bot":           {challenge(st.srv.URL+"/hooks/whatsapp/"+string(palisade.NewBotID()), "subscribe", waVerifyToken), 1, channel.ReasonUnknownChannel},
		"malformed bot id":      {challenge(st.srv.URL+"/hooks/whatsapp/bot_short", "subscribe", waVerifyToken), 0, channel.ReasonMalformedID},
		"telegram has no GET":   {challenge(st.srv.URL+"/hooks/telegram/"+string(st.bot.ID), "subscribe", waVerifyToken), 0, ""},
		"verify token one over": {challenge(hook, "subscribe", waVerifyToken+"3"), 1, channel.ReasonBadSignature},
	} {
		before := st.queries.Load()
		status, _, body := get(t, c.url)
		if n := st.queries.Load() - before; n != c.queries {
			t.Errorf("GET %s: %d queries, want %d", name, n, c.queries)
		}
		if c.reason == "" {
			if status != http.StatusMethodNotAllowed && status != http.StatusNotFound {
				t.Errorf("GET %s: status %d", name, status)
			}
			continue
		}
		if status != http.StatusUnauthorized || bytes.Contains([]byte(body), []byte("1158201444")) {
			t.Errorf("GET %s: %d %q, want 401 without the challenge", name, status, body)
		}
		if st.refusals.get("whatsapp", c.reason) == 0 {
			t.Errorf("GET %s: not counted as %s", name, c.reason)
		}
	}
	status, ct, answer := get(t, challenge(hook, "subscribe", waVerifyToken))
	if status != http.StatusOK || ct != "text/plain; charset=utf-8" || answer != "1158201444" {
		t.Fatalf("the right verify token: %d %q %q", status, ct, answer)
	}

	// Signed, then parsed: a genuine delivery is accepted once.
	if status, err := channeltest.Post(t.Context(), hook, sig(good), body); err != nil || status != http.StatusOK {
		t.Fatalf("the genuine delivery: %d, %v", status, err)
	}
	if n, _ := st.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind()); n != 1 {
		t.Fatalf("the genuine delivery enqueued %d jobs", n)
	}
}

// TestWhatsAppDeliveredOnceAnsweredOnce, on SQLite and PostgreSQL: a
// message delivered five times in a row, and another five times at once,
// are each answered exactly once, to the right user (the fake never
// deduplicates, so a second reply would show); a status callback and an
// image are acknowledged and not answered; each user has their own
// conversation.
func TestWhatsAppDeliveredOnceAnsweredOnce(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			gen := conversation.GeneratorFunc(func(_ context.Context, req conversation.Request) (conversation.Generated, error) {
				return conversation.Generated{Text: "Answer to: " + req.Message}, nil
			})
			st := newStack(t, dialect, stackOptions{generator: gen})
			st.connectWhatsApp(t)
			ctx := t.Context()

			seq := waText("wamid.SEQ1", "16505551234", "Does it come in another color?")
			for i := range 5 {
				if status, err := st.wa.Deliver(ctx, seq); err != nil || status != http.StatusOK {
					t.Fatalf("sequential delivery %d: %d, %v", i, status, err)
				}
			}
			conc := waText("wamid.CONC1", "4915112345678", "Do you ship to Norway?")
			var wg sync.WaitGroup
			statuses := make([]int, 5)
			for i := range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], _ = st.wa.Deliver(ctx, conc)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s != http.StatusOK {
					t.Fatalf("concurrent delivery %d: %d", i, s)
				}
			}
			status := channeltest.WhatsAppStatusPayload("102290129340398", waPhoneID, "15550783881", "wamid.OUT1", "16505551234", "delivered", time.Now())
			image := bytes.Replace(waText("wamid.IMG1", "16505551234", "x"), []byte(`"type":"text","text":{"body":"x"}`), []byte(`"type":"image","image":{"id":"1","mime_type":"image\/jpeg"}`), 1)
			for name, b := range map[string][]byte{"status": status, "image": image} {
				if code, err := st.wa.Deliver(ctx, b); err != nil || code != http.StatusOK {
					t.Fatalf("%s: %d, %v", name, code, err)
				}
			}

			waitFor(t, "two replies", func() bool { return len(st.wa.Sent()) >= 2 })
			waitFor(t, "every job completed", func() bool {
				s := st.jobStates(t)
				return len(s) == 2 && s[0] == "completed" && s[1] == "completed"
			})
			time.Sleep(100 * time.Millisecond) // a duplicate would have arrived by now
			byUser := map[string][]channeltest.WhatsAppSent{}
			for _, s := range st.wa.Sent() {
				byUser[s.To] = append(byUser[s.To], s)
			}
			if len(st.wa.Sent()) != 2 || len(byUser["16505551234"]) != 1 || len(byUser["4915112345678"]) != 1 {
				t.Fatalf("replies = %+v", st.wa.Sent())
			}
			if byUser["16505551234"][0].Text != "Answer to: Does it come in another color?" || byUser["4915112345678"][0].Text != "Answer to: Do you ship to Norway?" ||
				byUser["16505551234"][0].PhoneNumberID != waPhoneID {
				t.Fatalf("replies to the wrong user: %+v", st.wa.Sent())
			}
			for _, user := range []string{"16505551234", "4915112345678"} {
				in := conversation.Inbound{BotID: st.bot.ID, Channel: "whatsapp", UserID: user}
				if in.Key() != "agent:"+string(st.bot.ID)+":whatsapp:dm:"+user {
					t.Fatalf("conversation key %s", in.Key())
				}
				conv, err := st.s.OpenConversation(ctx, st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "whatsapp", Now: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				if msgs, err := st.s.ListMessages(ctx, st.scope, conv.ID, 10); err != nil || len(msgs) != 2 {
					t.Fatalf("conversation of %s = %+v, %v", user, msgs, err)
				}
			}
		})
	}
}

// TestWhatsAppRateLimitIsWaitedOut: Meta's throughput answer (429 with
// Retry-After: 1) is retried after that delay, and the reply arrives once.
func TestWhatsAppRateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{realSleep: true})
	st.connectWhatsApp(t)
	st.wa.Fail(channeltest.WhatsAppRateLimited(1))
	if status, err := st.wa.Deliver(t.Context(), waText("wamid.RL1", "16505551234", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	waitFor(t, "the reply", func() bool { return len(st.wa.Sent()) == 1 })
	calls := st.wa.MessageCalls()
	if len(calls) != 2 {
		t.Fatalf("messages calls = %d, want 2", len(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Fatalf("retried after %s, before the Retry-After asked for", gap)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(st.wa.Sent()); n != 1 {
		t.Fatalf("%d replies, want 1", n)
	}
}

// TestWhatsAppDownFailsVisibly: with the Graph API down, the job retries
// with backoff and ends discarded — visible in its state — while the
// message and its answer stay stored; nothing is lost.
func TestWhatsAppDownFailsVisibly(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{})
	st.connectWhatsApp(t)
	st.wa.SetDown(true)
	if status, err := st.wa.Deliver(t.Context(), waText("wamid.DOWN1", "16505551234", "hello")); err != nil || status != 200 {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	// Ten attempts through the job runner: on a loaded machine under the
	// race detector that takes longer than waitFor's bound.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if s := st.jobStates(t); len(s) == 1 && s[0] == "discarded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the job to be discarded: %v", st.jobStates(t))
		}
	}
	if n := len(st.wa.MessageCalls()); n < job.InboundMaxAttempts {
		t.Fatalf("the messages endpoint was tried %d times, want at least one per attempt (%d)", n, job.InboundMaxAttempts)
	}
	if len(st.wa.Sent()) != 0 {
		t.Fatal("a message was sent while the Graph API was down")
	}
	in := conversation.Inbound{BotID: st.bot.ID, Channel: "whatsapp", UserID: "16505551234"}
	conv, err := st.s.OpenConversation(t.Context(), st.scope, store.OpenConversationParams{BotID: st.bot.ID, Key: in.Key(), Channel: "whatsapp", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if msgs, _ := st.s.ListMessages(t.Context(), st.scope, conv.ID, 10); len(msgs) != 2 {
		t.Fatalf("stored messages = %+v", msgs)
	}
}
