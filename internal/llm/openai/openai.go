// Package openai is the llm.Provider for the OpenAI Chat Completions API and
// the servers that copy it: OpenAI, Groq (base URL .../openai/v1), NVIDIA,
// Ollama, vLLM, any base URL. It speaks HTTP and SSE directly (protocols.md
// §6.1, §6.5, §6.6) so time-outs, redirects, egress and redaction stay ours.
//
// It must never send the key anywhere but the Authorization header of a
// request to the configured base URL, put it into an error, or accept a
// stream that ended without its [DONE] terminator as complete.
package openai

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

// DefaultBaseURL is OpenAI's own endpoint root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Names of the output cap field. OpenAI deprecated max_tokens in favour of
// max_completion_tokens (and its reasoning models refuse max_tokens), but most
// compatible servers only know max_tokens, hence the default.
const (
	MaxTokensField           = "max_tokens"
	MaxCompletionTokensField = "max_completion_tokens"
)

// Config configures a Client.
type Config struct {
	// Name labels errors and metrics ("openai", "groq", "ollama"...).
	// Default "openai".
	Name string
	// BaseURL is the API root; "/chat/completions" is appended. Default
	// DefaultBaseURL. For Groq use https://api.groq.com/openai/v1.
	BaseURL string
	// APIKey is sent as a bearer token. Empty sends no Authorization header
	// (a local Ollama or vLLM).
	APIKey secret.Secret
	// HTTPClient is required: the egress client in production.
	HTTPClient *http.Client
	// Timeout bounds a whole call, retries included. Default llm.DefaultTimeout.
	Timeout time.Duration
	Retry   llm.RetryPolicy
	// MaxTokensField is MaxTokensField (default) or MaxCompletionTokensField.
	MaxTokensField string
	// DisableStreamUsage stops asking for usage in streams
	// (stream_options.include_usage), for servers that refuse the option.
	DisableStreamUsage bool
	// MaxResponseBytes caps a response body. Default llm.DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Client is an OpenAI-compatible llm.Provider.
type Client struct {
	name       string
	endpoint   string
	auth       func(http.Header) // holds the key in a closure: see llm.Scrubber
	tokenField string
	usage      bool
	caller     *llm.Caller
}

var _ llm.Provider = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	switch cfg.MaxTokensField {
	case "":
		cfg.MaxTokensField = MaxTokensField
	case MaxTokensField, MaxCompletionTokensField:
	default:
		return nil, fmt.Errorf("openai: MaxTokensField must be %q or %q", MaxTokensField, MaxCompletionTokensField)
	}
	endpoint, err := llm.Endpoint(cfg.BaseURL, "/chat/completions")
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	caller, err := llm.NewCaller(llm.CallerConfig{
		Provider:         cfg.Name,
		HTTPClient:       cfg.HTTPClient,
		APIKey:           cfg.APIKey,
		Timeout:          cfg.Timeout,
		Retry:            cfg.Retry,
		MaxResponseBytes: cfg.MaxResponseBytes,
		DecodeError:      decodeError,
	})
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	return &Client{
		name:       cfg.Name,
		endpoint:   endpoint,
		auth:       bearer(cfg.APIKey),
		tokenField: cfg.MaxTokensField,
		usage:      !cfg.DisableStreamUsage,
		caller:     caller,
	}, nil
}

// Name returns the label given in Config.
func (c *Client) Name() string { return c.name }

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

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func (c *Client) call(req llm.Request, stream bool) (llm.Call, error) {
	if err := req.Validate(); err != nil {
		var e *llm.Error
		if errors.As(err, &e) {
			e.Provider = c.name
		}
		return llm.Call{}, err
	}
	msgs := make([]chatMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: req.System})
	}
	for _, m := range req.Messages {
		msgs = append(msgs, chatMessage{Role: m.Role, Content: m.Content})
	}
	body := map[string]any{
		"model":    req.Model,
		"messages": msgs,
		"stream":   stream,
	}
	if req.MaxTokens > 0 {
		body[c.tokenField] = req.MaxTokens
	}
	if req.Temperature != nil {
		body["temperature"] = *req.Temperature
	}
	if stream && c.usage {
		body["stream_options"] = map[string]any{"include_usage": true}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return llm.Call{}, &llm.Error{Provider: c.name, Type: llm.TypeInvalidRequest, Message: "cannot encode the request"}
	}
	h := http.Header{}
	c.auth(h)
	return llm.Call{URL: c.endpoint, Header: h, Body: b}, nil
}

// bearer returns the function that authenticates a request. Without a key
// (a local Ollama or vLLM) it sends no Authorization header at all.
func bearer(key secret.Secret) func(http.Header) {
	if key.IsZero() {
		return func(http.Header) {}
	}
	v := "Bearer " + key.Reveal()
	return func(h http.Header) { h.Set("Authorization", v) }
}

// apiError is the error object of protocols.md §6.1; code is a string or null.
type apiError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

func (a *apiError) toError() *llm.Error {
	e := &llm.Error{Type: a.Type, Message: a.Message}
	var code string
	if json.Unmarshal(a.Code, &code) == nil && code != "" {
		// The code is the more specific of the two ("invalid_api_key", "rate_limit_exceeded").
		e.Type = code
	}
	if e.Type == "" {
		e.Type = "error"
	}
	return e
}

func decodeError(status int, body []byte) *llm.Error {
	var env struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return nil
	}
	return env.Error.toError()
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

type completion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func decodeResponse(body []byte) (llm.Response, error) {
	var r completion
	if err := json.Unmarshal(body, &r); err != nil {
		return llm.Response{}, fmt.Errorf("decoding the chat completion: %w", err)
	}
	if e := inlineError(r.Error); e != nil {
		return llm.Response{}, e
	}
	if len(r.Choices) == 0 {
		return llm.Response{}, &llm.Error{Type: llm.TypeBadResponse, Message: "the completion has no choices"}
	}
	ch := r.Choices[0]
	res := llm.Response{Model: r.Model}
	if ch.FinishReason != nil {
		res.FinishReason = finishReason(*ch.FinishReason)
	}
	switch {
	case ch.Message.Content != nil && *ch.Message.Content != "":
		res.Text = *ch.Message.Content
	case ch.Message.Refusal != nil && *ch.Message.Refusal != "":
		res.Text = *ch.Message.Refusal
		res.FinishReason = llm.FinishContentFilter
	}
	if r.Usage != nil {
		res.Usage = llm.Usage{InputTokens: r.Usage.PromptTokens, OutputTokens: r.Usage.CompletionTokens}
	}
	return res, nil
}

// inlineError reads an "error" member that arrived with status 200: the
// official SDK treats any such object as an error, and so do we.
func inlineError(raw json.RawMessage) *llm.Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var a apiError
	if json.Unmarshal(raw, &a) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			a.Message = s
		}
	}
	e := a.toError()
	e.Retryable = retryableType(e.Type)
	return e
}

func retryableType(t string) bool {
	switch t {
	case "server_error", "rate_limit_exceeded", "overloaded", "service_unavailable", "internal_error", "requests", "tokens":
		return true
	}
	return false
}

func finishReason(r string) string {
	switch r {
	case "stop", "length", "content_filter", "tool_calls":
		return r
	case "function_call":
		return llm.FinishToolCalls
	}
	return strings.ToLower(r)
}

type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
	// Groq reports stream usage here, in the final chunk.
	XGroq *struct {
		Usage *usage          `json:"usage"`
		Error json.RawMessage `json:"error"`
	} `json:"x_groq"`
}

func decodeStream(events *sse.Reader, emit func(string) error) (llm.Response, error) {
	var res llm.Response
	var sawUsage bool
	for {
		ev, err := events.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return llm.Response{}, &llm.Error{Type: llm.TypeTruncated, Message: "the stream ended without [DONE]", Retryable: true}
			}
			return llm.Response{}, err
		}
		data := strings.TrimSpace(ev.Data)
		if data == "[DONE]" {
			return res, nil
		}
		if data == "" {
			continue
		}
		if ev.Type == "error" {
			// Not OpenAI's own framing, but some compatible servers name the event.
			if e := decodeError(0, []byte(data)); e != nil {
				e.Retryable = retryableType(e.Type)
				return llm.Response{}, e
			}
			return llm.Response{}, &llm.Error{Type: "error", Message: "the stream reported an error"}
		}
		var ch chunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			return llm.Response{}, fmt.Errorf("decoding a stream chunk: %w", err)
		}
		if e := inlineError(ch.Error); e != nil {
			return llm.Response{}, e
		}
		if ch.XGroq != nil {
			if e := inlineError(ch.XGroq.Error); e != nil {
				return llm.Response{}, e
			}
		}
		if ch.Model != "" {
			res.Model = ch.Model
		}
		for i, choice := range ch.Choices {
			if i > 0 {
				break // we never ask for n > 1
			}
			if choice.Delta.Content != nil {
				if err := emit(*choice.Delta.Content); err != nil {
					return llm.Response{}, err
				}
			}
			if choice.Delta.Refusal != nil && *choice.Delta.Refusal != "" {
				if err := emit(*choice.Delta.Refusal); err != nil {
					return llm.Response{}, err
				}
				res.FinishReason = llm.FinishContentFilter
			}
			if choice.FinishReason != nil && *choice.FinishReason != "" && res.FinishReason != llm.FinishContentFilter {
				res.FinishReason = finishReason(*choice.FinishReason)
			}
		}
		if ch.Usage != nil {
			res.Usage = llm.Usage{InputTokens: ch.Usage.PromptTokens, OutputTokens: ch.Usage.CompletionTokens}
			sawUsage = true
		} else if ch.XGroq != nil && ch.XGroq.Usage != nil && !sawUsage {
			res.Usage = llm.Usage{InputTokens: ch.XGroq.Usage.PromptTokens, OutputTokens: ch.XGroq.Usage.CompletionTokens}
		}
	}
}
