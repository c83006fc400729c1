package gatewayhttp_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/gatewayhttp"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// fakeService is a hand-written gateway.Service. By default it admits calls
// for one bot and token and refuses others as the gateway does, so that
// what crosses the wire is the gateway's own errors; the Func fields
// replace that behaviour.
type fakeService struct {
	CompleteFunc func(ctx context.Context, c gateway.Call) (llm.Response, error)
	StreamFunc   func(ctx context.Context, c gateway.Call, onDelta func(string) error) (llm.Response, error)
	calls        atomic.Int32
	mu           sync.Mutex
	last         gateway.Call
}

var _ gateway.Service = (*fakeService)(nil)

func (f *fakeService) record(c gateway.Call) {
	f.calls.Add(1)
	f.mu.Lock()
	f.last = c
	f.mu.Unlock()
}

func (f *fakeService) lastCall() gateway.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeService) Complete(ctx context.Context, c gateway.Call) (llm.Response, error) {
	f.record(c)
	return f.CompleteFunc(ctx, c)
}

func (f *fakeService) Stream(ctx context.Context, c gateway.Call, onDelta func(string) error) (llm.Response, error) {
	f.record(c)
	return f.StreamFunc(ctx, c, onDelta)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

type fixture struct {
	service *fakeService
	clock   *clock
	key     gatewayhttp.SigningKey
	srv     *httptest.Server
	bot     palisade.BotID
	token   secret.Secret
	other   secret.Secret // another bot's token
	bot2    palisade.BotID
	token2  secret.Secret // bot2's own token
	nonces  gateway.Nonces
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		service: &fakeService{},
		clock:   &clock{t: time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)},
		key:     gatewayhttp.SigningKey{ID: "k1", Key: secret.New("gateway-signing-key-0123456789abcdef")},
		bot:     palisade.NewBotID(),
		token:   secret.New("gwt_" + strings.Repeat("A", 43)),
		other:   secret.New("gwt_" + strings.Repeat("B", 43)),
		bot2:    palisade.NewBotID(),
		token2:  secret.New("gwt_" + strings.Repeat("C", 43)),
		nonces:  gateway.NewMemoryNonces(0),
	}
	// The fake admits each bot with its own token, as the gateway does.
	admit := func(c gateway.Call) error {
		want := map[palisade.BotID]secret.Secret{f.bot: f.token, f.bot2: f.token2}[c.BotID]
		if want.IsZero() || subtle.ConstantTimeCompare([]byte(c.Token.Reveal()), []byte(want.Reveal())) != 1 {
			return gateway.ErrUnauthorized
		}
		if utf8.RuneCountInString(c.Message) > gateway.MaxInboundChars {
			return gateway.ErrTooLong
		}
		return nil
	}
	answer := llm.Response{Text: "hello there", Model: "gpt-4o-mini", FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 30, OutputTokens: 20}}
	f.service.CompleteFunc = func(_ context.Context, c gateway.Call) (llm.Response, error) {
		if err := admit(c); err != nil {
			return llm.Response{}, err
		}
		return answer, nil
	}
	f.service.StreamFunc = func(_ context.Context, c gateway.Call, onDelta func(string) error) (llm.Response, error) {
		if err := admit(c); err != nil {
			return llm.Response{}, err
		}
		for _, d := range []string{"hello", " there"} {
			if err := onDelta(d); err != nil {
				return llm.Response{}, err
			}
		}
		return answer, nil
	}
	f.srv = f.server(t, f.nonces)
	return f
}

// server serves the fixture's gateway as one more process would, with its
// own memory of nonces or one it shares.
func (f *fixture) server(t *testing.T, nonces gateway.Nonces) *httptest.Server {
	t.Helper()
	h, err := gatewayhttp.NewHandler(f.service, gatewayhttp.HandlerOptions{Keys: []gatewayhttp.SigningKey{f.key}, Nonces: nonces, Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: nil}, h.Routes()))
	t.Cleanup(srv.Close)
	return srv
}

func (f *fixture) call(tok secret.Secret, msg string) gateway.Call {
	return gateway.Call{BotID: f.bot, Token: tok, Message: msg}
}

func code(err error) palisade.Code { return palisade.ErrorCode(err) }

func TestRemoteGateway(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	c := gatewayhttp.NewClient(f.srv.URL, f.key, f.srv.Client(), f.clock.now)
	full := f.call(f.token, "hi")
	full.History = []llm.Message{{Role: llm.RoleUser, Content: "earlier"}, {Role: llm.RoleAssistant, Content: "answer"}}
	full.Passages = []gateway.Passage{{Source: "Policy", Text: "Refunds in 14 days."}}
	resp, err := c.Complete(ctx, full)
	if err != nil || resp.Text != "hello there" || resp.Usage.OutputTokens != 20 {
		t.Fatalf("remote complete: %+v, %v", resp, err)
	}
	// The call's parts cross the wire as they are.
	if got := f.service.lastCall(); got.BotID != f.bot || got.Token.Reveal() != f.token.Reveal() || got.Message != "hi" ||
		!slices.Equal(got.History, full.History) || !slices.Equal(got.Passages, full.Passages) {
		t.Fatalf("the gateway got %+v", got)
	}
	var deltas []string
	resp, err = c.Stream(ctx, f.call(f.token, "hi"), func(d string) error { deltas = append(deltas, d); return nil })
	if err != nil || strings.Join(deltas, "") != "hello there" || resp.Text != "hello there" {
		t.Fatalf("remote stream: %v %+v %v", deltas, resp, err)
	}
	// Refusals cross the wire with their code, message and field, streamed
	// or not.
	if _, err := c.Complete(ctx, f.call(f.other, "hi")); code(err) != palisade.CodeUnauthorized {
		t.Fatalf("wrong bot token over the wire: %v", err)
	}
	if _, err := c.Stream(ctx, f.call(f.other, "hi"), func(string) error { return nil }); code(err) != palisade.CodeUnauthorized {
		t.Fatalf("wrong bot token over the wire, streaming: %v", err)
	}
	_, err = c.Complete(ctx, f.call(f.token, strings.Repeat("x", 4001)))
	var pe *palisade.Error
	if code(err) != palisade.CodeInvalid || !errors.As(err, &pe) || pe.Field != "message" || pe.Message != gateway.ErrTooLong.Message {
		t.Fatalf("long message over the wire: %v", err)
	}
	// Wrong key, unknown key id, stale clock: refused before the gateway runs.
	before := f.service.calls.Load()
	for name, cl := range map[string]*gatewayhttp.Client{
		"wrong key":      gatewayhttp.NewClient(f.srv.URL, gatewayhttp.SigningKey{ID: "k1", Key: secret.New("another-key-another-key-another-key!")}, f.srv.Client(), f.clock.now),
		"unknown key id": gatewayhttp.NewClient(f.srv.URL, gatewayhttp.SigningKey{ID: "k2", Key: f.key.Key}, f.srv.Client(), f.clock.now),
		"stale":          gatewayhttp.NewClient(f.srv.URL, f.key, f.srv.Client(), func() time.Time { return f.clock.now().Add(-2 * time.Minute) }),
		"future":         gatewayhttp.NewClient(f.srv.URL, f.key, f.srv.Client(), func() time.Time { return f.clock.now().Add(2 * time.Minute) }),
	} {
		if _, err := cl.Complete(ctx, f.call(f.token, "hi")); code(err) != palisade.CodeUnauthorized {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := cl.Stream(ctx, f.call(f.token, "hi"), func(string) error { return nil }); code(err) != palisade.CodeUnauthorized {
			t.Errorf("%s, streaming: %v", name, err)
		}
	}
	if f.service.calls.Load() != before {
		t.Fatal("an unsigned call reached the gateway")
	}
}

// TestRemoteReplayRefused captures one signed request and sends it twice.
func TestRemoteReplayRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var captured *http.Request
	var body []byte
	rec := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		captured = r.Clone(r.Context())
		body = mustRead(t, r)
		r2 := r.Clone(r.Context())
		r2.Body = newBody(body)
		return f.srv.Client().Transport.RoundTrip(r2)
	})}
	c := gatewayhttp.NewClient(f.srv.URL, f.key, rec, f.clock.now)
	if _, err := c.Complete(t.Context(), f.call(f.token, "hi")); err != nil {
		t.Fatal(err)
	}
	before := f.service.calls.Load()
	replay := captured.Clone(context.Background())
	replay.Body = newBody(body)
	replay.RequestURI = ""
	resp, err := f.srv.Client().Transport.RoundTrip(replay)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed call: %d", resp.StatusCode)
	}
	// A tampered body under the captured signature is refused too.
	tampered := captured.Clone(context.Background())
	tampered.Body = newBody([]byte(strings.Replace(string(body), "hi", "ho", 1)))
	tampered.Header.Set("X-Palisade-Nonce", strings.Repeat("ab", 16))
	resp, err = f.srv.Client().Transport.RoundTrip(tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("tampered call: %d", resp.StatusCode)
	}
	if f.service.calls.Load() != before {
		t.Fatal("a replayed or tampered call reached the gateway")
	}
}

// TestStreamErrorIsPublic: once the gateway has streamed some text, a
// failure can only be an "error" event, and that event carries no more
// than an error response would: an internal error's own text stays in the
// gateway role's log.
func TestStreamErrorIsPublic(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const internalText = "usage ledger shard-7 rejected the write; dsn=postgres://runtime@db-3"
	f.service.StreamFunc = func(_ context.Context, _ gateway.Call, onDelta func(string) error) (llm.Response, error) {
		if err := onDelta("Partial "); err != nil {
			return llm.Response{}, err
		}
		return llm.Response{}, palisade.WrapError(errors.New("connection reset"), palisade.CodeInternal, internalText)
	}
	var raw bytes.Buffer
	tee := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := f.srv.Client().Transport.RoundTrip(r)
		if err == nil {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(resp.Body, &raw), resp.Body}
		}
		return resp, err
	})}
	c := gatewayhttp.NewClient(f.srv.URL, f.key, tee, f.clock.now)
	var deltas []string
	_, err := c.Stream(t.Context(), f.call(f.token, "hi"), func(d string) error { deltas = append(deltas, d); return nil })
	if code(err) != palisade.CodeInternal || palisade.ErrorMessage(err) != "internal error" || strings.Join(deltas, "") != "Partial " {
		t.Fatalf("client saw %v after %q", err, deltas)
	}
	for _, leak := range []string{"shard-7", "ledger", "postgres://", "connection reset"} {
		if strings.Contains(raw.String(), leak) || strings.Contains(err.Error(), leak) {
			t.Fatalf("%q crossed the wire: %s / %v", leak, raw.String(), err)
		}
	}
	r := sse.NewReader(bytes.NewReader(raw.Bytes()), 0, 0)
	var last sse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		ErrorID string `json:"error_id"`
	}
	if last.Type != "error" || json.Unmarshal([]byte(last.Data), &e) != nil {
		t.Fatalf("last event %+v in %s", last, raw.String())
	}
	if e.Code != "internal" || e.Message != "internal error" || !strings.HasPrefix(e.ErrorID, "err_") {
		t.Fatalf("error event = %s", last.Data)
	}
	// The gateway's error id travels into this side's error, for the log.
	if !strings.Contains(err.Error(), e.ErrorID) {
		t.Fatalf("client error %v does not name the gateway's error id %s", err, e.ErrorID)
	}
}
