package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Between processes every call is signed as well as carrying the bot's
// token: HMAC-SHA256 under a shared key, named by a key id, over the method,
// path, time, a nonce and the body's hash. A signature is good for
// SignatureWindow either side of the gateway's clock, and each nonce is
// accepted once, so a captured request cannot be replayed.
const (
	SignatureWindow = 60 * time.Second
	PathComplete    = "/gateway/v1/complete"

	headerKeyID     = "X-Palisade-Key-Id"
	headerTimestamp = "X-Palisade-Timestamp"
	headerNonce     = "X-Palisade-Nonce"
	headerSignature = "X-Palisade-Signature"
	headerBot       = "X-Palisade-Bot-Id"
	maxCallBody     = 1 << 20
)

// SigningKey is one shared key for signing calls.
type SigningKey struct {
	ID  string
	Key secret.Secret // at least 32 bytes
}

func signature(key secret.Secret, method, path, ts, nonce string, body []byte) string {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	fmt.Fprintf(m, "v1\n%s\n%s\n%s\n%s\n%s", method, path, ts, nonce, hex.EncodeToString(bh[:]))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

type wireRequest struct {
	Stream      bool          `json:"stream"`
	Inbound     string        `json:"inbound,omitempty"`
	Model       string        `json:"model"`
	System      string        `json:"system"`
	Messages    []wireMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature *float64      `json:"temperature,omitempty"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type wireResponse struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
	Model        string `json:"model"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

type wireError struct {
	Code    palisade.Code `json:"code"`
	Message string        `json:"message"`
}

// nonces remembers the nonces seen within the signature window.
type nonces struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

func (n *nonces) add(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.seen) >= n.max/2 {
		for k, t := range n.seen {
			if now.Sub(t) > 2*SignatureWindow {
				delete(n.seen, k)
			}
		}
	}
	if _, dup := n.seen[nonce]; dup || len(n.seen) >= n.max {
		return false
	}
	n.seen[nonce] = now
	return true
}

// Handler serves a Gateway to other processes.
type Handler struct {
	g      Service
	keys   map[string]secret.Secret
	now    func() time.Time
	nonces *nonces
}

// NewHandler serves g, accepting calls signed with any of keys.
func NewHandler(g Service, keys []SigningKey, now func() time.Time) *Handler {
	h := &Handler{g: g, keys: map[string]secret.Secret{}, now: now, nonces: &nonces{seen: map[string]time.Time{}, max: 1 << 20}}
	if h.now == nil {
		h.now = time.Now
	}
	for _, k := range keys {
		h.keys[k.ID] = k.Key
	}
	return h
}

var errSignature = palisade.Errorf(palisade.CodeUnauthorized, "the call's signature is missing, wrong, stale or replayed")

// Routes returns the gateway role's handler (already behind no edge: mount
// it on a surface that has one).
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+PathComplete, httpx.HandlerFunc(h.complete))
	return httpx.Mux(mux)
}

// verify checks the signature before the body is parsed.
func (h *Handler) verify(r *http.Request, body []byte) error {
	key, ok := h.keys[r.Header.Get(headerKeyID)]
	ts, nonce, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce), r.Header.Get(headerSignature)
	if !ok || len(nonce) != 32 || sig == "" {
		return errSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errSignature
	}
	now := h.now()
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return errSignature
	}
	want := signature(key, r.Method, r.URL.EscapedPath(), ts, nonce, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignature
	}
	// Only a correctly signed nonce is remembered, so forgeries cannot fill
	// the cache.
	if !h.nonces.add(nonce, now) {
		return errSignature
	}
	return nil
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallBody+1))
	if err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "the request body could not be read")
	}
	if len(body) > maxCallBody {
		return palisade.Errorf(palisade.CodeTooLarge, "the call is too large")
	}
	if err := h.verify(r, body); err != nil {
		return err
	}
	var wr wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wr); err != nil {
		return palisade.Errorf(palisade.CodeInvalid, "the call is not valid JSON")
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ErrUnauthorized
	}
	c := Call{BotID: palisade.BotID(r.Header.Get(headerBot)), Token: secret.New(bearer), Inbound: wr.Inbound, Request: llm.Request{
		Model: wr.Model, System: wr.System, MaxTokens: wr.MaxTokens, Temperature: wr.Temperature}}
	for _, m := range wr.Messages {
		c.Request.Messages = append(c.Request.Messages, llm.Message{Role: m.Role, Content: m.Content})
	}
	w.Header().Set("Cache-Control", "no-store")
	if !wr.Stream {
		resp, err := h.g.Complete(r.Context(), c)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(toWire(resp))
	}
	rc := http.NewResponseController(w)
	started := false
	resp, err := h.g.Stream(r.Context(), c, func(d string) error {
		if !started {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := writeEvent(w, "delta", map[string]string{"text": d}); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && !started {
		return err
	}
	if !started {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	if err != nil {
		return writeEvent(w, "error", wireError{Code: palisade.ErrorCode(err), Message: palisade.ErrorMessage(err)})
	}
	return writeEvent(w, "done", toWire(resp))
}

func toWire(r llm.Response) wireResponse {
	return wireResponse{Text: r.Text, FinishReason: r.FinishReason, Model: r.Model, InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens}
}

func fromWire(w wireResponse) llm.Response {
	return llm.Response{Text: w.Text, FinishReason: w.FinishReason, Model: w.Model, Usage: llm.Usage{InputTokens: w.InputTokens, OutputTokens: w.OutputTokens}}
}

func writeEvent(w io.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}

// Client calls a remote gateway; it implements Service.
type Client struct {
	base string
	key  SigningKey
	http *http.Client
	now  func() time.Time
}

var _ Service = (*Client)(nil)
var _ Service = (*Gateway)(nil)

// NewClient calls the gateway at base (e.g. http://gateway:8081). hc must
// have time-outs; the gateway is an internal service, reached directly.
func NewClient(base string, key SigningKey, hc *http.Client, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	return &Client{base: strings.TrimRight(base, "/"), key: key, http: hc, now: now}
}

func (c *Client) Complete(ctx context.Context, call Call) (llm.Response, error) {
	return c.do(ctx, call, false, nil)
}

func (c *Client) Stream(ctx context.Context, call Call, onDelta func(string) error) (llm.Response, error) {
	return c.do(ctx, call, true, onDelta)
}

func (c *Client) do(ctx context.Context, call Call, stream bool, onDelta func(string) error) (llm.Response, error) {
	wr := wireRequest{Stream: stream, Inbound: call.Inbound, Model: call.Request.Model, System: call.Request.System, MaxTokens: call.Request.MaxTokens, Temperature: call.Request.Temperature}
	for _, m := range call.Request.Messages {
		wr.Messages = append(wr.Messages, wireMessage{Role: m.Role, Content: m.Content})
	}
	body, err := json.Marshal(wr)
	if err != nil {
		return llm.Response{}, fmt.Errorf("gateway client: encoding call: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+PathComplete, bytes.NewReader(body))
	if err != nil {
		return llm.Response{}, fmt.Errorf("gateway client: building request: %w", err)
	}
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	nonce, ts := hex.EncodeToString(nb[:]), strconv.FormatInt(c.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+call.Token.Reveal())
	req.Header.Set(headerBot, string(call.BotID))
	req.Header.Set(headerKeyID, c.key.ID)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerNonce, nonce)
	req.Header.Set(headerSignature, signature(c.key.Key, http.MethodPost, req.URL.EscapedPath(), ts, nonce, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return llm.Response{}, readError(resp)
	}
	if !stream {
		var w wireResponse
		if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&w); err != nil {
			return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
		}
		return fromWire(w), nil
	}
	return readStream(resp.Body, onDelta)
}

func readError(resp *http.Response) error {
	var body struct {
		Error wireError `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.Error.Code == "" {
		return palisade.Errorf(palisade.CodeUnavailable, "%s", ErrProvider.Message)
	}
	return palisade.Errorf(body.Error.Code, "%s", body.Error.Message)
}

func readStream(r io.Reader, onDelta func(string) error) (llm.Response, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch event {
			case "delta":
				var d struct {
					Text string `json:"text"`
				}
				if err := json.Unmarshal(data, &d); err != nil {
					return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
				}
				if onDelta != nil {
					if err := onDelta(d.Text); err != nil {
						return llm.Response{}, err
					}
				}
			case "done":
				var w wireResponse
				if err := json.Unmarshal(data, &w); err != nil {
					return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
				}
				return fromWire(w), nil
			case "error":
				var e wireError
				if err := json.Unmarshal(data, &e); err != nil || e.Code == "" {
					return llm.Response{}, palisade.Errorf(palisade.CodeUnavailable, "%s", ErrProvider.Message)
				}
				return llm.Response{}, palisade.Errorf(e.Code, "%s", e.Message)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return llm.Response{}, palisade.WrapError(err, palisade.CodeUnavailable, ErrProvider.Message)
	}
	return llm.Response{}, palisade.WrapError(errors.New("gateway stream ended early"), palisade.CodeUnavailable, ErrProvider.Message)
}
