// Package anthropic is the llm.Provider for Anthropic's Messages API
// (protocols.md §6.3), spoken over HTTP and SSE directly so time-outs,
// redirects, egress and redaction stay ours.
//
// It must never send the key anywhere but the x-api-key header of a request
// to the configured base URL, put it into an error, place the system prompt
// among the messages, or accept a stream that ended without message_stop as
// complete.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// Defaults of Config.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01"
	DefaultMaxTokens = 1024
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root; "/v1/messages" is appended. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent in the x-api-key header; required.
	APIKey secret.Secret
	// HTTPClient is required: the egress client in production.
	HTTPClient *http.Client
	// Version is the anthropic-version header. Default DefaultVersion.
	Version string
	// DefaultMaxTokens is used when a request has none, since the API
	// requires max_tokens. Default DefaultMaxTokens.
	DefaultMaxTokens int
	// Timeout bounds a whole call, retries included. Default llm.DefaultTimeout.
	Timeout time.Duration
	Retry   llm.RetryPolicy
	// MaxResponseBytes caps a response body. Default llm.DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

const name = "anthropic"

// Client is an Anthropic llm.Provider.
type Client struct {
	endpoint  string
	auth      func(http.Header) // holds the key in a closure: see llm.Scrubber
	version   string
	maxTokens int
	caller    *llm.Caller
}

var _ llm.Provider = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey.IsZero() {
		return nil, errors.New("anthropic: an API key is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.DefaultMaxTokens <= 0 {
		cfg.DefaultMaxTokens = DefaultMaxTokens
	}
	endpoint, err := llm.Endpoint(cfg.BaseURL, "/v1/messages")
	if err != nil {
		return nil, fmt.Errorf("anthropic: %w", err)
	}
	caller, err := llm.NewCaller(llm.CallerConfig{
		Provider:         name,
		HTTPClient:       cfg.HTTPClient,
		APIKey:           cfg.APIKey,
		Timeout:          cfg.Timeout,
		Retry:            cfg.Retry,
		MaxResponseBytes: cfg.MaxResponseBytes,
		DecodeError:      decodeError,
	})
	if err != nil {
		return nil, fmt.Errorf("anthropic: %w", err)
	}
	key := cfg.APIKey.Reveal()
	auth := func(h http.Header) { h.Set("x-api-key", key) }
	return &Client{endpoint: endpoint, auth: auth, version: cfg.Version, maxTokens: cfg.DefaultMaxTokens, caller: caller}, nil
}

// Name returns "anthropic".
func (c *Client) Name() string { return name }

// Endpoints lists the URLs a request for model is sent to, so a
// configuration can be checked against the egress policy before any call.
func (c *Client) Endpoints(string) []string { return []string{c.endpoint} }

// Complete implements llm.Provider.
func (c *Client) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	call, err := c.call(req, false)
	if err != nil {
		return llm.Response{}, err
	}
	return c.caller.Complete(ctx, call, decodeResponse)
}

// Stream implements llm.Provider.
func (c *Client) Stream(ctx context.Context, req llm.Request, onDelta func(string) error) (llm.Response, error) {
	call, err := c.call(req, true)
	if err != nil {
		return llm.Response{}, err
	}
	return c.caller.Stream(ctx, call, decodeStream, onDelta)
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type request struct {
	Model       string    `json:"model"`
	MaxTokens   int       `json:"max_tokens"`
	System      string    `json:"system,omitempty"`
	Messages    []message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	Stream      bool      `json:"stream,omitempty"`
}

func (c *Client) call(req llm.Request, stream bool) (llm.Call, error) {
	if err := req.Validate(); err != nil {
		var e *llm.Error
		if errors.As(err, &e) {
			e.Provider = name
		}
		return llm.Call{}, err
	}
	r := request{
		Model:       req.Model,
		MaxTokens:   req.MaxTokens,
		System:      req.System,
		Messages:    make([]message, 0, len(req.Messages)),
		Temperature: req.Temperature,
		Stream:      stream,
	}
	if r.MaxTokens == 0 {
		r.MaxTokens = c.maxTokens
	}
	for _, m := range req.Messages {
		r.Messages = append(r.Messages, message{Role: m.Role, Content: m.Content})
	}
	b, err := json.Marshal(r)
	if err != nil {
		return llm.Call{}, &llm.Error{Provider: name, Type: llm.TypeInvalidRequest, Message: "cannot encode the request"}
	}
	h := http.Header{}
	c.auth(h)
	h.Set("anthropic-version", c.version)
	return llm.Call{URL: c.endpoint, Header: h, Body: b}, nil
}

type apiError struct {
	Type  string `json:"type"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func (a *apiError) toError() *llm.Error {
	if a.Error == nil {
		return nil
	}
	e := &llm.Error{Type: a.Error.Type, Message: a.Error.Message, RequestID: a.RequestID}
	if e.Type == "" {
		e.Type = "error"
	}
	return e
}

func decodeError(status int, body []byte) *llm.Error {
	var a apiError
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	return a.toError()
}

// retryableType lists the error types worth another attempt when they arrive
// inside a stream (where there is no status to go by).
func retryableType(t string) bool {
	switch t {
	case "overloaded_error", "api_error", "rate_limit_error", "timeout_error":
		return true
	}
	return false
}

type usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type messageResponse struct {
	Type    string `json:"type"`
	Model   string `json:"model"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StopReason *string `json:"stop_reason"`
	Usage      usage   `json:"usage"`
}

func decodeResponse(body []byte) (llm.Response, error) {
	var a apiError
	if json.Unmarshal(body, &a) == nil && a.Type == "error" {
		if e := a.toError(); e != nil {
			e.Retryable = retryableType(e.Type)
			return llm.Response{}, e
		}
	}
	var m messageResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return llm.Response{}, fmt.Errorf("decoding the message: %w", err)
	}
	if m.Type != "message" {
		return llm.Response{}, &llm.Error{Type: llm.TypeBadResponse, Message: "the response is not a message"}
	}
	var text strings.Builder
	for _, block := range m.Content {
		if block.Type == "text" {
			text.WriteString(block.Text)
		}
	}
	res := llm.Response{
		Text:  text.String(),
		Model: m.Model,
		Usage: llm.Usage{InputTokens: m.Usage.InputTokens, OutputTokens: m.Usage.OutputTokens},
	}
	if m.StopReason != nil {
		res.FinishReason = finishReason(*m.StopReason)
	}
	return res, nil
}

func finishReason(r string) string {
	switch r {
	case "end_turn", "stop_sequence", "pause_turn":
		return llm.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "refusal":
		return llm.FinishContentFilter
	case "tool_use":
		return llm.FinishToolCalls
	}
	return strings.ToLower(r)
}

// streamEvent holds the members of every event type we read.
type streamEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Model string `json:"model"`
		Usage usage  `json:"usage"`
	} `json:"message"`
	Delta *struct {
		Type       string  `json:"type"`
		Text       string  `json:"text"`
		StopReason *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *usage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeStream(events *sse.Reader, emit func(string) error) (llm.Response, error) {
	var res llm.Response
	for {
		ev, err := events.Next()
		if errors.Is(err, io.EOF) {
			return llm.Response{}, &llm.Error{Type: llm.TypeTruncated, Message: "the stream ended without message_stop", Retryable: true}
		}
		if err != nil {
			return llm.Response{}, err
		}
		name := ev.Type
		if name == "ping" || (name == "" && ev.Data == "") {
			continue
		}
		var se streamEvent
		if err := json.Unmarshal([]byte(ev.Data), &se); err != nil {
			if name != "error" && !known(name) {
				continue // an event we do not know need not be JSON either
			}
			return llm.Response{}, fmt.Errorf("decoding a %q event: %w", name, err)
		}
		if name == "" {
			name = se.Type
		}
		switch name {
		case "message_start":
			if se.Message != nil {
				res.Model = se.Message.Model
				res.Usage = llm.Usage{InputTokens: se.Message.Usage.InputTokens, OutputTokens: se.Message.Usage.OutputTokens}
			}
		case "content_block_delta":
			if se.Delta != nil && se.Delta.Type == "text_delta" {
				if err := emit(se.Delta.Text); err != nil {
					return llm.Response{}, err
				}
			}
		case "message_delta":
			if se.Delta != nil && se.Delta.StopReason != nil {
				res.FinishReason = finishReason(*se.Delta.StopReason)
			}
			if se.Usage != nil {
				// Counts in message_delta are cumulative.
				res.Usage.OutputTokens = se.Usage.OutputTokens
				if se.Usage.InputTokens > 0 {
					res.Usage.InputTokens = se.Usage.InputTokens
				}
			}
		case "message_stop":
			return res, nil
		case "error":
			e := &llm.Error{Type: "error", Message: "the stream reported an error"}
			if se.Error != nil {
				e.Type, e.Message = se.Error.Type, se.Error.Message
			}
			e.Retryable = retryableType(e.Type)
			return llm.Response{}, e
		}
		// Unknown events are ignored, as the official SDK does.
	}
}

func known(name string) bool {
	switch name {
	case "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop":
		return true
	}
	return false
}
