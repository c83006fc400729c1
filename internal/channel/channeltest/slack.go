package channeltest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/egress"
)

// Slack is a fake Slack Web API and Events API sender (protocols.md §3).
type Slack struct {
	// URL is the base URL to configure as the Web API
	// (".../api", as https://slack.com/api).
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	apps     map[string]*SlackApp // by bot token
	calls    []SlackCall
	sent     []SlackSent
	failures []SlackFailure
	down     bool
	nextTS   int64
	nextEv   int64
}

// SlackApp is an app installed in a workspace with its bot user, as the
// fake knows it by its bot token.
type SlackApp struct {
	BotToken      string
	SigningSecret string
	TeamID        string
	Team          string
	BotUserID     string
	BotID         string
	BotName       string
	// RequestURL is the Events API Request URL the user pasted.
	RequestURL string
}

// SlackCall is one Web API request the fake answered.
type SlackCall struct {
	Method string
	// BotUserID is the caller's bot user; empty when the token was
	// missing or unknown.
	BotUserID string
	Params    map[string]any
	At        time.Time
}

// SlackSent is one message chat.postMessage accepted.
type SlackSent struct {
	BotUserID string
	Channel   string
	Text      string
	ThreadTS  string
	TS        string
	// Truncated: the text was over 40,000 characters and Slack kept the
	// first 40,000.
	Truncated bool
	At        time.Time
}

// SlackFailure is an answer the fake gives instead of the next
// chat.postMessage calls' success.
type SlackFailure struct {
	// Status is the HTTP status: 200 for Slack's ok:false errors, 429 for
	// rate limiting, 5xx for a server in trouble.
	Status int
	// Error is the error code of the ok:false body.
	Error string
	// RetryAfter is the Retry-After header in seconds (with 429).
	RetryAfter int
}

// SlackRateLimited is Slack's rate-limit answer: HTTP 429 with
// Retry-After.
func SlackRateLimited(retryAfter int) SlackFailure {
	return SlackFailure{Status: http.StatusTooManyRequests, Error: "ratelimited", RetryAfter: retryAfter}
}

// SlackError is an ok:false answer with HTTP 200, as Slack answers every
// refused call ("channel_not_found", "not_in_channel", "is_archived").
func SlackError(code string) SlackFailure { return SlackFailure{Status: http.StatusOK, Error: code} }

// SlackMaxText is where Slack truncates a message's text.
const SlackMaxText = 40000

// NewSlack starts a fake Slack on loopback, stopped when the test ends.
func NewSlack(tb testing.TB) *Slack {
	tb.Helper()
	f := &Slack{apps: map[string]*SlackApp{}, nextTS: 1749416383, nextEv: 1}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL + "/api"
	tb.Cleanup(f.srv.Close)
	return f
}

// AddApp registers an installed app: its bot token, signing secret, and
// the ids auth.test answers.
func (f *Slack) AddApp(a SlackApp) *SlackApp {
	if !strings.HasPrefix(a.BotToken, "xoxb-") || a.SigningSecret == "" || a.TeamID == "" || a.BotUserID == "" || a.BotID == "" {
		panic("channeltest: a Slack app needs an xoxb- token, a signing secret, a team id, a bot user id and a bot id")
	}
	b := a
	f.mu.Lock()
	f.apps[a.BotToken] = &b
	f.mu.Unlock()
	return &b
}

// SetRequestURL sets the app's Events API Request URL, as the user does
// in the app's Event Subscriptions.
func (f *Slack) SetRequestURL(token, rawURL string) {
	f.mu.Lock()
	if a := f.apps[token]; a != nil {
		a.RequestURL = rawURL
	}
	f.mu.Unlock()
}

// App returns a copy of the app with token, as it stands.
func (f *Slack) App(token string) SlackApp {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.apps[token]; a != nil {
		return *a
	}
	return SlackApp{}
}

// Fail makes the next chat.postMessage calls fail, one failure each, in
// order.
func (f *Slack) Fail(fs ...SlackFailure) {
	f.mu.Lock()
	f.failures = append(f.failures, fs...)
	f.mu.Unlock()
}

// SetDown makes every Web API call answer 503 with an HTML page until
// SetDown(false). The calls are still recorded.
func (f *Slack) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// Calls returns the requests answered so far.
func (f *Slack) Calls() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the requests of one method.
func (f *Slack) CallsOf(method string) []SlackCall {
	var out []SlackCall
	for _, c := range f.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the messages posted so far, in order.
func (f *Slack) Sent() []SlackSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// WaitSent waits until at least n messages were posted and returns them.
func (f *Slack) WaitSent(tb testing.TB, n int, timeout time.Duration) []SlackSent {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := f.Sent()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the fake Slack received %d messages, want %d", len(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func slackAnswer(w http.ResponseWriter, status int, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func slackFail(w http.ResponseWriter, code string) {
	slackAnswer(w, http.StatusOK, map[string]any{"ok": false, "error": code})
}

func (f *Slack) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	f.mu.Lock()
	down := f.down
	if down && ok {
		f.calls = append(f.calls, SlackCall{Method: method, At: time.Now()})
	}
	f.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
		return
	}
	if !ok || strings.Contains(method, "/") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		slackFail(w, "method_not_supported_for_channel_type")
		return
	}
	params, err := readSlackParams(r)
	if err != nil {
		slackFail(w, "invalid_form_data")
		return
	}
	// The token comes as a Bearer credential, or (in a form) as the token
	// parameter.
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token, _ = params["token"].(string)
	}
	delete(params, "token")
	f.mu.Lock()
	app := f.apps[token]
	var user string
	if app != nil {
		user = app.BotUserID
	}
	f.calls = append(f.calls, SlackCall{Method: method, BotUserID: user, Params: params, At: time.Now()})
	f.mu.Unlock()
	switch {
	case token == "":
		slackFail(w, "not_authed")
		return
	case app == nil:
		slackFail(w, "invalid_auth")
		return
	}
	switch method {
	case "auth.test":
		slackAnswer(w, http.StatusOK, map[string]any{"ok": true, "url": "https://" + strings.ToLower(app.TeamID) + ".slack.com/",
			"team": app.Team, "user": app.BotName, "team_id": app.TeamID, "user_id": app.BotUserID, "bot_id": app.BotID, "is_enterprise_install": false})
	case "chat.postMessage":
		f.postMessage(w, app, params)
	default:
		slackFail(w, "unknown_method")
	}
}

// readSlackParams reads the arguments as the Web API takes them: the
// query string, a form, or (for writes) a JSON object.
func readSlackParams(r *http.Request) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range r.URL.Query() {
		out[k] = v[0]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return out, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, err
		}
		for k, v := range obj {
			out[k] = v
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range form {
			out[k] = v[0]
		}
	default:
		return nil, errors.New("unsupported Content-Type")
	}
	return out, nil
}

func (f *Slack) postMessage(w http.ResponseWriter, app *SlackApp, params map[string]any) {
	f.mu.Lock()
	var failure *SlackFailure
	if len(f.failures) > 0 {
		failure = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()
	if failure != nil {
		if failure.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(failure.RetryAfter))
		}
		slackAnswer(w, failure.Status, map[string]any{"ok": false, "error": failure.Error})
		return
	}
	ch, _ := params["channel"].(string)
	if ch == "" || !strings.ContainsAny(ch[:1], "CDG") {
		slackFail(w, "channel_not_found")
		return
	}
	text, _ := params["text"].(string)
	if strings.TrimSpace(text) == "" {
		slackFail(w, "no_text")
		return
	}
	s := SlackSent{BotUserID: app.BotUserID, Channel: ch, Text: text, At: time.Now()}
	if utf8.RuneCountInString(text) > SlackMaxText {
		s.Text, s.Truncated = string([]rune(text)[:SlackMaxText]), true
	}
	s.ThreadTS, _ = params["thread_ts"].(string)
	f.mu.Lock()
	f.nextTS++
	s.TS = strconv.FormatInt(f.nextTS, 10) + ".000100"
	f.sent = append(f.sent, s)
	f.mu.Unlock()
	msg := map[string]any{"type": "message", "user": app.BotUserID, "bot_id": app.BotID, "text": s.Text, "ts": s.TS}
	if s.ThreadTS != "" {
		msg["thread_ts"] = s.ThreadTS
	}
	slackAnswer(w, http.StatusOK, map[string]any{"ok": true, "channel": ch, "ts": s.TS, "message": msg})
}

// SlackSignature is the X-Slack-Signature of a delivery (§3.1): "v0=" and
// the lower-case hex HMAC-SHA256, keyed with the signing secret's bytes,
// of "v0:{timestamp}:{body}".
func SlackSignature(signingSecret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SlackHeaders are the headers of a delivery signed at t.
func SlackHeaders(signingSecret string, t time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(t.Unix(), 10)
	return http.Header{
		"Content-Type":              {"application/json"},
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {SlackSignature(signingSecret, ts, body)},
	}
}

// Deliver posts an event to the app's Request URL as Slack does (§3.1,
// §3.3): POST, application/json, the body byte for byte, signed now. It
// returns the status the Request URL answered.
func (f *Slack) Deliver(ctx context.Context, token string, body []byte) (int, error) {
	return f.deliver(ctx, token, body, 0, "")
}

// DeliverRetry posts the event again as Slack's retry number n (1 to 3)
// does: signed anew, with X-Slack-Retry-Num and X-Slack-Retry-Reason
// (http_timeout, http_error...), the body unchanged.
func (f *Slack) DeliverRetry(ctx context.Context, token string, body []byte, n int, reason string) (int, error) {
	if n < 1 || n > 3 {
		return 0, errors.New("channeltest: Slack retries a delivery at most 3 times")
	}
	return f.deliver(ctx, token, body, n, reason)
}

func (f *Slack) deliver(ctx context.Context, token string, body []byte, retry int, reason string) (int, error) {
	a := f.App(token)
	if a.RequestURL == "" {
		return 0, errors.New("channeltest: the app has no Request URL")
	}
	h := SlackHeaders(a.SigningSecret, time.Now(), body)
	if retry > 0 {
		h.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		h.Set("X-Slack-Retry-Reason", reason)
	}
	return Post(ctx, a.RequestURL, h, body)
}

// VerifyRequestURL sends the url_verification request Slack sends when
// a Request URL is pasted (§3.2), signed, and checks the answer: 200
// with the challenge as plain text, as a form (challenge=...) or as JSON
// ({"challenge": ...}). Slack keeps the URL only if it passes.
func (f *Slack) VerifyRequestURL(ctx context.Context, token, rawURL string) error {
	a := f.App(token)
	if a.SigningSecret == "" {
		return errors.New("channeltest: unknown app")
	}
	f.mu.Lock()
	f.nextEv++
	challenge := fmt.Sprintf("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P%d", f.nextEv)
	f.mu.Unlock()
	body := mustJSON(struct {
		Token     string `json:"token"`
		Challenge string `json:"challenge"`
		Type      string `json:"type"`
	}{"Jhj5dZrVaK7ZwHHjRyZWjbDl", challenge, "url_verification"})
	status, ct, answer, err := postRead(ctx, rawURL, SlackHeaders(a.SigningSecret, time.Now(), body), body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("channeltest: the Request URL answered HTTP %d to url_verification", status)
	}
	got := string(answer)
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(got)
		got = form.Get("challenge")
	case "application/json":
		var v struct {
			Challenge string `json:"challenge"`
		}
		_ = json.Unmarshal(answer, &v)
		got = v.Challenge
	}
	if got != challenge {
		return errors.New("channeltest: the Request URL did not answer with the challenge")
	}
	f.SetRequestURL(token, rawURL)
	return nil
}

// SlackDM is an event_callback with a message.im event (§3.3): a person
// writes to the bot in a direct message. threadTS, when set, places the
// message in a thread.
func SlackDM(app SlackApp, eventID, channelID, userID, ts, threadTS, text string) []byte {
	ev := slackEvent{Type: "message", Text: text, User: userID, TS: ts, ThreadTS: threadTS, Team: app.TeamID, Channel: channelID, EventTS: ts, ChannelType: "im"}
	return slackCallback(app, eventID, ev)
}

// SlackMention is an event_callback with an app_mention event: a person
// mentions the bot (<@U…> at the start of the text) in a channel.
func SlackMention(app SlackApp, eventID, channelID, userID, ts, threadTS, text string) []byte {
	ev := slackEvent{Type: "app_mention", User: userID, Text: "<@" + app.BotUserID + "> " + text, TS: ts, ThreadTS: threadTS, Team: app.TeamID,
		Channel: channelID, EventTS: ts}
	return slackCallback(app, eventID, ev)
}

// SlackBotMessage is the message.im event Slack sends for the bot's own
// message in a direct message: bot_id set, user the bot user.
func SlackBotMessage(app SlackApp, eventID, channelID, ts, text string) []byte {
	ev := slackEvent{Type: "message", Text: text, User: app.BotUserID, BotID: app.BotID, TS: ts, Team: app.TeamID, Channel: channelID,
		EventTS: ts, ChannelType: "im"}
	return slackCallback(app, eventID, ev)
}

// SlackEdit is a message_changed event in a direct message.
func SlackEdit(app SlackApp, eventID, channelID, userID, ts, text string) []byte {
	ev := slackEvent{Type: "message", Subtype: "message_changed", Hidden: true, Channel: channelID, TS: ts, EventTS: ts, ChannelType: "im",
		Message: &slackEvent{Type: "message", User: userID, Text: text, TS: ts}}
	return slackCallback(app, eventID, ev)
}

// slackEvent lays an inner event's fields out as Slack does.
type slackEvent struct {
	Type        string      `json:"type"`
	Subtype     string      `json:"subtype,omitempty"`
	Hidden      bool        `json:"hidden,omitempty"`
	Message     *slackEvent `json:"message,omitempty"`
	Text        string      `json:"text,omitempty"`
	User        string      `json:"user,omitempty"`
	BotID       string      `json:"bot_id,omitempty"`
	TS          string      `json:"ts"`
	ThreadTS    string      `json:"thread_ts,omitempty"`
	Team        string      `json:"team,omitempty"`
	Channel     string      `json:"channel,omitempty"`
	EventTS     string      `json:"event_ts,omitempty"`
	ChannelType string      `json:"channel_type,omitempty"`
}

type slackAuthorization struct {
	EnterpriseID        *string `json:"enterprise_id"`
	TeamID              string  `json:"team_id"`
	UserID              string  `json:"user_id"`
	IsBot               bool    `json:"is_bot"`
	IsEnterpriseInstall bool    `json:"is_enterprise_install"`
}

// slackEnvelope is the event_callback envelope in Slack's order (§3.3).
type slackEnvelope struct {
	Token              string               `json:"token"`
	TeamID             string               `json:"team_id"`
	APIAppID           string               `json:"api_app_id"`
	Event              slackEvent           `json:"event"`
	Type               string               `json:"type"`
	EventID            string               `json:"event_id"`
	EventTime          int64                `json:"event_time"`
	Authorizations     []slackAuthorization `json:"authorizations"`
	IsExtSharedChannel bool                 `json:"is_ext_shared_channel"`
	EventContext       string               `json:"event_context"`
}

func slackCallback(app SlackApp, eventID string, ev slackEvent) []byte {
	secs, _, _ := strings.Cut(ev.TS, ".")
	t, _ := strconv.ParseInt(secs, 10, 64)
	return mustJSON(slackEnvelope{
		Token: "XXYYZZ", TeamID: app.TeamID, APIAppID: "A0FAKEAPP1", Event: ev, Type: "event_callback", EventID: eventID, EventTime: t,
		Authorizations:     []slackAuthorization{{TeamID: app.TeamID, UserID: app.BotUserID, IsBot: true}},
		IsExtSharedChannel: false, EventContext: "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMDAwMCIsImFpZCI6IkEwMDAwIiwiY2lkIjoiRDAwMDAifQ",
	})
}

// postRead is Post that also returns the answer's Content-Type and body
// (at most 64 KiB).
func postRead(ctx context.Context, rawURL string, h http.Header, body []byte) (int, string, []byte, error) {
	rule, err := egress.RuleForURL(rawURL)
	if err != nil {
		return 0, "", nil, err
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		return 0, "", nil, err
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true, Timeout: 30 * time.Second})
	if err != nil {
		return 0, "", nil, err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	for k, v := range h {
		req.Header[k] = slices.Clone(v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), answer, nil
}
