package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/palisadehq/palisade/internal/llm"
)

// NewAnthropic starts a fake Anthropic Messages server (POST {URL}/v1/messages,
// x-api-key and anthropic-version headers, named SSE events ending in
// message_stop).
func NewAnthropic(tb testing.TB, o Options) *Server { return newServer(tb, o, anthropicDialect{}) }

type anthropicDialect struct{}

func (anthropicDialect) base() string { return "" }

func (anthropicDialect) route(r *http.Request) (bool, bool, string) {
	return r.URL.Path == "/v1/messages", false, ""
}

func (anthropicDialect) key(r *http.Request) string { return r.Header.Get("X-Api-Key") }

var anthropicFields = []string{
	"model", "max_tokens", "system", "messages", "temperature", "stream", "top_p", "top_k",
	"stop_sequences", "metadata", "tools", "tool_choice", "thinking", "service_tier",
}

func (anthropicDialect) parse(r *http.Request, rec *Received) string {
	if r.Header.Get("Anthropic-Version") == "" {
		return "anthropic-version: header is required"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body, &obj); err != nil {
		return "There was an issue with the JSON body of your request."
	}
	if u := unknownFields(obj, anthropicFields...); len(u) > 0 {
		return u[0] + ": Extra inputs are not permitted"
	}
	var body struct {
		Model     string          `json:"model"`
		MaxTokens *int            `json:"max_tokens"`
		System    json.RawMessage `json:"system"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Temperature *float64 `json:"temperature"`
		Stream      bool     `json:"stream"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		return "Input should be a valid value: " + err.Error()
	}
	rec.Model, rec.Stream, rec.Temperature = body.Model, body.Stream, body.Temperature
	if body.MaxTokens != nil {
		rec.MaxTokens, rec.MaxTokensField = *body.MaxTokens, "max_tokens"
	}
	sys, ok := textOf(body.System)
	if !ok {
		return "system: Input should be a valid string"
	}
	rec.System = sys
	for i, m := range body.Messages {
		text, ok := textOf(m.Content)
		if !ok {
			return fmt.Sprintf("messages.%d.content: Input should be a valid list", i)
		}
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages: Unexpected role %q. The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.", m.Role)
		}
		rec.Messages = append(rec.Messages, llm.Message{Role: m.Role, Content: text})
	}
	switch {
	case body.Model == "":
		return "model: Field required"
	case body.MaxTokens == nil:
		return "max_tokens: Field required"
	case *body.MaxTokens < 1:
		return "max_tokens: Input should be greater than or equal to 1"
	case len(body.Messages) == 0:
		return "messages: at least one message is required"
	}
	return ""
}

func anthropicError(typ, msg, reqID string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}, "request_id": reqID}
}

func (anthropicDialect) writeError(w http.ResponseWriter, s *Server, status int, kind, msg, retryAfter string) {
	typ := "invalid_request_error"
	switch kind {
	case errNotFound:
		typ = "not_found_error"
	case errRateLimit:
		typ, msg = "rate_limit_error", "This request would exceed your organization's rate limit. Please try again later."
	case errServer:
		typ, msg = "api_error", "Internal server error"
	case errOverloaded:
		typ, msg = "overloaded_error", "Overloaded"
	}
	if status == http.StatusRequestEntityTooLarge {
		typ = "request_too_large"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	id := idOf("req_", s.nextID())
	w.Header().Set("Request-Id", id)
	writeJSON(w, status, anthropicError(typ, msg, id))
}

func (anthropicDialect) authError(w http.ResponseWriter, s *Server, got string) {
	msg := "invalid x-api-key"
	if got == "" {
		msg = "x-api-key header is required"
	} else if s.opts.EchoKey {
		msg = "invalid x-api-key: " + got
	}
	id := idOf("req_", s.nextID())
	w.Header().Set("Request-Id", id)
	writeJSON(w, http.StatusUnauthorized, anthropicError("authentication_error", msg, id))
}

func (anthropicDialect) complete(w http.ResponseWriter, s *Server, rec Received, text string, f *Fault) {
	body := map[string]any{
		"id":            idOf("msg_", s.nextID()),
		"type":          "message",
		"role":          "assistant",
		"model":         rec.Model,
		"content":       []any{map[string]any{"type": "text", "text": text}},
		"stop_reason":   "end_turn",
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens": InputTokens(rec), "output_tokens": CountTokens(text),
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
		},
	}
	w.Header().Set("Request-Id", idOf("req_", s.nextID()))
	if f != nil && f.Kind == FaultCut {
		halfJSON(w, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (anthropicDialect) stream(w http.ResponseWriter, r *http.Request, s *Server, rec Received, text string, f *Fault) {
	event := func(name string, v any) { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, mustJSON(v)) }
	w.Header().Set("Request-Id", idOf("req_", s.nextID()))
	startSSE(w)
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": idOf("msg_", s.nextID()), "type": "message", "role": "assistant", "content": []any{},
		"model": rec.Model, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": InputTokens(rec), "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}})
	event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	event("ping", map[string]any{"type": "ping"})
	flush(w)
	faultNow, stop := s.streamDeltas(r.Context(), w, text, f, func(delta string, _ int) {
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": delta}})
	})
	if stop {
		return
	}
	if faultNow {
		if f.Kind == FaultMidStream {
			event("error", map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
		}
		return
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": CountTokens(text)}})
	event("message_stop", map[string]any{"type": "message_stop"})
}
