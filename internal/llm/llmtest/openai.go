package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
)

// NewOpenAI starts a fake OpenAI Chat Completions server
// (POST {URL}/chat/completions, Bearer auth, SSE ending in data: [DONE]).
func NewOpenAI(tb testing.TB, o Options) *Server { return newServer(tb, o, openaiDialect{}) }

type openaiDialect struct{}

func (openaiDialect) base() string { return "/v1" }

func (openaiDialect) route(r *http.Request) (bool, bool, string) {
	// Whether it streams is in the body; parse sets it.
	return r.URL.Path == "/v1/chat/completions", false, ""
}

func (openaiDialect) key(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(v, "Bearer "); ok {
		return k
	}
	return ""
}

var openaiFields = []string{
	"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stream",
	"stream_options", "stop", "n", "user", "seed", "presence_penalty", "frequency_penalty",
	"response_format", "tools", "tool_choice", "logprobs", "top_logprobs", "logit_bias",
	"parallel_tool_calls", "reasoning_effort", "metadata", "store", "service_tier",
}

func (d openaiDialect) parse(r *http.Request, rec *Received) string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body, &obj); err != nil {
		return "We could not parse the JSON body of your request."
	}
	if u := unknownFields(obj, openaiFields...); len(u) > 0 {
		return "Unrecognized request argument supplied: " + u[0]
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		MaxTokens           *int     `json:"max_tokens"`
		MaxCompletionTokens *int     `json:"max_completion_tokens"`
		Temperature         *float64 `json:"temperature"`
		Stream              bool     `json:"stream"`
		StreamOptions       *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		return "Invalid type in the request body: " + err.Error()
	}
	rec.Model, rec.Stream, rec.Temperature = body.Model, body.Stream, body.Temperature
	if body.StreamOptions != nil {
		rec.IncludeUsage = body.StreamOptions.IncludeUsage
	}
	switch {
	case body.MaxCompletionTokens != nil:
		rec.MaxTokens, rec.MaxTokensField = *body.MaxCompletionTokens, "max_completion_tokens"
	case body.MaxTokens != nil:
		rec.MaxTokens, rec.MaxTokensField = *body.MaxTokens, "max_tokens"
	}
	var system []string
	for _, m := range body.Messages {
		text, ok := textOf(m.Content)
		if !ok {
			return "Invalid type for 'messages.content'"
		}
		switch m.Role {
		case "system", "developer":
			system = append(system, text)
		case "user", "assistant":
			rec.Messages = append(rec.Messages, llm.Message{Role: m.Role, Content: text})
		case "tool":
		default:
			return fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function' and 'developer'.", m.Role)
		}
	}
	rec.System = strings.Join(system, "\n")
	switch {
	case body.Model == "":
		return "you must provide a model parameter"
	case len(body.Messages) == 0:
		return "[] is too short - 'messages'"
	case body.StreamOptions != nil && !body.Stream:
		return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
	}
	return ""
}

func (openaiDialect) errorBody(typ, code, msg string) map[string]any {
	var c any
	if code != "" {
		c = code
	}
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}}
}

func (d openaiDialect) writeError(w http.ResponseWriter, s *Server, status int, kind, msg, retryAfter string) {
	typ, code := "invalid_request_error", ""
	switch kind {
	case errNotFound:
		code = "unknown_url"
	case errRateLimit:
		typ, code = "requests", "rate_limit_exceeded"
	case errServer, errOverloaded:
		typ = "server_error"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("X-Request-Id", idOf("req_", s.nextID()))
	writeJSON(w, status, d.errorBody(typ, code, msg))
}

func (d openaiDialect) authError(w http.ResponseWriter, s *Server, got string) {
	msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
	code := ""
	if got != "" {
		shown := maskKey(got)
		if s.opts.EchoKey {
			shown = got
		}
		msg = "Incorrect API key provided: " + shown + ". You can find your API key at https://platform.openai.com/account/api-keys."
		code = "invalid_api_key"
	}
	writeJSON(w, http.StatusUnauthorized, d.errorBody("invalid_request_error", code, msg))
}

// maskKey masks a key the way OpenAI echoes it: prefix, stars, last four.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	prefix := ""
	if i := strings.LastIndexByte(k[:min(len(k)-4, 12)], '-'); i >= 0 {
		prefix = k[:i+1]
	}
	return prefix + strings.Repeat("*", len(k)-len(prefix)-4) + k[len(k)-4:]
}

func (d openaiDialect) check(w http.ResponseWriter, s *Server, rec Received) bool {
	if s.opts.RejectMaxTokens && rec.MaxTokensField == "max_tokens" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
			"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
			"type":    "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter",
		}})
		return false
	}
	return true
}

func openaiUsage(rec Received, text string) map[string]any {
	in, out := InputTokens(rec), CountTokens(text)
	return map[string]any{
		"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0},
	}
}

func (d openaiDialect) complete(w http.ResponseWriter, s *Server, rec Received, text string, f *Fault) {
	if !d.check(w, s, rec) {
		return
	}
	body := map[string]any{
		"id":      idOf("chatcmpl-", s.nextID()),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   rec.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": text, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage":              openaiUsage(rec, text),
		"system_fingerprint": "fp_fake",
	}
	if f != nil && f.Kind == FaultCut {
		halfJSON(w, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (d openaiDialect) stream(w http.ResponseWriter, r *http.Request, s *Server, rec Received, text string, f *Fault) {
	if !d.check(w, s, rec) {
		return
	}
	id := idOf("chatcmpl-", s.nextID())
	created := time.Now().Unix()
	groqID := idOf("req_", s.nextID())
	chunk := func(delta map[string]any, finish any, extra map[string]any) string {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": rec.Model,
			"system_fingerprint": "fp_fake",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if rec.IncludeUsage && !s.opts.GroqUsage {
			c["usage"] = nil
		}
		for k, v := range extra {
			c[k] = v
		}
		return mustJSON(c)
	}
	data := func(v string) { fmt.Fprintf(w, "data: %s\n\n", v) }

	startSSE(w)
	var first map[string]any
	if s.opts.GroqUsage {
		first = map[string]any{"x_groq": map[string]any{"id": groqID}}
	}
	data(chunk(map[string]any{"role": "assistant", "content": ""}, nil, first))
	faultNow, stop := s.streamDeltas(r.Context(), w, text, f, func(delta string, _ int) {
		data(chunk(map[string]any{"content": delta}, nil, nil))
	})
	if stop {
		return
	}
	if faultNow {
		if f.Kind == FaultMidStream {
			data(mustJSON(d.errorBody("server_error", "", "The server had an error while processing your request. Sorry about that!")))
		}
		return // no [DONE]: the stream just ends
	}
	var last map[string]any
	if s.opts.GroqUsage {
		u := openaiUsage(rec, text)
		u["queue_time"], u["prompt_time"], u["completion_time"], u["total_time"] = 0.0001, 0.0002, 0.0003, 0.0006
		last = map[string]any{"x_groq": map[string]any{"id": groqID, "usage": u}}
	}
	data(chunk(map[string]any{}, "stop", last))
	if rec.IncludeUsage && !s.opts.GroqUsage {
		data(mustJSON(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": rec.Model,
			"system_fingerprint": "fp_fake", "choices": []any{}, "usage": openaiUsage(rec, text),
		}))
	}
	data("[DONE]")
}
