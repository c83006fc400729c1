package channeltest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/egress"
)

// WhatsAppVersion is the Graph API version the fake serves under
// (protocols.md §2.4 shows v26.0); any vNN.N is answered.
const WhatsAppVersion = "v26.0"

// WhatsAppOptions configure a fake WhatsApp Cloud API.
type WhatsAppOptions struct {
	// AppSecret is the Meta app's secret: it signs every delivery.
	AppSecret string
}

// WhatsApp is a fake Meta Graph API serving the WhatsApp Cloud API
// (protocols.md §2): the phone number node, the messages endpoint, and
// the app's webhook subscription, which it checks with the GET challenge
// and delivers to, signed, as Meta does.
type WhatsApp struct {
	// URL is the Graph API base with its version, to configure as the
	// adapter's base URL.
	URL string
	// Root is the server's address without the version.
	Root string

	opts WhatsAppOptions
	srv  *httptest.Server

	mu       sync.Mutex
	numbers  map[string]*WhatsAppNumber // by phone number id
	callback WhatsAppCallback
	calls    []WhatsAppCall
	sent     []WhatsAppSent
	failures []WhatsAppFailure
	down     bool
}

// WhatsAppNumber is a business phone number the fake knows, with the
// access token allowed to use it.
type WhatsAppNumber struct {
	ID           string
	Display      string
	VerifiedName string
	AccessToken  string
}

// WhatsAppCallback is the app's webhook as the App Dashboard sets it.
type WhatsAppCallback struct {
	URL         string
	VerifyToken string
}

// WhatsAppCall is one Graph API request the fake answered.
type WhatsAppCall struct {
	Method string
	// Path is the path after the version ("/106540352242922/messages").
	Path string
	// Authorized: the bearer token was one the fake knows for the
	// number.
	Authorized bool
	At         time.Time
}

// WhatsAppSent is one message the messages endpoint accepted.
type WhatsAppSent struct {
	PhoneNumberID string
	To            string
	Text          string
	PreviewURL    bool
	RecipientType string
	// ContextID is context.message_id, when the reply quotes a message.
	ContextID string
	ID        string
	At        time.Time
}

// WhatsAppFailure is an answer the fake gives instead of the next
// messages calls' success: a Graph error object.
type WhatsAppFailure struct {
	Status  int
	Code    int
	Subcode int
	Type    string
	Message string
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter int
}

// WhatsAppRateLimited is the throughput limit's answer (error 130429)
// with HTTP 429 and, when retryAfter is positive, a Retry-After header.
func WhatsAppRateLimited(retryAfter int) WhatsAppFailure {
	return WhatsAppFailure{Status: http.StatusTooManyRequests, Code: 130429, Type: "OAuthException",
		Message: "(#130429) Rate limit hit", RetryAfter: retryAfter}
}

// WhatsAppPairRateLimited is the pair rate limit's answer (error 131056:
// too many messages to one user).
func WhatsAppPairRateLimited() WhatsAppFailure {
	return WhatsAppFailure{Status: http.StatusBadRequest, Code: 131056, Type: "OAuthException",
		Message: "(#131056) (Business Account, Consumer Account) pair rate limit hit"}
}

// WhatsAppWindowClosed is the answer to a free-form message outside the
// 24-hour customer-service window (error 131047).
func WhatsAppWindowClosed() WhatsAppFailure {
	return WhatsAppFailure{Status: http.StatusBadRequest, Code: 131047, Type: "OAuthException",
		Message: "(#131047) Re-engagement message"}
}

// NewWhatsApp starts a fake WhatsApp Cloud API on loopback, stopped when
// the test ends.
func NewWhatsApp(tb testing.TB, o WhatsAppOptions) *WhatsApp {
	tb.Helper()
	if o.AppSecret == "" {
		o.AppSecret = "fake-app-secret-0123456789abcdef"
	}
	f := &WhatsApp{opts: o, numbers: map[string]*WhatsAppNumber{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.Root = f.srv.URL
	f.URL = f.srv.URL + "/" + WhatsAppVersion
	tb.Cleanup(f.srv.Close)
	return f
}

// AppSecret is the app secret deliveries are signed with.
func (f *WhatsApp) AppSecret() string { return f.opts.AppSecret }

// AddNumber registers a business phone number usable with accessToken.
func (f *WhatsApp) AddNumber(id, display, verifiedName, accessToken string) *WhatsAppNumber {
	n := &WhatsAppNumber{ID: id, Display: display, VerifiedName: verifiedName, AccessToken: accessToken}
	f.mu.Lock()
	f.numbers[id] = n
	f.mu.Unlock()
	return n
}

// Fail makes the next messages calls fail, one failure each, in order.
func (f *WhatsApp) Fail(fs ...WhatsAppFailure) {
	f.mu.Lock()
	f.failures = append(f.failures, fs...)
	f.mu.Unlock()
}

// SetDown makes every Graph API call answer 502 with an HTML page, as a
// proxy in front of a server in trouble does, until SetDown(false). The
// calls are still recorded.
func (f *WhatsApp) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// Calls returns the requests answered so far.
func (f *WhatsApp) Calls() []WhatsAppCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// MessageCalls returns the calls of the messages endpoint.
func (f *WhatsApp) MessageCalls() []WhatsAppCall {
	var out []WhatsAppCall
	for _, c := range f.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/messages") {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the messages sent so far, in order.
func (f *WhatsApp) Sent() []WhatsAppSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// WaitSent waits until at least n messages were sent and returns them.
func (f *WhatsApp) WaitSent(tb testing.TB, n int, timeout time.Duration) []WhatsAppSent {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := f.Sent()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the fake WhatsApp received %d messages, want %d", len(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// graphError writes a Graph API error object (§2.4).
func graphError(w http.ResponseWriter, status, code, subcode int, typ, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"message": message, "type": typ, "code": code, "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUvW"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

var graphPathRE = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/[0-9]+)(/messages)?$`)

func (f *WhatsApp) serve(w http.ResponseWriter, r *http.Request) {
	m := graphPathRE.FindStringSubmatch(r.URL.Path)
	f.mu.Lock()
	down := f.down
	call := WhatsAppCall{Method: r.Method, Path: r.URL.Path, At: time.Now()}
	if m != nil {
		call.Path = m[1] + m[2]
	}
	var num *WhatsAppNumber
	if m != nil {
		num = f.numbers[m[1][1:]]
	}
	auth, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	call.Authorized = hasBearer && num != nil && hmac.Equal([]byte(auth), []byte(num.AccessToken))
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>")
		return
	}
	if m == nil || (r.Method != http.MethodGet && r.Method != http.MethodPost) || (m[2] == "" && r.Method != http.MethodGet) || (m[2] != "" && r.Method != http.MethodPost) {
		graphError(w, http.StatusBadRequest, 100, 0, "GraphMethodException", "Unsupported request - method type: "+strings.ToLower(r.Method))
		return
	}
	if !hasBearer || auth == "" {
		graphError(w, http.StatusBadRequest, 2500, 0, "OAuthException", "An active access token must be used to query information about the current user.")
		return
	}
	if num == nil {
		if f.knownToken(auth) {
			graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
				"Unsupported "+strings.ToLower(r.Method)+" request. Object with ID '"+m[1][1:]+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
			return
		}
		graphError(w, http.StatusUnauthorized, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	}
	if !call.Authorized {
		graphError(w, http.StatusUnauthorized, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	}
	if r.Method == http.MethodGet {
		f.readNumber(w, r, num)
		return
	}
	f.sendMessage(w, r, num)
}

func (f *WhatsApp) knownToken(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.numbers {
		if hmac.Equal([]byte(tok), []byte(n.AccessToken)) {
			return true
		}
	}
	return false
}

// readNumber answers GET /{phone-number-id} with the fields asked for
// (all of them when none are), and the id.
func (f *WhatsApp) readNumber(w http.ResponseWriter, r *http.Request, n *WhatsAppNumber) {
	all := map[string]any{"verified_name": n.VerifiedName, "code_verification_status": "VERIFIED", "display_phone_number": n.Display,
		"quality_rating": "GREEN", "platform_type": "CLOUD_API", "throughput": map[string]any{"level": "STANDARD"}}
	out := map[string]any{"id": n.ID}
	fields := r.URL.Query().Get("fields")
	if fields == "" {
		for k, v := range all {
			out[k] = v
		}
	}
	for _, k := range strings.Split(fields, ",") {
		if k == "" {
			continue
		}
		v, ok := all[k]
		if !ok {
			graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Tried accessing nonexisting field ("+k+") on node type (WhatsAppBusinessPhoneNumber)")
			return
		}
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

var waIDRE = regexp.MustCompile(`^\+?[0-9]{1,32}$`)

func (f *WhatsApp) sendMessage(w http.ResponseWriter, r *http.Request, n *WhatsAppNumber) {
	f.mu.Lock()
	var failure *WhatsAppFailure
	if len(f.failures) > 0 {
		failure = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()
	if failure != nil {
		if failure.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(failure.RetryAfter))
		}
		graphError(w, failure.Status, failure.Code, failure.Subcode, failure.Type, failure.Message)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter messaging_product is required.")
		return
	}
	var body struct {
		MessagingProduct string `json:"messaging_product"`
		RecipientType    string `json:"recipient_type"`
		To               string `json:"to"`
		Type             string `json:"type"`
		Text             *struct {
			PreviewURL bool   `json:"preview_url"`
			Body       string `json:"body"`
		} `json:"text"`
		Context *struct {
			MessageID string `json:"message_id"`
		} `json:"context"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Param is not a valid JSON object")
		return
	}
	switch {
	case body.MessagingProduct != "whatsapp":
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter messaging_product is required.")
	case !waIDRE.MatchString(body.To):
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Invalid parameter")
	case body.RecipientType != "" && body.RecipientType != "individual":
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Invalid parameter")
	case body.Type != "text" || body.Text == nil || strings.TrimSpace(body.Text.Body) == "":
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter text['body'] is required.")
	case utf8.RuneCountInString(body.Text.Body) > 4096:
		graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Param text['body'] must be at most 4096 characters long.")
	default:
		id := newWamid()
		s := WhatsAppSent{PhoneNumberID: n.ID, To: strings.TrimPrefix(body.To, "+"), Text: body.Text.Body, PreviewURL: body.Text.PreviewURL,
			RecipientType: body.RecipientType, ID: id, At: time.Now()}
		if body.Context != nil {
			s.ContextID = body.Context.MessageID
		}
		f.mu.Lock()
		f.sent = append(f.sent, s)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"messaging_product": "whatsapp", "contacts": []any{map[string]any{"input": body.To, "wa_id": s.To}},
			"messages": []any{map[string]any{"id": id}}})
	}
}

func newWamid() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "wamid." + base64.StdEncoding.EncodeToString(b[:])
}

// SignWhatsApp is the X-Hub-Signature-256 value Meta sends with body:
// sha256= and the lowercase hex HMAC-SHA256 of the raw bytes under the
// app secret (§2.2).
func SignWhatsApp(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Subscribe sets the app's callback URL and verify token as the App
// Dashboard does: Meta first calls the URL with the GET challenge
// (§2.1) and keeps the setting only if the answer is 200 with the
// challenge as the body. It returns the status the callback answered.
func (f *WhatsApp) Subscribe(ctx context.Context, callbackURL, verifyToken string) (int, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	challenge := strconv.FormatUint(uint64(b[0])<<24|uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3]), 10)
	status, body, err := Challenge(ctx, callbackURL, verifyToken, challenge)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || body != challenge {
		return status, fmt.Errorf("channeltest: the callback URL could not be validated: it answered %d", status)
	}
	f.mu.Lock()
	f.callback = WhatsAppCallback{URL: callbackURL, VerifyToken: verifyToken}
	f.mu.Unlock()
	return status, nil
}

// Callback returns the app's callback as Subscribe set it.
func (f *WhatsApp) Callback() WhatsAppCallback {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callback
}

// Challenge makes Meta's verification request (§2.1) to callbackURL and
// returns the status and body answered. The request goes through an
// egress client allowing only the callback's origin.
func Challenge(ctx context.Context, callbackURL, verifyToken, challenge string) (int, string, error) {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return 0, "", err
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.challenge", challenge)
	q.Set("hub.verify_token", verifyToken)
	u.RawQuery = q.Encode()
	client, err := loopbackClient(callbackURL)
	if err != nil {
		return 0, "", err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), nil
}

func loopbackClient(rawURL string) (*egress.Client, error) {
	rule, err := egress.RuleForURL(rawURL)
	if err != nil {
		return nil, err
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		return nil, err
	}
	return egress.New(policy, egress.Options{UnsafeAllowLoopback: true, Timeout: 30 * time.Second})
}

// Deliver posts a notification to the app's callback URL as Meta does
// (§2.2): POST, Content-Type application/json, the body byte for byte,
// and X-Hub-Signature-256 over it with the app secret. It returns the
// status the webhook answered.
func (f *WhatsApp) Deliver(ctx context.Context, body []byte) (int, error) {
	cb := f.Callback()
	if cb.URL == "" {
		return 0, errors.New("channeltest: the app has no callback URL")
	}
	h := http.Header{}
	h.Set("X-Hub-Signature-256", SignWhatsApp(f.opts.AppSecret, body))
	h.Set("User-Agent", "facebookexternalua")
	return Post(ctx, cb.URL, h, body)
}

// WhatsAppText describes an inbound text message.
type WhatsAppText struct {
	// WABAID is the WhatsApp Business Account id (entry[].id).
	WABAID        string
	PhoneNumberID string
	Display       string
	// From is the user's wa_id; Name their profile name.
	From string
	Name string
	// ID is the message id (wamid).
	ID string
	// Timestamp is the message's time (default now).
	Timestamp time.Time
	Text      string
}

// WhatsAppTextPayload is an event notification with one text message,
// laid out and escaped as Meta sends it: with the values of protocols.md
// §2.3 it is that section's example, minified, byte for byte.
func WhatsAppTextPayload(m WhatsAppText) []byte {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	return metaJSON(orderedNotification{Object: "whatsapp_business_account", Entry: []orderedEntry{{ID: m.WABAID, Changes: []orderedChange{{
		Value: orderedValue{
			MessagingProduct: "whatsapp",
			Metadata:         orderedMetadata{DisplayPhoneNumber: m.Display, PhoneNumberID: m.PhoneNumberID},
			Contacts:         []orderedContact{{Profile: orderedProfile{Name: m.Name}, WaID: m.From}},
			Messages: []orderedWAMessage{{From: m.From, ID: m.ID, Timestamp: strconv.FormatInt(ts.Unix(), 10), Type: "text",
				Text: &orderedText{Body: m.Text}}},
		},
		Field: "messages",
	}}}}})
}

// WhatsAppStatusPayload is a status callback (§2.2): the message id sent
// to recipient reached status (sent, delivered, read, failed); it has no
// messages array.
func WhatsAppStatusPayload(wabaID, phoneNumberID, display, messageID, recipient, status string, at time.Time) []byte {
	return metaJSON(orderedNotification{Object: "whatsapp_business_account", Entry: []orderedEntry{{ID: wabaID, Changes: []orderedChange{{
		Value: orderedValue{
			MessagingProduct: "whatsapp",
			Metadata:         orderedMetadata{DisplayPhoneNumber: display, PhoneNumberID: phoneNumberID},
			Statuses: []orderedStatus{{ID: messageID, Status: status, Timestamp: strconv.FormatInt(at.Unix(), 10), RecipientID: recipient,
				Pricing: &orderedPricing{Billable: true, PricingModel: "PMP", Category: "service"}}},
		},
		Field: "messages",
	}}}}})
}

// The ordered types lay fields out in Meta's order.
type orderedNotification struct {
	Object string         `json:"object"`
	Entry  []orderedEntry `json:"entry"`
}

type orderedEntry struct {
	ID      string          `json:"id"`
	Changes []orderedChange `json:"changes"`
}

type orderedChange struct {
	Value orderedValue `json:"value"`
	Field string       `json:"field"`
}

type orderedValue struct {
	MessagingProduct string             `json:"messaging_product"`
	Metadata         orderedMetadata    `json:"metadata"`
	Contacts         []orderedContact   `json:"contacts,omitempty"`
	Messages         []orderedWAMessage `json:"messages,omitempty"`
	Statuses         []orderedStatus    `json:"statuses,omitempty"`
}

type orderedMetadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

type orderedContact struct {
	Profile orderedProfile `json:"profile"`
	WaID    string         `json:"wa_id"`
}

type orderedProfile struct {
	Name string `json:"name"`
}

type orderedWAMessage struct {
	From      string       `json:"from"`
	ID        string       `json:"id"`
	Timestamp string       `json:"timestamp"`
	Type      string       `json:"type"`
	Text      *orderedText `json:"text,omitempty"`
}

type orderedText struct {
	Body string `json:"body"`
}

type orderedStatus struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Timestamp   string          `json:"timestamp"`
	RecipientID string          `json:"recipient_id"`
	Pricing     *orderedPricing `json:"pricing,omitempty"`
}

type orderedPricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
}

// metaJSON encodes v minified and escaped as Meta signs and sends it
// (§2.2): every non-ASCII character as \uXXXX (a surrogate pair beyond
// the Basic Multilingual Plane), and "/" as \/, "<", "%" and "@" as \u
// escapes. Those characters occur only inside strings in JSON, so the
// escaping can run over the whole text.
func metaJSON(v any) []byte {
	plain := mustJSON(v)
	var b bytes.Buffer
	for _, r := range string(plain) {
		switch {
		case r == '/':
			b.WriteString(`\/`)
		case r == '<' || r == '%' || r == '@':
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		}
	}
	return b.Bytes()
}
