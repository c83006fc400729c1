package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/secret"
)

// percentile of durations, in microseconds.
func percentile(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds())
}

func sum(d []time.Duration) time.Duration {
	var t time.Duration
	for _, x := range d {
		t += x
	}
	return t
}

// benchClient keeps connections alive, as Telegram's delivery does.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
}

func send(b *testing.B, c *http.Client, url, secretHeader string, body []byte) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secretHeader != "" {
		req.Header.Set(telegram.SecretHeader, secretHeader)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkWebhookIngress is B1: a Telegram webhook verified, deduped and
// durably enqueued (the dedupe row and the sealed job in one
// transaction), through the whole HTTP edge, against a bare net/http
// handler that only answers 200, interleaved in the same run, on SQLite
// and PostgreSQL. Each iteration is one new update and one bare request,
// one at a time over kept-alive connections; it reports each path's
// requests per second, p50 and p99, and their ratios.
func BenchmarkWebhookIngress(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			st := newStack(b, dialect, stackOptions{noRunner: true})
			st.connect(b)
			secretToken := st.fake.Bot(botToken).Webhook.SecretToken
			bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
			defer bare.Close()
			c := benchClient()
			url := st.hookURL(st.bot.ID)
			// Warm both paths: connections, caches, the data key.
			for i := range 20 {
				send(b, c, url, secretToken, channeltest.TextUpdate(int64(900000000+i), 1, 111111111, "Ann", "warm-up"))
				send(b, c, bare.URL, "", nil)
			}
			var hook, base []time.Duration
			id := int64(100000000)
			b.ResetTimer()
			for b.Loop() {
				id++
				body := channeltest.TextUpdate(id, id%1000, 111111111, "Ann", "Where is my parcel?")
				t0 := time.Now()
				send(b, c, url, secretToken, body)
				t1 := time.Now()
				send(b, c, bare.URL, "", body)
				t2 := time.Now()
				hook, base = append(hook, t1.Sub(t0)), append(base, t2.Sub(t1))
			}
			b.StopTimer()
			hookRPS := float64(len(hook)) / sum(hook).Seconds()
			baseRPS := float64(len(base)) / sum(base).Seconds()
			b.ReportMetric(hookRPS, "webhook_req/s")
			b.ReportMetric(percentile(hook, 0.5), "webhook_p50_us")
			b.ReportMetric(percentile(hook, 0.99), "webhook_p99_us")
			b.ReportMetric(baseRPS, "bare_req/s")
			b.ReportMetric(percentile(base, 0.5), "bare_p50_us")
			b.ReportMetric(percentile(base, 0.99), "bare_p99_us")
			b.ReportMetric(baseRPS/hookRPS, "bare/webhook_rps")
			b.ReportMetric(percentile(hook, 0.5)/percentile(base, 0.5), "webhook/bare_p50")
			if b.N > 1 {
				fmt.Printf("B1 %s: webhook %.0f req/s (p50 %.0fµs, p99 %.0fµs); bare net/http %.0f req/s (p50 %.0fµs, p99 %.0fµs); bare/webhook %.1fx\n",
					dialect, hookRPS, percentile(hook, 0.5), percentile(hook, 0.99), baseRPS, percentile(base, 0.5), percentile(base, 0.99), baseRPS/hookRPS)
			}
		})
	}
}

// BenchmarkWebhookToReply is B3: a signed Telegram webhook in, to the
// reply received by the fake Telegram, through the durable queue, the
// conversation service, the in-process LLM gateway and a fake OpenAI
// provider answering with no delay, on SQLite and PostgreSQL with the
// job runner polling as the server does (200ms). Updates go one at a
// time; it reports p50 and p99 from the request to the fake's receipt of
// the reply.
func BenchmarkWebhookToReply(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			fakeLLM := llmtest.NewOpenAI(b, llmtest.Options{Text: "Your parcel ships within two business days."})
			prov, err := openai.New(openai.Config{BaseURL: fakeLLM.URL, APIKey: secret.New("sk-bench"), HTTPClient: fakeLLM.Client()})
			if err != nil {
				b.Fatal(err)
			}
			tokens, err := gateway.NewTokens(bytes.Repeat([]byte{3}, 32))
			if err != nil {
				b.Fatal(err)
			}
			gen := &conversation.GatewayGenerator{Tokens: tokens}
			st := newStack(b, dialect, stackOptions{generator: gen, pollInterval: 200 * time.Millisecond})
			gen.Gateway = gateway.New(gateway.Options{Store: st.s, Providers: map[string]llm.Provider{st.bot.Model: prov}})
			salt, hash := tokens.Issue(st.bot.ID)
			if _, err := st.s.RotateBotToken(context.Background(), st.scope, st.bot.ID, salt, hash, time.Now()); err != nil {
				b.Fatal(err)
			}
			st.connect(b)
			secretToken := st.fake.Bot(botToken).Webhook.SecretToken
			c := benchClient()
			url := st.hookURL(st.bot.ID)
			id := int64(100000000)
			round := func() time.Duration {
				id++
				n := len(st.fake.Sent())
				t0 := time.Now()
				send(b, c, url, secretToken, channeltest.TextUpdate(id, id%1000, 111111111+id%7, "Ann", "When does my parcel ship?"))
				deadline := t0.Add(30 * time.Second)
				for {
					if s := st.fake.Sent(); len(s) > n {
						return s[len(s)-1].At.Sub(t0)
					}
					if time.Now().After(deadline) {
						b.Fatal("no reply within 30s")
					}
					time.Sleep(time.Millisecond)
				}
			}
			for range 3 {
				round()
			}
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				lat = append(lat, round())
			}
			b.StopTimer()
			b.ReportMetric(percentile(lat, 0.5), "reply_p50_us")
			b.ReportMetric(percentile(lat, 0.99), "reply_p99_us")
			if b.N > 1 {
				fmt.Printf("B3 %s: webhook to reply p50 %.1fms, p99 %.1fms (%d updates)\n", dialect, percentile(lat, 0.5)/1000, percentile(lat, 0.99)/1000, len(lat))
			}
		})
	}
}
