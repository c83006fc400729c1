package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/llm"
)

// NewGemini starts a fake Gemini server
// (POST {URL}/models/{model}:generateContent and
// :streamGenerateContent?alt=sse, x-goog-api-key header, CRLF-framed SSE that
// ends at EOF with finishReason on the last chunk, bare JSON errors). Unlike
// the real API it refuses a key in the URL query, so a test fails if an
// adapter ever puts it there.
func NewGemini(tb testing.TB, o Options) *Server { return newServer(tb, o, geminiDialect{}) }

type geminiDialect struct{}

func (geminiDialect) base() string { return "/v1beta" }

func (geminiDialect) route(r *http.Request) (bool, bool, string) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/models/")
	if !ok {
		return false, false, ""
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || strings.Contains(rest[:i], "/") {
		return false, false, ""
	}
	switch rest[i+1:] {
	case "generateContent":
		return true, false, rest[:i]
	case "streamGenerateContent":
		return true, true, rest[:i]
	}
	return false, false, ""
}

func (geminiDialect) key(r *http.Request) string { return r.Header.Get("X-Goog-Api-Key") }

var geminiFields = []string{
	"contents", "systemInstruction", "system_instruction", "generationConfig", "generation_config",
	"safetySettings", "safety_settings", "tools", "toolConfig", "tool_config", "cachedContent", "cached_content",
}

type geminiContent struct {
	Role  string `json:"role"`
	Parts []struct {
		Text    string `json:"text"`
		Thought bool   `json:"thought"`
	} `json:"parts"`
}

func (c *geminiContent) text() string {
	var b strings.Builder
	for _, p := range c.Parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

type geminiGenConfig struct {
	MaxOutputTokens  *int     `json:"maxOutputTokens"`
	MaxOutputTokens2 *int     `json:"max_output_tokens"`
	Temperature      *float64 `json:"temperature"`
}

func (geminiDialect) parse(r *http.Request, rec *Received) string {
	if r.URL.Query().Has("key") {
		return "fake: the API key must travel in the x-goog-api-key header, never in the URL"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body, &obj); err != nil {
		return "Invalid JSON payload received. Unexpected token."
	}
	if u := unknownFields(obj, geminiFields...); len(u) > 0 {
		return fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", u[0])
	}
	var body struct {
		Contents []geminiContent  `json:"contents"`
		System   *geminiContent   `json:"systemInstruction"`
		System2  *geminiContent   `json:"system_instruction"`
		GenCamel *geminiGenConfig `json:"generationConfig"`
		GenSnake *geminiGenConfig `json:"generation_config"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		return "Invalid JSON payload received. " + err.Error()
	}
	if body.System == nil {
		body.System = body.System2
	}
	if body.System != nil {
		rec.System = body.System.text()
	}
	gen := body.GenCamel
	if gen == nil {
		gen = body.GenSnake
	}
	if gen != nil {
		rec.Temperature = gen.Temperature
		if gen.MaxOutputTokens == nil {
			gen.MaxOutputTokens = gen.MaxOutputTokens2
		}
		if gen.MaxOutputTokens != nil {
			rec.MaxTokens, rec.MaxTokensField = *gen.MaxOutputTokens, "maxOutputTokens"
		}
	}
	for _, c := range body.Contents {
		switch c.Role {
		case "user", "":
			rec.Messages = append(rec.Messages, llm.Message{Role: llm.RoleUser, Content: c.text()})
		case "model":
			rec.Messages = append(rec.Messages, llm.Message{Role: llm.RoleAssistant, Content: c.text()})
		default:
			return "Please use a valid role: user, model."
		}
	}
	if len(body.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	return ""
}

func geminiErrorBody(code int, status, msg string, details ...any) []byte {
	e := map[string]any{"code": code, "message": msg, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	b, err := json.MarshalIndent(map[string]any{"error": e}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

func (geminiDialect) writeError(w http.ResponseWriter, s *Server, status int, kind, msg, retryAfter string) {
	st := "INVALID_ARGUMENT"
	var details []any
	switch kind {
	case errNotFound:
		st = "NOT_FOUND"
	case errRateLimit:
		st, msg = "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."
		if retryAfter != "" && isDigits(retryAfter) {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retryAfter + "s"})
			retryAfter = ""
		}
	case errServer:
		st, msg = "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case errOverloaded:
		st, msg = "UNAVAILABLE", "The model is overloaded. Please try again later."
	}
	if status == http.StatusMethodNotAllowed {
		st = "METHOD_NOT_ALLOWED"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(geminiErrorBody(status, st, msg, details...))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func (geminiDialect) authError(w http.ResponseWriter, s *Server, got string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if got == "" {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(geminiErrorBody(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."))
		return
	}
	msg := "API key not valid. Please pass a valid API key."
	if s.opts.EchoKey {
		msg = "API key not valid: " + got
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(geminiErrorBody(400, "INVALID_ARGUMENT", msg,
		map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]any{"service": "generativelanguage.googleapis.com"}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msg},
	))
}

func geminiUsage(rec Received, out int, thoughts int) map[string]any {
	in := InputTokens(rec)
	u := map[string]any{"promptTokenCount": in, "candidatesTokenCount": out, "totalTokenCount": in + out + thoughts}
	if thoughts > 0 {
		u["thoughtsTokenCount"] = thoughts
	}
	return u
}

func (geminiDialect) blocked(s *Server, rec Received) map[string]any {
	return map[string]any{
		"promptFeedback": map[string]any{"blockReason": s.opts.BlockReason, "safetyRatings": []any{
			map[string]any{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"},
		}},
		"usageMetadata": map[string]any{"promptTokenCount": InputTokens(rec), "totalTokenCount": InputTokens(rec)},
		"modelVersion":  rec.Model,
	}
}

func (d geminiDialect) response(s *Server, rec Received, parts []any, finish string, out int) map[string]any {
	cand := map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "index": 0}
	if finish != "" {
		cand["finishReason"] = finish
	}
	return map[string]any{
		"candidates":    []any{cand},
		"usageMetadata": geminiUsage(rec, out, CountTokens(s.opts.Thought)),
		"modelVersion":  rec.Model,
		"responseId":    idOf("resp", s.nextID()),
	}
}

func (d geminiDialect) complete(w http.ResponseWriter, s *Server, rec Received, text string, f *Fault) {
	if s.opts.BlockReason != "" {
		writeJSON(w, http.StatusOK, d.blocked(s, rec))
		return
	}
	var parts []any
	if s.opts.Thought != "" {
		parts = append(parts, map[string]any{"text": s.opts.Thought, "thought": true})
	}
	parts = append(parts, map[string]any{"text": text})
	body := d.response(s, rec, parts, "STOP", CountTokens(text))
	if f != nil && f.Kind == FaultCut {
		halfJSON(w, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (d geminiDialect) stream(w http.ResponseWriter, r *http.Request, s *Server, rec Received, text string, f *Fault) {
	sse := r.URL.Query().Get("alt") == "sse"
	if !sse {
		// Without alt=sse the real API streams one JSON array; so do we,
		// whole, which is all a client that asked for it can expect here.
		if s.opts.BlockReason != "" {
			writeJSON(w, http.StatusOK, []any{d.blocked(s, rec)})
			return
		}
		writeJSON(w, http.StatusOK, []any{d.response(s, rec, []any{map[string]any{"text": text}}, "STOP", CountTokens(text))})
		return
	}
	data := func(v any) { fmt.Fprintf(w, "data: %s\r\n\r\n", mustJSON(v)) }
	startSSE(w)
	if s.opts.BlockReason != "" {
		data(d.blocked(s, rec))
		return
	}
	if s.opts.Thought != "" {
		data(d.response(s, rec, []any{map[string]any{"text": s.opts.Thought, "thought": true}}, "", 0))
		flush(w)
	}
	deltas := Deltas(text)
	faulty := f != nil && (f.Kind == FaultMidStream || f.Kind == FaultCut || f.Kind == FaultAbort)
	sent := ""
	faultNow, stop := s.streamDeltas(r.Context(), w, text, f, func(delta string, i int) {
		sent += delta
		finish := ""
		if !faulty && i == len(deltas)-1 {
			finish = "STOP"
		}
		data(d.response(s, rec, []any{map[string]any{"text": delta}}, finish, CountTokens(sent)))
	})
	if stop {
		return
	}
	if faultNow {
		if f.Kind == FaultMidStream {
			_, _ = w.Write(geminiErrorBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later."))
			_, _ = w.Write([]byte("\r\n"))
		}
		return // EOF with no finishReason
	}
	if len(deltas) == 0 {
		data(d.response(s, rec, []any{map[string]any{"text": ""}}, "STOP", 0))
	}
}
