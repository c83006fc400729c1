// Package gemini is the llm.Provider for Google's Gemini generateContent API
// (protocols.md §6.4), spoken over HTTP and SSE directly so time-outs,
// redirects, egress and redaction stay ours.
//
// It must never put the key into a URL (the ?key= form ends up in logs: the
// x-goog-api-key header is used instead), put it into an error, pass thought
// parts off as answer text, or accept a stream that ended without a finish
// reason as complete.
package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// DefaultBaseURL is the Gemini API root with its version.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Config configures a Client.
type Config struct {
	// BaseURL is the API root including the version;
	// "/models/{model}:generateContent" is appended. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent in the x-goog-api-key header; required.
	APIKey secret.Secret
	// HTTPClient is required: the egress client in production.
	HTTPClient *http.Client
	// Timeout bounds a whole call, retries included. Default llm.DefaultTimeout.
	Timeout time.Duration
	Retry   llm.RetryPolicy
	// MaxResponseBytes caps a response body. Default llm.DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

const name = "gemini"

// Client is a Gemini llm.Provider.
type Client struct {
	base   string
	auth   func(http.Header) // holds the key in a closure: see llm.Scrubber
	caller *llm.Caller
}

var _ llm.Provider = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey.IsZero() {
		return nil, errors.New("gemini: an API key is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := llm.Endpoint(cfg.BaseURL, "")
	if err != nil {
		return nil, fmt.Errorf("gemini: %w", err)
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
		return nil, fmt.Errorf("gemini: %w", err)
	}
	key := cfg.APIKey.Reveal()
	auth := func(h http.Header) { h.Set("x-goog-api-key", key) }
	return &Client{base: base, auth: auth, caller: caller}, nil
}

// Name returns "gemini".
func (c *Client) Name() string { return name }

// Endpoints lists the URLs a request for model is sent to (without the
// query a stream adds), so a configuration can be checked against the
// egress policy before any call.
func (c *Client) Endpoints(model string) []string {
	model = strings.TrimPrefix(model, "models/")
	return []string{c.base + "/models/" + model + ":generateContent", c.base + "/models/" + model + ":streamGenerateContent"}
}

// Complete implements llm.Provider.
func (c *Client) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	call, err := c.call(req, false)
	if err != nil {
		return llm.Response{}, err
	}
	return c.caller.Complete(ctx, call, func(body []byte) (llm.Response, error) {
		return decodeResponse(body, req.Model)
	})
}

// Stream implements llm.Provider.
func (c *Client) Stream(ctx context.Context, req llm.Request, onDelta func(string) error) (llm.Response, error) {
	call, err := c.call(req, true)
	if err != nil {
		return llm.Response{}, err
	}
	return c.caller.Stream(ctx, call, func(events *sse.Reader, emit func(string) error) (llm.Response, error) {
		return decodeStream(events, emit, req.Model)
	}, onDelta)
}

// modelName is what may stand in the URL path: Gemini model ids and tuned
// model ids. Anything else (slashes, dots-only, query characters) could
// steer the request to another endpoint.
var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

type part struct {
	Text    string `json:"text"`
	Thought bool   `json:"thought,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type generationConfig struct {
	MaxOutputTokens int      `json:"maxOutputTokens,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
}

type request struct {
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Contents          []content         `json:"contents"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

func (c *Client) call(req llm.Request, stream bool) (llm.Call, error) {
	err := req.Validate()
	model := strings.TrimPrefix(req.Model, "models/")
	if err == nil && !modelName.MatchString(model) {
		err = &llm.Error{Type: llm.TypeInvalidRequest, Message: "model name has characters a Gemini model id cannot have"}
	}
	if err != nil {
		var e *llm.Error
		if errors.As(err, &e) {
			e.Provider = name
		}
		return llm.Call{}, err
	}
	r := request{Contents: make([]content, 0, len(req.Messages))}
	if req.System != "" {
		r.SystemInstruction = &content{Parts: []part{{Text: req.System}}}
	}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == llm.RoleAssistant {
			role = "model"
		}
		r.Contents = append(r.Contents, content{Role: role, Parts: []part{{Text: m.Content}}})
	}
	if req.MaxTokens > 0 || req.Temperature != nil {
		r.GenerationConfig = &generationConfig{MaxOutputTokens: req.MaxTokens, Temperature: req.Temperature}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return llm.Call{}, &llm.Error{Provider: name, Type: llm.TypeInvalidRequest, Message: "cannot encode the request"}
	}
	url := c.base + "/models/" + model + ":generateContent"
	if stream {
		url = c.base + "/models/" + model + ":streamGenerateContent?alt=sse"
	}
	h := http.Header{}
	c.auth(h)
	return llm.Call{URL: url, Header: h, Body: b}, nil
}

// apiError is Google's error envelope.
type apiError struct {
	Error *struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

func (a *apiError) toError() *llm.Error {
	if a.Error == nil {
		return nil
	}
	e := &llm.Error{Status: a.Error.Code, Type: a.Error.Status, Message: a.Error.Message}
	for _, raw := range a.Error.Details {
		var d struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		}
		if json.Unmarshal(raw, &d) != nil {
			continue
		}
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && d.Reason != "":
			// More telling than the status: API_KEY_INVALID comes as INVALID_ARGUMENT.
			e.Type = d.Reason
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			e.RetryAfter = parseDelay(d.RetryDelay)
		}
	}
	if e.Type == "" {
		e.Type = "error"
	}
	return e
}

// parseDelay reads a protobuf Duration in JSON form ("30s", "1.5s").
func parseDelay(s string) time.Duration {
	secs, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil || !strings.HasSuffix(s, "s") || !(secs > 0) || secs > 86400 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

func decodeError(status int, body []byte) *llm.Error {
	var a apiError
	if json.Unmarshal(body, &a) != nil {
		// Some front ends wrap the envelope in an array.
		var arr []apiError
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return nil
		}
		a = arr[0]
	}
	return a.toError()
}

// inStreamError builds the error for an error object that arrived after the
// 200, where its code is all we have to decide on a retry.
func inStreamError(a *apiError) *llm.Error {
	e := a.toError()
	e.Retryable = e.Status == http.StatusTooManyRequests || e.Status >= 500 ||
		e.Type == "UNAVAILABLE" || e.Type == "RESOURCE_EXHAUSTED" || e.Type == "INTERNAL" || e.Type == "DEADLINE_EXCEEDED"
	return e
}

type generateResponse struct {
	Candidates []struct {
		Content *struct {
			Parts []part `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

// usage counts thinking tokens as output: they are billed as output, and
// budgets must see them.
func (g *generateResponse) usage() (llm.Usage, bool) {
	if g.UsageMetadata == nil {
		return llm.Usage{}, false
	}
	u := g.UsageMetadata
	return llm.Usage{InputTokens: u.PromptTokenCount, OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount}, true
}

// text returns the answer text of the first candidate, without thoughts.
func (g *generateResponse) text() string {
	if len(g.Candidates) == 0 || g.Candidates[0].Content == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range g.Candidates[0].Content.Parts {
		if !p.Thought {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func (g *generateResponse) blocked() *llm.Error {
	if g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		return &llm.Error{Type: llm.TypeBlocked, Message: "the provider blocked the prompt: " + g.PromptFeedback.BlockReason}
	}
	return nil
}

func decodeResponse(body []byte, model string) (llm.Response, error) {
	var a apiError
	if json.Unmarshal(body, &a) == nil && a.Error != nil {
		return llm.Response{}, inStreamError(&a)
	}
	var g generateResponse
	if err := json.Unmarshal(body, &g); err != nil {
		return llm.Response{}, fmt.Errorf("decoding the response: %w", err)
	}
	if e := g.blocked(); e != nil {
		return llm.Response{}, e
	}
	if len(g.Candidates) == 0 {
		return llm.Response{}, &llm.Error{Type: llm.TypeBlocked, Message: "the provider returned no candidates"}
	}
	res := llm.Response{Text: g.text(), FinishReason: finishReason(g.Candidates[0].FinishReason), Model: g.ModelVersion}
	if res.Model == "" {
		res.Model = model
	}
	res.Usage, _ = g.usage()
	if res.Text == "" && res.FinishReason == llm.FinishContentFilter {
		return llm.Response{}, &llm.Error{Type: llm.TypeBlocked, Message: "the provider withheld the answer: " + g.Candidates[0].FinishReason}
	}
	return res, nil
}

func finishReason(r string) string {
	switch r {
	case "":
		return ""
	case "STOP":
		return llm.FinishStop
	case "MAX_TOKENS":
		return llm.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return llm.FinishContentFilter
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL":
		return llm.FinishToolCalls
	}
	return strings.ToLower(r)
}

// decodeStream reads streamGenerateContent?alt=sse: each data: event is a
// whole GenerateContentResponse, the stream ends at EOF, and an error may
// arrive as a bare JSON block outside any data: line. With no [DONE], the
// finish reason on the last chunk is what tells a complete stream from a cut one.
func decodeStream(events *sse.Reader, emit func(string) error, model string) (llm.Response, error) {
	res := llm.Response{Model: model}
	chunks := 0
	for {
		ev, err := events.Next()
		if errors.Is(err, io.EOF) {
			if res.FinishReason == "" {
				return llm.Response{}, &llm.Error{Type: llm.TypeTruncated, Message: "the stream ended without a finish reason", Retryable: true}
			}
			if res.FinishReason == llm.FinishContentFilter && chunks == 0 {
				return llm.Response{}, &llm.Error{Type: llm.TypeBlocked, Message: "the provider withheld the answer"}
			}
			return res, nil
		}
		if err != nil {
			return llm.Response{}, err
		}
		if strings.TrimSpace(ev.Raw) != "" {
			var a apiError
			if json.Unmarshal([]byte(ev.Raw), &a) == nil && a.Error != nil {
				return llm.Response{}, inStreamError(&a)
			}
			return llm.Response{}, &llm.Error{Type: llm.TypeBadResponse, Message: "the stream carried a line that is neither an event nor an error"}
		}
		if strings.TrimSpace(ev.Data) == "" {
			continue
		}
		var a apiError
		if json.Unmarshal([]byte(ev.Data), &a) == nil && a.Error != nil {
			return llm.Response{}, inStreamError(&a)
		}
		var g generateResponse
		if err := json.Unmarshal([]byte(ev.Data), &g); err != nil {
			return llm.Response{}, fmt.Errorf("decoding a stream chunk: %w", err)
		}
		if e := g.blocked(); e != nil {
			return llm.Response{}, e
		}
		if t := g.text(); t != "" {
			chunks++
			if err := emit(t); err != nil {
				return llm.Response{}, err
			}
		}
		if len(g.Candidates) > 0 && g.Candidates[0].FinishReason != "" {
			res.FinishReason = finishReason(g.Candidates[0].FinishReason)
		}
		if u, ok := g.usage(); ok {
			res.Usage = u // each chunk carries the totals so far
		}
		if g.ModelVersion != "" {
			res.Model = g.ModelVersion
		}
	}
}
