package egress

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// BenchmarkDo measures a request through the egress client against the
// same request through a bare http.Transport to the same loopback server,
// in the same run, and reports the ratio.
func BenchmarkDo(b *testing.B) {
	srv := startFakeB(b)
	rule, err := RuleForURL(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPolicy(rule)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(p, Options{UnsafeAllowLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	bare := &http.Client{Transport: &http.Transport{}}
	defer bare.CloseIdleConnections()

	do := func(send func(*http.Request) (*http.Response, error)) time.Duration {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/ok", nil)
		start := time.Now()
		resp, err := send(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	var egressTime, bareTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		egressTime += do(c.Do)
		bareTime += do(bare.Do)
	}
	n := float64(b.N)
	b.ReportMetric(float64(egressTime.Nanoseconds())/n, "egress-ns/req")
	b.ReportMetric(float64(bareTime.Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(egressTime)/float64(bareTime), "egress/bare")
}

// BenchmarkPolicyCheck measures the policy decision for a Telegram-style
// URL against url.Parse of the same URL, which every request pays anyway.
func BenchmarkPolicyCheck(b *testing.B) {
	p := DefaultPolicy()
	const raw = "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	var checkTime, parseTime time.Duration
	for b.Loop() {
		start := time.Now()
		if _, _, d := p.check("POST", u, ""); d != nil {
			b.Fatal(d.Reason)
		}
		checkTime += time.Since(start)
		start = time.Now()
		if _, err := url.Parse(raw); err != nil {
			b.Fatal(err)
		}
		parseTime += time.Since(start)
	}
	b.ReportMetric(float64(checkTime)/float64(parseTime), "check/parse")
}

func startFakeB(b *testing.B) *httptest.Server {
	b.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(fakeHandler(done))
	b.Cleanup(func() { close(done); srv.Close() })
	return srv
}
