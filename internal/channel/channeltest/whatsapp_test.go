package channeltest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
)

// The fixture of protocols.md §2.6: §2.3's example minified, 499 bytes,
// and its signature under TEST_APP_SECRET.
const (
	waFixture          = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}`
	waFixtureSignature = "sha256=964f50820adcc03228037724153dd41dcd72d72113a4659d63916721028e0c23"
	waToken            = "EAAGfakeWhatsAppAccessTokenForConformance0123"
)

// TestWhatsAppFakeSignsWithTheVectors: the fake's signatures are the test
// vectors of protocols.md §2.6, and its payload builder reproduces §2.3's
// example byte for byte.
func TestWhatsAppFakeSignsWithTheVectors(t *testing.T) {
	t.Parallel()
	if got := channeltest.SignWhatsApp("TEST_APP_SECRET", []byte("test")); got != "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221" {
		t.Fatalf("the official SDK's vector: %s", got)
	}
	if len(waFixture) != 499 {
		t.Fatalf("the fixture is %d bytes, want 499", len(waFixture))
	}
	if got := channeltest.SignWhatsApp("TEST_APP_SECRET", []byte(waFixture)); got != waFixtureSignature {
		t.Fatalf("the fixture's vector: %s", got)
	}
	got := channeltest.WhatsAppTextPayload(channeltest.WhatsAppText{WABAID: "102290129340398", PhoneNumberID: "106540352242922", Display: "15550783881",
		From: "16505551234", Name: "Sheena Nelson", ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
		Timestamp: time.Unix(1749416383, 0), Text: "Does it come in another color?"})
	if string(got) != waFixture {
		t.Fatalf("WhatsAppTextPayload =\n%s\nwant the fixture of protocols.md §2.3\n%s", got, waFixture)
	}
	// Meta escapes non-ASCII characters and / < % @ in what it signs and
	// sends (§2.2); the escaped form still decodes to the same text.
	text := "Grüße / <b> 50% @home 😀"
	esc := channeltest.WhatsAppTextPayload(channeltest.WhatsAppText{PhoneNumberID: "1", From: "2", ID: "wamid.x", Text: text})
	for _, want := range []string{`Gr\u00fc\u00dfe`, `\/`, `\u003cb>`, `50\u0025`, `\u0040home`, `\ud83d\ude00`} {
		if !bytes.Contains(esc, []byte(want)) {
			t.Errorf("the payload lacks %s: %s", want, esc)
		}
	}
	for _, b := range esc {
		if b >= 0x80 {
			t.Fatalf("the payload holds a non-ASCII byte: %s", esc)
		}
	}
	var decoded struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []struct {
						Text struct {
							Body string `json:"body"`
						} `json:"text"`
					} `json:"messages"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(esc, &decoded); err != nil || decoded.Entry[0].Changes[0].Value.Messages[0].Text.Body != text {
		t.Fatalf("the escaped payload does not decode to the text: %v %+v", err, decoded)
	}
	// A status callback has statuses and no messages array.
	st := channeltest.WhatsAppStatusPayload("102290129340398", "106540352242922", "15550783881", "wamid.abc", "16505551234", "delivered", time.Unix(1749416400, 0))
	if bytes.Contains(st, []byte(`"messages":`)) || !bytes.Contains(st, []byte(`"statuses":[{"id":"wamid.abc","status":"delivered","timestamp":"1749416400","recipient_id":"16505551234"`)) {
		t.Fatalf("status payload = %s", st)
	}
}

// graph calls the fake as a Graph API client would.
func graph(t *testing.T, method, url, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: the answer is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, out
}

// wantGraphError checks a Graph error object (§2.4).
func wantGraphError(t *testing.T, what string, status int, body map[string]any, wantStatus, wantCode int) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != float64(wantCode) || e["message"] == "" || e["type"] == nil || e["fbtrace_id"] == nil {
		t.Fatalf("%s = %d %v, want %d with error code %d", what, status, body, wantStatus, wantCode)
	}
}

// TestWhatsAppFakeKeepsTheWireFacts holds the Graph API side of the fake
// to protocols.md §2.4 and §2.5: the messages endpoint under the version
// and the phone number id with a bearer token, its body and success
// answer, the 4,096-character limit, Graph error objects, the rate-limit
// answer, and no deduplication.
func TestWhatsAppFakeKeepsTheWireFacts(t *testing.T) {
	t.Parallel()
	f := channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: "TEST_APP_SECRET"})
	f.AddNumber("106540352242922", "+1 555-078-3881", "Parcel Shop", waToken)
	if !strings.HasSuffix(f.URL, "/"+channeltest.WhatsAppVersion) {
		t.Fatalf("URL %s has no version", f.URL)
	}

	status, _, body := graph(t, http.MethodGet, f.URL+"/106540352242922?fields=display_phone_number,verified_name", waToken, "")
	if status != 200 || body["id"] != "106540352242922" || body["display_phone_number"] != "+1 555-078-3881" || body["verified_name"] != "Parcel Shop" || body["quality_rating"] != nil {
		t.Fatalf("phone number read = %d %v", status, body)
	}
	status, _, body = graph(t, http.MethodGet, f.URL+"/106540352242922", "EAAGwrongToken000000000000", "")
	wantGraphError(t, "read with a wrong token", status, body, 401, 190)
	status, _, body = graph(t, http.MethodGet, f.URL+"/999999", waToken, "")
	wantGraphError(t, "read of an unknown number", status, body, 400, 100)

	msg := func(to, text string) string {
		b, _ := json.Marshal(map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
			"text": map[string]any{"preview_url": false, "body": text}})
		return string(b)
	}
	status, _, body = graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("16505551234", "It comes in blue."))
	contacts, _ := body["contacts"].([]any)
	msgs, _ := body["messages"].([]any)
	if status != 200 || body["messaging_product"] != "whatsapp" || len(contacts) != 1 || len(msgs) != 1 ||
		!strings.HasPrefix(msgs[0].(map[string]any)["id"].(string), "wamid.") || contacts[0].(map[string]any)["wa_id"] != "16505551234" {
		t.Fatalf("send = %d %v", status, body)
	}
	status, _, body = graph(t, http.MethodPost, f.URL+"/106540352242922/messages", "", msg("16505551234", "x"))
	if status/100 != 4 || body["error"] == nil {
		t.Fatalf("send without a token = %d %v", status, body)
	}
	status, _, body = graph(t, http.MethodPost, f.URL+"/106540352242922/messages", "EAAGwrongToken000000000000", msg("16505551234", "x"))
	wantGraphError(t, "send with a wrong token", status, body, 401, 190)
	for _, c := range []struct{ to, text string }{{"16505551234", strings.Repeat("ä", 4097)}, {"16505551234", ""}, {"not a number", "x"}} {
		status, _, body := graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg(c.to, c.text))
		wantGraphError(t, "send of a bad message", status, body, 400, 100)
	}
	if status, _, body := graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("+16505551234", strings.Repeat("ä", 4096))); status != 200 {
		t.Fatalf("4,096 characters = %d %v", status, body)
	}

	f.Fail(channeltest.WhatsAppRateLimited(2), channeltest.WhatsAppPairRateLimited())
	status, h, body := graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("16505551234", "x"))
	wantGraphError(t, "over the throughput", status, body, 429, 130429)
	if h.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After = %q", h.Get("Retry-After"))
	}
	status, _, body = graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("16505551234", "x"))
	wantGraphError(t, "over the pair rate", status, body, 400, 131056)

	before := len(f.Sent())
	graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("16505551234", "twice"))
	graph(t, http.MethodPost, f.URL+"/106540352242922/messages", waToken, msg("16505551234", "twice"))
	sent := f.Sent()
	if len(sent) != before+2 || sent[len(sent)-1].Text != "twice" || sent[len(sent)-2].Text != "twice" || sent[len(sent)-1].To != "16505551234" ||
		sent[len(sent)-1].PhoneNumberID != "106540352242922" {
		t.Fatalf("sent = %+v", sent[before:])
	}
}

// TestWhatsAppFakeDeliversLikeMeta: subscribing makes the GET challenge
// of §2.1 and keeps the callback only when the challenge comes back;
// deliveries are POSTs with application/json, the body byte for byte and
// X-Hub-Signature-256 over it (§2.2).
func TestWhatsAppFakeDeliversLikeMeta(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, contentType, signature, query string
		body                                  []byte
	}
	var mu sync.Mutex
	var got []seen
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Hub-Signature-256"), r.URL.RawQuery, b})
		mu.Unlock()
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			if q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != "my-verify-token" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			_, _ = io.WriteString(w, q.Get("hub.challenge"))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()

	f := channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: "TEST_APP_SECRET"})
	if _, err := f.Deliver(t.Context(), []byte(waFixture)); err == nil {
		t.Fatal("delivered without a callback URL")
	}
	if status, err := f.Subscribe(t.Context(), hook.URL+"/hooks", "wrong-token"); err == nil || status != http.StatusForbidden || f.Callback().URL != "" {
		t.Fatalf("a refused challenge was kept: %d %v", status, err)
	}
	if _, err := f.Subscribe(t.Context(), hook.URL+"/hooks", "my-verify-token"); err != nil {
		t.Fatal(err)
	}
	if status, err := f.Deliver(t.Context(), []byte(waFixture)); err != nil || status != http.StatusOK {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("the callback received %d requests", len(got))
	}
	if g := got[1]; g.method != http.MethodGet || !strings.Contains(g.query, "hub.mode=subscribe") || !strings.Contains(g.query, "hub.challenge=") || len(g.body) != 0 {
		t.Fatalf("challenge = %+v", g)
	}
	if g := got[2]; g.method != http.MethodPost || g.contentType != "application/json" || g.signature != waFixtureSignature || string(g.body) != waFixture {
		t.Fatalf("delivery = %+v", g)
	}
}
