package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/ratelimit"
)

// A webhook endpoint limited per bot and channel: the 121st request within a
// minute is refused, and the headers tell the sender when to come back.
func Example() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	limiter := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: func() time.Time { return now }})
	policy, _ := ratelimit.Defaults().Policy(ratelimit.ClassWebhook)
	key := ratelimit.Key("bot_x", "ch_y")

	var d ratelimit.Decision
	for range 121 {
		d, _ = limiter.Allow(context.Background(), policy, key)
		now = now.Add(100 * time.Millisecond)
	}
	h := http.Header{}
	ratelimit.WriteHeaders(h, d)
	fmt.Println(d.Allowed)
	fmt.Println("RateLimit-Policy:", h.Get("RateLimit-Policy"))
	fmt.Println("RateLimit:", h.Get("RateLimit"))
	fmt.Println("Retry-After:", h.Get("Retry-After"))
	// Output:
	// false
	// RateLimit-Policy: "webhook";q=120;w=60
	// RateLimit: "webhook";r=0;t=60
	// Retry-After: 48
}
