// Package channeltest fakes the chat platforms for tests: each fake serves
// the platform's API on loopback as the platform does (its paths, its
// envelopes, its limits and its errors), records what was sent, and
// delivers webhooks to a URL byte for byte as the platform would, with
// its headers. The fakes never deduplicate: a reply sent twice is seen
// twice. A conformance test beside each fake holds it to the wire facts
// of protocols.md, so code that passes against a fake works against the
// platform.
//
// It must never be imported by non-test code. Its own outbound requests
// (webhook deliveries) go through an egress client allowing only the
// target's origin, like every outbound request of the module.
package channeltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/palisadehq/palisade/internal/egress"
)

// TelegramOptions configure a fake Telegram.
type TelegramOptions struct {
	// AnyWebhookURL accepts webhook URLs the real server refuses (plain
	// http, ports other than 443, 80, 88 and 8443), so a test can point
	// a bot at an app listening on loopback.
	AnyWebhookURL bool
}

// Telegram is a fake Telegram Bot API server (protocols.md §1).
type Telegram struct {
	// URL is the base URL to configure as the Bot API server.
	URL string

	opts TelegramOptions
	srv  *httptest.Server

	mu       sync.Mutex
	bots     map[string]*TelegramBot // by token
	calls    []Call
	sent     []Sent
	failures []Failure
	down     bool
	nextMsg  int64
}

// TelegramBot is a bot the fake knows, by its token.
type TelegramBot struct {
	Token    string
	ID       int64
	Username string
	// Webhook is what setWebhook last set: empty URL when none.
	Webhook Webhook
}

// Webhook is a bot's webhook as setWebhook set it.
type Webhook struct {
	URL            string
	SecretToken    string
	AllowedUpdates []string
}

// Call is one Bot API request the fake answered.
type Call struct {
	Method string
	BotID  int64 // 0 when the token was unknown
	Params map[string]any
	At     time.Time
}

// Sent is one message sendMessage accepted.
type Sent struct {
	BotID     int64
	ChatID    int64
	Text      string
	ThreadID  int64
	ReplyTo   int64
	ParseMode string
	At        time.Time
}

// Failure is an answer the fake gives instead of the next sendMessage
// calls' success.
type Failure struct {
	// Status is the HTTP status and error_code (429, 400, 403, 502...).
	Status int
	// Description is the Bot API's description ("Too Many Requests:
	// retry after 1").
	Description string
	// RetryAfter is parameters.retry_after in seconds (with 429).
	RetryAfter int
}

// TooManyRequests is Telegram's flood-control answer.
func TooManyRequests(retryAfter int) Failure {
	return Failure{Status: http.StatusTooManyRequests, Description: "Too Many Requests: retry after " + strconv.Itoa(retryAfter), RetryAfter: retryAfter}
}

// Blocked is Telegram's answer for a user who blocked the bot.
func Blocked() Failure {
	return Failure{Status: http.StatusForbidden, Description: "Forbidden: bot was blocked by the user"}
}

// NewTelegram starts a fake Telegram on loopback, stopped when the test
// ends.
func NewTelegram(tb testing.TB, o TelegramOptions) *Telegram {
	tb.Helper()
	f := &Telegram{opts: o, bots: map[string]*TelegramBot{}, nextMsg: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	tb.Cleanup(f.srv.Close)
	return f
}

var tokenRE = regexp.MustCompile(`^([1-9][0-9]{0,19}):[A-Za-z0-9_-]{1,64}$`)

// AddBot registers a bot with its token (the bot id is the token's
// prefix) and username.
func (f *Telegram) AddBot(token, username string) *TelegramBot {
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		panic("channeltest: not a bot token: the fake needs one of the real form")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	b := &TelegramBot{Token: token, ID: n, Username: username}
	f.mu.Lock()
	f.bots[token] = b
	f.mu.Unlock()
	return b
}

// Bot returns a copy of the bot with token, as it stands.
func (f *Telegram) Bot(token string) TelegramBot {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bots[token]
	if b == nil {
		return TelegramBot{}
	}
	out := *b
	out.Webhook.AllowedUpdates = slices.Clone(b.Webhook.AllowedUpdates)
	return out
}

// Fail makes the next sendMessage calls fail, one failure each, in order.
func (f *Telegram) Fail(fs ...Failure) {
	f.mu.Lock()
	f.failures = append(f.failures, fs...)
	f.mu.Unlock()
}

// SetDown makes every Bot API call answer 502 with an HTML page, as a
// proxy in front of a server in trouble does, until SetDown(false). The
// calls are still recorded.
func (f *Telegram) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// Close stops the server: every later Bot API call is refused at connect,
// as when the platform is unreachable. Deliver still works (it posts from
// the test, not from the server).
func (f *Telegram) Close() { f.srv.Close() }

// Calls returns the requests answered so far.
func (f *Telegram) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the requests of one method.
func (f *Telegram) CallsOf(method string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the messages sent so far, in order.
func (f *Telegram) Sent() []Sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// WaitSent waits until at least n messages were sent and returns them.
func (f *Telegram) WaitSent(tb testing.TB, n int, timeout time.Duration) []Sent {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := f.Sent()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the fake Telegram received %d messages, want %d", len(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type answer struct {
	OK          bool           `json:"ok"`
	Result      any            `json:"result,omitempty"`
	ErrorCode   int            `json:"error_code,omitempty"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
}

func writeAnswer(w http.ResponseWriter, status int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

func fail(w http.ResponseWriter, status int, description string) {
	writeAnswer(w, status, answer{OK: false, ErrorCode: status, Description: description})
}

var pathRE = regexp.MustCompile(`^/bot([^/]+)/([A-Za-z]+)$`)

func (f *Telegram) serve(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.EscapedPath())
	f.mu.Lock()
	down := f.down
	if down && m != nil {
		f.calls = append(f.calls, Call{Method: m[2], At: time.Now()})
	}
	f.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>")
		return
	}
	if m == nil || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	token, method := m[1], m[2]
	if unesc, err := url.PathUnescape(token); err == nil {
		token = unesc
	}
	params, err := readParams(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	f.mu.Lock()
	bot := f.bots[token]
	var botID int64
	if bot != nil {
		botID = bot.ID
	}
	f.calls = append(f.calls, Call{Method: method, BotID: botID, Params: params, At: time.Now()})
	f.mu.Unlock()
	if !tokenRE.MatchString(token) {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	if bot == nil {
		fail(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	switch method {
	case "getMe":
		writeAnswer(w, http.StatusOK, answer{OK: true, Result: map[string]any{"id": bot.ID, "is_bot": true, "first_name": bot.Username,
			"username": bot.Username, "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}})
	case "setWebhook":
		f.setWebhook(w, bot, params)
	case "deleteWebhook":
		f.mu.Lock()
		bot.Webhook = Webhook{}
		f.mu.Unlock()
		writeAnswer(w, http.StatusOK, answer{OK: true, Result: true, Description: "Webhook was deleted"})
	case "getWebhookInfo":
		f.mu.Lock()
		wh := bot.Webhook
		f.mu.Unlock()
		info := map[string]any{"url": wh.URL, "has_custom_certificate": false, "pending_update_count": 0}
		if wh.URL != "" {
			info["max_connections"] = 40
			if len(wh.AllowedUpdates) > 0 {
				info["allowed_updates"] = wh.AllowedUpdates
			}
		}
		writeAnswer(w, http.StatusOK, answer{OK: true, Result: info})
	case "sendMessage":
		f.sendMessage(w, bot, params)
	default:
		fail(w, http.StatusNotFound, "Not Found: method not found")
	}
}

// readParams reads the parameters as the Bot API takes them: the query
// string, a form, or a JSON object (§1.1).
func readParams(r *http.Request) (map[string]any, error) {
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
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return nil, errors.New("can't parse JSON object")
		}
		for k, v := range obj {
			out[k] = v
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("can't parse form")
		}
		for k, v := range form {
			out[k] = v[0]
		}
	default:
		return nil, errors.New("unsupported Content-Type")
	}
	return out, nil
}

func str(params map[string]any, k string) (string, bool) {
	switch v := params[k].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

var secretTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (f *Telegram) setWebhook(w http.ResponseWriter, bot *TelegramBot, params map[string]any) {
	raw, ok := str(params, "url")
	if !ok {
		fail(w, http.StatusBadRequest, "Bad Request: parameter \"url\" is required")
		return
	}
	wh := Webhook{URL: raw}
	if s, ok := str(params, "secret_token"); ok {
		if !secretTokenRE.MatchString(s) {
			fail(w, http.StatusBadRequest, "Bad Request: secret token contains unallowed characters")
			return
		}
		wh.SecretToken = s
	}
	if v, ok := params["allowed_updates"]; ok {
		list, err := stringList(v)
		if err != nil {
			fail(w, http.StatusBadRequest, "Bad Request: can't parse allowed updates JSON object")
			return
		}
		wh.AllowedUpdates = list
	}
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			fail(w, http.StatusBadRequest, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
			return
		}
		if !f.opts.AnyWebhookURL {
			if u.Scheme != "https" {
				fail(w, http.StatusBadRequest, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
				return
			}
			switch u.Port() {
			case "", "443", "80", "88", "8443":
			default:
				fail(w, http.StatusBadRequest, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
				return
			}
		}
	}
	f.mu.Lock()
	bot.Webhook = wh
	f.mu.Unlock()
	desc := "Webhook was set"
	if raw == "" {
		desc = "Webhook was deleted"
	}
	writeAnswer(w, http.StatusOK, answer{OK: true, Result: true, Description: desc})
}

// stringList reads allowed_updates: a JSON array, or (from a form or the
// query string) its JSON text.
func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := []string{}
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("not a string")
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		var out []string
		err := json.Unmarshal([]byte(x), &out)
		return out, err
	}
	return nil, errors.New("not a list")
}

func (f *Telegram) sendMessage(w http.ResponseWriter, bot *TelegramBot, params map[string]any) {
	f.mu.Lock()
	var failure *Failure
	if len(f.failures) > 0 {
		failure = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()
	if failure != nil {
		a := answer{OK: false, ErrorCode: failure.Status, Description: failure.Description}
		if failure.RetryAfter > 0 {
			a.Parameters = map[string]any{"retry_after": failure.RetryAfter}
		}
		writeAnswer(w, failure.Status, a)
		return
	}
	chatRaw, ok := str(params, "chat_id")
	if !ok || chatRaw == "" {
		fail(w, http.StatusBadRequest, "Bad Request: chat_id is empty")
		return
	}
	chatID, err := strconv.ParseInt(chatRaw, 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: chat not found")
		return
	}
	text, _ := str(params, "text")
	if strings.TrimSpace(text) == "" {
		fail(w, http.StatusBadRequest, "Bad Request: message text is empty")
		return
	}
	if len(utf16.Encode([]rune(text))) > 4096 {
		fail(w, http.StatusBadRequest, "Bad Request: message is too long")
		return
	}
	s := Sent{BotID: bot.ID, ChatID: chatID, Text: text, At: time.Now()}
	if v, ok := str(params, "message_thread_id"); ok {
		s.ThreadID, _ = strconv.ParseInt(v, 10, 64)
	}
	s.ParseMode, _ = str(params, "parse_mode")
	if rp, ok := params["reply_parameters"].(map[string]any); ok {
		if v, ok := str(rp, "message_id"); ok {
			s.ReplyTo, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	f.mu.Lock()
	f.nextMsg++
	mid := f.nextMsg
	f.sent = append(f.sent, s)
	f.mu.Unlock()
	chatType := "private"
	if chatID < 0 {
		chatType = "supergroup"
	}
	writeAnswer(w, http.StatusOK, answer{OK: true, Result: map[string]any{"message_id": mid, "date": s.At.Unix(), "text": text,
		"from": map[string]any{"id": bot.ID, "is_bot": true, "first_name": bot.Username, "username": bot.Username},
		"chat": map[string]any{"id": chatID, "type": chatType}}})
}

// Deliver posts an update to the bot's webhook as Telegram does (§1.3):
// POST, Content-Type application/json, the body byte for byte, and the
// secret token header when one was set. It returns the status the webhook
// answered. The request goes through an egress client allowing only the
// webhook's origin.
func (f *Telegram) Deliver(ctx context.Context, token string, body []byte) (int, error) {
	b := f.Bot(token)
	if b.Webhook.URL == "" {
		return 0, errors.New("channeltest: the bot has no webhook")
	}
	h := http.Header{}
	if b.Webhook.SecretToken != "" {
		h.Set("X-Telegram-Bot-Api-Secret-Token", b.Webhook.SecretToken)
	}
	return Post(ctx, b.Webhook.URL, h, body)
}

// Post sends body to rawURL with the headers h (and Content-Type
// application/json unless h sets one) and returns the status answered.
// Tests use it to forge deliveries. The request goes through an egress
// client allowing only rawURL's origin.
func Post(ctx context.Context, rawURL string, h http.Header, body []byte) (int, error) {
	rule, err := egress.RuleForURL(rawURL)
	if err != nil {
		return 0, err
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		return 0, err
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true, Timeout: 30 * time.Second})
	if err != nil {
		return 0, err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = slices.Clone(v)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TextUpdate is an Update with a text message in a private chat, laid out
// as Telegram sends it: TextUpdate(100000001, 42, 111111111, "Ann",
// "hello") is the fixture of §1.5 byte for byte.
func TextUpdate(updateID, messageID, userID int64, firstName, text string) []byte {
	return mustJSON(orderedUpdate{UpdateID: updateID, Message: orderedMessage{
		MessageID: messageID,
		From:      &orderedUser{ID: userID, IsBot: false, FirstName: firstName},
		Chat:      orderedChat{ID: userID, Type: "private", FirstName: firstName},
		Date:      1749416383,
		Text:      text,
	}})
}

// GroupUpdate is an Update with a text message in a supergroup. mention,
// when set, is the bot's @username, placed at the start of the text with
// its "mention" entity; replyToBot makes the message a reply to one of
// the bot's messages.
func GroupUpdate(updateID, messageID, chatID, userID int64, firstName, text, mention string, replyToBot *TelegramBot) []byte {
	m := orderedMessage{
		MessageID: messageID,
		From:      &orderedUser{ID: userID, IsBot: false, FirstName: firstName},
		Chat:      orderedChat{ID: chatID, Type: "supergroup", Title: "Group"},
		Date:      1749416383,
		Text:      text,
	}
	if mention != "" {
		m.Text = mention + " " + text
		m.Entities = []orderedEntity{{Offset: 0, Length: len(utf16.Encode([]rune(mention))), Type: "mention"}}
	}
	if replyToBot != nil {
		m.ReplyTo = &orderedMessage{MessageID: 7, From: &orderedUser{ID: replyToBot.ID, IsBot: true, FirstName: replyToBot.Username, Username: replyToBot.Username},
			Chat: m.Chat, Date: 1749416300, Text: "an earlier answer"}
	}
	return mustJSON(orderedUpdate{UpdateID: updateID, Message: m})
}

// The ordered types lay fields out in Telegram's order.
type orderedUpdate struct {
	UpdateID int64          `json:"update_id"`
	Message  orderedMessage `json:"message"`
}

type orderedMessage struct {
	MessageID int64           `json:"message_id"`
	From      *orderedUser    `json:"from,omitempty"`
	Chat      orderedChat     `json:"chat"`
	Date      int64           `json:"date"`
	ReplyTo   *orderedMessage `json:"reply_to_message,omitempty"`
	Text      string          `json:"text"`
	Entities  []orderedEntity `json:"entities,omitempty"`
}

type orderedUser struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

type orderedChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
}

type orderedEntity struct {
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Type   string `json:"type"`
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("channeltest: encoding a fixture: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
