package gatewayhttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sse"
)

// Doer sends one HTTP request. In production it is the *egress.Client that
// egress.Client.ForInternalService makes for the configured gateway URL;
// tests pass the *http.Client of an httptest server.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Client calls a remote gateway; it implements gateway.Service.
type Client struct {
	base string
	key  SigningKey
	http Doer
	now  func() time.Time
}

var _ gateway.Service = (*Client)(nil)

// NewClient calls the gateway at base (e.g. http://gateway:8081) through hc,
// signing every call with key.
func NewClient(base string, key SigningKey, hc Doer, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	return &Client{base: strings.TrimRight(base, "/"), key: key, http: hc, now: now}
}

// Complete answers a call in one piece.
func (c *Client) Complete(ctx context.Context, call gateway.Call) (llm.Response, error) {
	return c.do(ctx, call, false, nil)
}

// Stream answers a call piece by piece.
func (c *Client) Stream(ctx context.Context, call gateway.Call, onDelta func(string) error) (llm.Response, error) {
	return c.do(ctx, call, true, onDelta)
}

func (c *Client) do(ctx context.Context, call gateway.Call, stream bool, onDelta func(string) error) (llm.Response, error) {
	wr := wireRequest{Stream: stream, Message: call.Message}
	for _, m := range call.History {
		wr.History = append(wr.History, wireMessage{Role: m.Role, Content: m.Content})
	}
	for _, p := range call.Passages {
		wr.Passages = append(wr.Passages, wirePassage{Source: p.Source, Text: p.Text})
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
	if id := httpx.RequestIDFrom(ctx); httpx.ValidRequestID(id) {
		req.Header.Set(HeaderOriginRequestID, id)
	}
	req.Header.Set(headerSignature, signature(c.key.Key, http.MethodPost, req.URL.EscapedPath(), ts, nonce, call.BotID, call.Token, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return llm.Response{}, unavailable(fmt.Errorf("gateway client: sending call: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return llm.Response{}, readError(resp)
	}
	if !stream {
		var w wireResponse
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBody)).Decode(&w); err != nil {
			return llm.Response{}, unavailable(fmt.Errorf("gateway client: decoding answer: %w", err))
		}
		return fromWire(w), nil
	}
	return readStream(resp.Body, onDelta)
}

// unavailable is how the client reports a gateway it could not use: as the
// gateway reports a provider it could not use.
func unavailable(cause error) error {
	return palisade.WrapError(cause, palisade.CodeUnavailable, gateway.ErrProvider.Message)
}

// err turns what the gateway sent back into a palisade error with the same
// code, message and field. The gateway's error id goes into the cause, so
// this side's log line leads to the gateway's.
func (e wireError) err() error {
	if e.Code == "" {
		return unavailable(errors.New("gateway client: the gateway's error has no code"))
	}
	pe := &palisade.Error{Code: e.Code, Message: e.Message, Field: e.Field}
	if e.ErrorID != "" {
		return fmt.Errorf("gateway role error id %s: %w", e.ErrorID, pe)
	}
	return pe
}

func readError(resp *http.Response) error {
	var body struct {
		Error wireError `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body); err != nil {
		return unavailable(fmt.Errorf("gateway client: status %d without an error body: %w", resp.StatusCode, err))
	}
	return body.Error.err()
}

func readStream(r io.Reader, onDelta func(string) error) (llm.Response, error) {
	events := sse.NewReader(r, 0, 0)
	for {
		ev, err := events.Next()
		if errors.Is(err, io.EOF) {
			return llm.Response{}, unavailable(errors.New("gateway client: the stream ended without done or error"))
		}
		if err != nil {
			return llm.Response{}, unavailable(fmt.Errorf("gateway client: reading the stream: %w", err))
		}
		switch ev.Type {
		case "delta":
			var d wireDelta
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				return llm.Response{}, unavailable(fmt.Errorf("gateway client: decoding a delta: %w", err))
			}
			if onDelta != nil {
				if err := onDelta(d.Text); err != nil {
					return llm.Response{}, err
				}
			}
		case "done":
			var w wireResponse
			if err := json.Unmarshal([]byte(ev.Data), &w); err != nil {
				return llm.Response{}, unavailable(fmt.Errorf("gateway client: decoding done: %w", err))
			}
			return fromWire(w), nil
		case "error":
			var e wireError
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				return llm.Response{}, unavailable(fmt.Errorf("gateway client: decoding an error event: %w", err))
			}
			return llm.Response{}, e.err()
		}
	}
}
