package egress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/palisadehq/palisade/internal/egress"
)

// How a test of another package reaches its httptest fake through egress:
// a one-rule policy for the fake's origin, plus the test-only loopback
// switch.
func ExampleRuleForURL() {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer fake.Close()

	rule, err := egress.RuleForURL(fake.URL)
	if err != nil {
		panic(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		panic(err)
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		panic(err)
	}

	req, _ := http.NewRequestWithContext(context.Background(), "POST", fake.URL+"/bot123:abc/sendMessage", nil)
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	// Anything off that origin is refused, with a reason to test for.
	req, _ = http.NewRequestWithContext(context.Background(), "GET", "https://example.org/", nil)
	_, err = client.Do(req)
	var denied *egress.DenialError
	if errors.As(err, &denied) {
		fmt.Println(denied.Denial.Reason)
	}
	// Output:
	// 200 {"ok":true}
	// no_rule
}
