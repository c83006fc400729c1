package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// callTimeout bounds one Web API call.
const callTimeout = 30 * time.Second

// maxAnswer caps a Web API answer; the largest we read (a posted
// message echoed back) is a few kilobytes per part.
const maxAnswer = 1 << 20

// envelope is the part of every Web API answer the adapter reads
// (protocols.md §3.5): HTTP 200 even on errors, with ok and error.
type envelope struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// apiError is a Web API call that did not succeed. It never holds the
// token (sent in the Authorization header only) nor the request body.
type apiError struct {
	method string
	// status is the HTTP status; 0 when no answer came.
	status int
	// code is Slack's error code ("channel_not_found"), or empty when the
	// answer was not a Web API answer.
	code       string
	retryAfter time.Duration
	cause      error
}

func (e *apiError) Error() string {
	switch {
	case e.status == 0:
		return fmt.Sprintf("slack %s: no answer: %v", e.method, e.cause)
	case e.code != "":
		return fmt.Sprintf("slack %s: HTTP %d: %s", e.method, e.status, e.code)
	case e.cause != nil:
		return fmt.Sprintf("slack %s: HTTP %d: %v", e.method, e.status, e.cause)
	}
	return fmt.Sprintf("slack %s: HTTP %d", e.method, e.status)
}

func (e *apiError) Unwrap() error { return e.cause }

// call posts params as JSON to the Web API method with the bot token as
// a Bearer credential, and decodes the answer into out (when not nil). A
// 429 carries Retry-After; an answer with ok:false is an error carrying
// Slack's error code whatever its HTTP status.
func (p *Platform) call(ctx context.Context, token secret.Secret, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("slack %s: encoding the request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/"+method, bytes.NewReader(body))
	if err != nil {
		return &apiError{method: method, cause: errors.New("the request could not be built")}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := p.client.Do(req)
	if err != nil {
		return &apiError{method: method, cause: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &apiError{method: method, status: resp.StatusCode, cause: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &apiError{method: method, status: resp.StatusCode, code: "ratelimited", retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		// A proxy's error page, or a server in trouble.
		return &apiError{method: method, status: resp.StatusCode, cause: errors.New("the answer is not a Web API answer")}
	}
	if resp.StatusCode/100 != 2 || !env.OK {
		code := errorCode(env.Error)
		if code == "" && !env.OK {
			code = "unknown_error"
		}
		e := &apiError{method: method, status: resp.StatusCode, code: code}
		if code == "ratelimited" {
			e.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &apiError{method: method, status: resp.StatusCode, cause: errors.New("the result is not what the Web API returns")}
		}
	}
	return nil
}

// retryAfter reads a Retry-After header in seconds (Slack sends whole
// seconds); a missing or unreadable one is a second, and an absurd one is
// capped at an hour.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return time.Second
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// errorCode keeps Slack's error code as a short token: lower-case
// letters, digits and underscores, at most 64 of them. Anything else is
// not a Slack error code and is not repeated.
func errorCode(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '.' {
			return ""
		}
	}
	return s
}

// authTest is auth.test's answer for a bot token.
type authTest struct {
	URL    string `json:"url"`
	Team   string `json:"team"`
	User   string `json:"user"`
	TeamID string `json:"team_id"`
	UserID string `json:"user_id"`
	BotID  string `json:"bot_id"`
}

func (p *Platform) authTest(ctx context.Context, token secret.Secret) (authTest, error) {
	var a authTest
	err := p.call(ctx, token, "auth.test", struct{}{}, &a)
	return a, err
}

// postMessage is chat.postMessage's request: plain text (no blocks), in
// a thread when thread_ts is set. Links are not unfurled: a model's
// answer must not make Slack fetch what it names.
type postMessage struct {
	Channel     string `json:"channel"`
	Text        string `json:"text"`
	ThreadTS    string `json:"thread_ts,omitempty"`
	UnfurlLinks bool   `json:"unfurl_links"`
	UnfurlMedia bool   `json:"unfurl_media"`
}
