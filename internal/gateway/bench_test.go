package gateway_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/gatewayhttp"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/secret"
)

// BenchmarkGatewayOverhead is B2: at a fixed request rate, the latency the
// gateway adds over calling the local fake provider directly, in-process
// and as a separate role over signed HTTP, measured interleaved in the same
// run. It reports p50 and p99 of each path and the added latency.
func BenchmarkGatewayOverhead(b *testing.B) {
	fake := llmtest.NewOpenAI(b, llmtest.Options{Text: "short answer"})
	prov, err := openai.New(openai.Config{BaseURL: fake.URL, APIKey: secret.New("sk-bench"), HTTPClient: fake.Client()})
	if err != nil {
		b.Fatal(err)
	}
	f := setup(b)
	// Without and with the policy cache, as configured by serve (a hub
	// over a bus); the two are measured interleaved.
	g := gateway.New(gateway.Options{Store: f.store, Providers: map[string]llm.Provider{"gpt-4o-mini": prov}, Now: time.Now})
	hub := invalidate.NewHub(invalidate.NewMemory(), nil)
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { hub.Run(hubCtx); close(hubDone) }()
	defer func() { stopHub(); <-hubDone }()
	for !hub.Subscribed() {
		time.Sleep(time.Millisecond)
	}
	gc := gateway.New(gateway.Options{Store: f.store, Providers: map[string]llm.Provider{"gpt-4o-mini": prov}, Now: time.Now, Invalidation: hub})
	key := gatewayhttp.SigningKey{ID: "k1", Key: secret.New("gateway-signing-key-0123456789abcdef")}
	serve := func(g *gateway.Gateway) *gatewayhttp.Client {
		h, err := gatewayhttp.NewHandler(g, gatewayhttp.HandlerOptions{Keys: []gatewayhttp.SigningKey{key}, Nonces: gateway.NewStoreNonces(f.store), Now: time.Now})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{}, h.Routes()))
		b.Cleanup(srv.Close)
		return gatewayhttp.NewClient(srv.URL, key, srv.Client(), time.Now)
	}
	remote, remoteCached := serve(g), serve(gc)

	c := call(f.botA.ID, f.tokenA, "what are your opening hours?")
	// The same request the gateway builds, sent to the provider directly.
	system, messages := gateway.BuildPrompt(f.botA.SystemPrompt, nil, c.Message, nil)
	temperature := f.botA.Temperature
	plain := llm.Request{Model: f.botA.Model, System: system, Messages: messages, MaxTokens: f.botA.MaxOutputTokens, Temperature: &temperature}
	ctx := b.Context()
	var direct, inproc, viaHTTP, inprocCached, viaHTTPCached []time.Duration
	const interval = 2 * time.Millisecond // 500 triples a second
	next := time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		t0 := time.Now()
		if _, err := prov.Complete(ctx, plain); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := g.Complete(ctx, c); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := remote.Complete(ctx, c); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := gc.Complete(ctx, c); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if _, err := remoteCached.Complete(ctx, c); err != nil {
			b.Fatal(err)
		}
		t5 := time.Now()
		direct, inproc, viaHTTP = append(direct, t1.Sub(t0)), append(inproc, t2.Sub(t1)), append(viaHTTP, t3.Sub(t2))
		inprocCached, viaHTTPCached = append(inprocCached, t4.Sub(t3)), append(viaHTTPCached, t5.Sub(t4))
	}
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1))].Microseconds())
	}
	b.ReportMetric(p(direct, 0.5), "direct_p50_us")
	b.ReportMetric(p(direct, 0.99), "direct_p99_us")
	b.ReportMetric(p(inproc, 0.5)-p(direct, 0.5), "inprocess_added_p50_us")
	b.ReportMetric(p(inproc, 0.99)-p(direct, 0.99), "inprocess_added_p99_us")
	b.ReportMetric(p(viaHTTP, 0.5)-p(direct, 0.5), "remote_added_p50_us")
	b.ReportMetric(p(viaHTTP, 0.99)-p(direct, 0.99), "remote_added_p99_us")
	b.ReportMetric(p(inprocCached, 0.5)-p(direct, 0.5), "inprocess_cached_added_p50_us")
	b.ReportMetric(p(inprocCached, 0.99)-p(direct, 0.99), "inprocess_cached_added_p99_us")
	b.ReportMetric(p(viaHTTPCached, 0.5)-p(direct, 0.5), "remote_cached_added_p50_us")
	b.ReportMetric(p(viaHTTPCached, 0.99)-p(direct, 0.99), "remote_cached_added_p99_us")
	b.ReportMetric(p(inproc, 0.5)/p(direct, 0.5), "inprocess/direct_p50")
	b.ReportMetric(p(inprocCached, 0.5)/p(direct, 0.5), "inprocess_cached/direct_p50")
	b.ReportMetric(p(viaHTTP, 0.5)/p(direct, 0.5), "remote/direct_p50")
}
