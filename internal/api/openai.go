package api

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sse"
)

// The OpenAI-compatible endpoint speaks OpenAI's Chat Completions wire
// format so that OpenAI's own clients work against a bot unchanged: the
// model is a bot id, the bearer a Palisade API key. It is stateless as
// OpenAI's is (the client's messages are the history), but the bot rules:
// its system prompt, knowledge, model, caps and budgets apply whatever the
// request says, and client system or developer messages are dropped.

// OpenAIChannel is the channel name of exchanges through the
// OpenAI-compatible endpoint; their conversations are keyed
// agent:{botId}:openai:dm:{user}, the user being the request's "user"
// field or, without one, the API key's id.
const OpenAIChannel = "openai"

// OpenAIRoute is one route of the OpenAI-compatible endpoint.
type OpenAIRoute struct {
	Route
	// Parse, when set, reads and checks the request before the key is
	// authenticated, so that a malformed request (a malformed model id
	// among them) is refused without a query; it returns the request
	// carrying what it parsed. maxBody caps the body.
	Parse func(r *http.Request, maxBody int64) (*http.Request, error)
}

// OpenAIHandler serves the routes of OpenAIRoutes, mounted at /v1/. Every
// error, the router's own 404 and 405 included, is answered in OpenAI's
// error shape. maxBody caps a request body (0: httpx.DefaultMaxBody).
func (a *API) OpenAIHandler(maxBody int64) http.Handler {
	if maxBody <= 0 {
		maxBody = httpx.DefaultMaxBody
	}
	mux := http.NewServeMux()
	byPattern := map[string][]OpenAIRoute{}
	var patterns []string
	for _, rt := range a.OpenAIRoutes() {
		if _, ok := byPattern[rt.Pattern]; !ok {
			patterns = append(patterns, rt.Pattern)
		}
		byPattern[rt.Pattern] = append(byPattern[rt.Pattern], rt)
	}
	for _, p := range patterns {
		routes := byPattern[p]
		guards := make(map[string]openAIHandlerFunc, len(routes))
		var allowed []string
		for _, rt := range routes {
			guards[rt.Method] = a.openAIGuard(rt, maxBody)
			allowed = append(allowed, rt.Method)
		}
		slices.Sort(allowed)
		mux.Handle(p, openAIErrors(func(w http.ResponseWriter, r *http.Request) error {
			g, ok := guards[r.Method]
			if !ok {
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				return errMethodNotAllowed
			}
			return g(w, r)
		}))
	}
	mux.Handle("/v1/", openAIErrors(func(http.ResponseWriter, *http.Request) error { return errUnknownURL }))
	return mux
}

type openAIHandlerFunc func(w http.ResponseWriter, r *http.Request) error

// openAIGuard runs, in order: path id validation, the route's parsing of
// the body (neither runs a query), key authentication, the permission
// check, the rate limit, then the handler: the same gate as the REST API's.
func (a *API) openAIGuard(rt OpenAIRoute, maxBody int64) openAIHandlerFunc {
	params := palisade.PathWildcards(rt.Pattern)
	return func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range params {
			prefix, ok := palisade.PathParamPrefix(name)
			if !ok || !palisade.ValidID(prefix, r.PathValue(name)) {
				return errModelNotFound
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		if rt.Parse != nil {
			var err error
			if r, err = rt.Parse(r, maxBody); err != nil {
				return err
			}
		}
		p, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="palisade"`)
			return err
		}
		if err := p.Authorize(rt.Perm); err != nil {
			return err
		}
		if err := a.limit(w, r, rt.Route, p); err != nil {
			return err
		}
		if err := a.checkActive(r, rt.Method, p); err != nil {
			return err
		}
		return rt.Handle(w, a.withPrincipal(r, p))
	}
}

// Errors of the endpoint that the services do not raise.
var (
	errModelNotFound    = &palisade.Error{Code: palisade.CodeNotFound, Field: "model", Message: "The model does not exist or you do not have access to it."}
	errUnknownURL       = palisade.Errorf(palisade.CodeNotFound, "Unknown request URL. Please check the URL for typos.")
	errMethodNotAllowed = palisade.Errorf(palisade.CodeInvalid, "method not allowed")
)

// chatCompletionRequest is the part of a Chat Completions request this
// endpoint reads. Every other field OpenAI defines (temperature,
// max_tokens, tools, response_format, …) is accepted and ignored: the
// bot's own settings apply.
type chatCompletionRequest struct {
	Model         string         `json:"model"`
	Messages      []chatMessage  `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	User          string         `json:"user"`
	N             *int           `json:"n"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role    string         `json:"role"`
	Content messageContent `json:"content"`
}

// messageContent is a message's content: a string, null, or an array of
// content parts of which only text (and an assistant's refusal) is
// understood.
type messageContent string

func (c *messageContent) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = messageContent(s)
		return nil
	}
	var parts []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return palisade.FieldError("messages", "a message's content must be a string or an array of text parts")
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case "text":
			texts = append(texts, p.Text)
		case "refusal":
			texts = append(texts, p.Refusal)
		default:
			return palisade.FieldError("messages", "only text content parts are supported")
		}
	}
	*c = messageContent(strings.Join(texts, "\n"))
	return nil
}

// parsedCompletion is a checked request: the bot, the turn and the
// client's history.
type parsedCompletion struct {
	req     chatCompletionRequest
	bot     palisade.BotID
	message string
	history []conversation.Turn
}

type parsedKey struct{}

// parseChatCompletion reads and checks a Chat Completions request without
// a query. The last user message is the turn; user and assistant messages
// before it are the history; system and developer messages are dropped
// (the bot's system prompt rules), as are tool messages, since the bot
// never calls tools.
func parseChatCompletion(r *http.Request, maxBody int64) (*http.Request, error) {
	var in chatCompletionRequest
	if err := httpx.DecodeJSONTolerant(r, &in, maxBody); err != nil {
		return nil, err
	}
	if in.Model == "" {
		return nil, palisade.FieldError("model", "you must provide a model parameter (a bot id)")
	}
	if !palisade.ValidID(palisade.PrefixBot, in.Model) {
		return nil, errModelNotFound
	}
	if in.N != nil && *in.N != 1 {
		return nil, palisade.FieldError("n", "only n=1 is supported")
	}
	if len(in.Messages) == 0 {
		return nil, palisade.FieldError("messages", "messages must not be empty")
	}
	last := -1
	for i, m := range in.Messages {
		switch m.Role {
		case "user":
			last = i
		case "assistant", "system", "developer", "tool", "function":
		default:
			return nil, palisade.FieldError("messages", "a message's role must be system, developer, user, assistant or tool")
		}
	}
	if last < 0 {
		return nil, palisade.FieldError("messages", "messages must contain a user message")
	}
	p := parsedCompletion{req: in, bot: palisade.BotID(in.Model), message: string(in.Messages[last].Content)}
	for _, m := range in.Messages[:last] {
		if (m.Role == "user" || m.Role == "assistant") && strings.TrimSpace(string(m.Content)) != "" {
			p.history = append(p.history, conversation.Turn{Role: m.Role, Content: string(m.Content)})
		}
	}
	return r.WithContext(context.WithValue(r.Context(), parsedKey{}, p)), nil
}

type completionJSON struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Created  int64           `json:"created"`
	Model    string          `json:"model"`
	Choices  []choiceJSON    `json:"choices"`
	Usage    *openAIUsage    `json:"usage,omitempty"`
	Palisade *extensionJSON  `json:"palisade,omitempty"`
	Fprint   json.RawMessage `json:"system_fingerprint"`
}

type choiceJSON struct {
	Index        int             `json:"index"`
	Message      replyJSON       `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type replyJSON struct {
	Role    string          `json:"role"`
	Content string          `json:"content"`
	Refusal json.RawMessage `json:"refusal"`
}

type openAIUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// extensionJSON is what Palisade adds to OpenAI's shapes, under a key of
// its own that clients ignore: the stored conversation, the answer's mode
// and the passages it drew on.
type extensionJSON struct {
	ConversationID palisade.ConversationID `json:"conversation_id"`
	Mode           string                  `json:"mode"`
	Sources        []sourceJSON            `json:"sources"`
}

type chunkJSON struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Created  int64           `json:"created"`
	Model    string          `json:"model"`
	Choices  []chunkChoice   `json:"choices"`
	Usage    any             `json:"usage,omitempty"`
	Palisade *extensionJSON  `json:"palisade,omitempty"`
	Fprint   json.RawMessage `json:"system_fingerprint"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        deltaJSON       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type deltaJSON struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

var jsonNull = json.RawMessage("null")

func usageOf(reply conversation.Reply) *openAIUsage {
	return &openAIUsage{PromptTokens: reply.TokensIn, CompletionTokens: reply.TokensOut, TotalTokens: reply.TokensIn + reply.TokensOut}
}

func extensionOf(reply conversation.Reply) *extensionJSON {
	c := toChatJSON(reply)
	return &extensionJSON{ConversationID: c.ConversationID, Mode: c.Mode, Sources: c.Sources}
}

var completionIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newCompletionID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "chatcmpl-" + completionIDEncoding.EncodeToString(b)
}

func (a *API) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	pc, _ := r.Context().Value(parsedKey{}).(parsedCompletion)
	p, _ := PrincipalFrom(r.Context())
	user := pc.req.User
	if user == "" {
		user = string(p.KeyID)
	}
	in := conversation.Inbound{BotID: pc.bot, Channel: OpenAIChannel, UserID: user, Text: pc.message, ClientHistory: true, History: pc.history}
	id, created := newCompletionID(), time.Now().Unix()
	if pc.req.Stream {
		return a.chatCompletionStream(w, r, p, pc, in, id, created)
	}
	reply, err := a.Conversations.Handle(r.Context(), p.Scope, in)
	if err != nil {
		return completionError(w, err)
	}
	return writeJSON(w, http.StatusOK, completionJSON{ID: id, Object: "chat.completion", Created: created, Model: string(pc.bot),
		Choices: []choiceJSON{{Message: replyJSON{Role: "assistant", Content: reply.Text, Refusal: jsonNull}, Logprobs: jsonNull, FinishReason: "stop"}},
		Usage:   usageOf(reply), Palisade: extensionOf(reply), Fprint: jsonNull})
}

// chatCompletionStream answers as OpenAI streams: chat.completion.chunk
// events, the first with the assistant role, then the text as it is
// generated, a last one with the finish reason, with include_usage a
// usage chunk with no choices, and "data: [DONE]". Refusals before the
// first chunk are ordinary error responses; a failure after it is an
// event {"error": …} (which OpenAI's clients raise as an error) carrying
// only what httpx.PublicError leaves of it, and no [DONE].
func (a *API) chatCompletionStream(w http.ResponseWriter, r *http.Request, p Principal, pc parsedCompletion, in conversation.Inbound, id string, created int64) error {
	events := sse.NewWriter(w)
	includeUsage := pc.req.StreamOptions != nil && pc.req.StreamOptions.IncludeUsage
	chunk := func(d deltaJSON, finish *string) chunkJSON {
		c := chunkJSON{ID: id, Object: "chat.completion.chunk", Created: created, Model: string(pc.bot),
			Choices: []chunkChoice{{Delta: d, Logprobs: jsonNull, FinishReason: finish}}, Fprint: jsonNull}
		if includeUsage {
			c.Usage = jsonNull
		}
		return c
	}
	sent := false
	send := func(text string) error {
		if !sent {
			sent = true
			empty := ""
			if err := events.SendData(chunk(deltaJSON{Role: "assistant", Content: &empty}, nil)); err != nil {
				return err
			}
		}
		if text == "" {
			return nil
		}
		return events.SendData(chunk(deltaJSON{Content: &text}, nil))
	}
	in.OnDelta = send
	reply, err := a.Conversations.Handle(r.Context(), p.Scope, in)
	if err != nil && !events.Started() {
		return completionError(w, err)
	}
	if err != nil {
		return events.SendData(openAIErrorBody(r, err))
	}
	if !sent {
		// Retrieval-only answers, and replays, arrive whole.
		if err := send(reply.Text); err != nil {
			return err
		}
	}
	stop := "stop"
	last := chunk(deltaJSON{}, &stop)
	last.Palisade = extensionOf(reply)
	if err := events.SendData(last); err != nil {
		return err
	}
	if includeUsage {
		u := chunkJSON{ID: id, Object: "chat.completion.chunk", Created: created, Model: string(pc.bot), Choices: []chunkChoice{},
			Usage: usageOf(reply), Fprint: jsonNull}
		if err := events.SendData(u); err != nil {
			return err
		}
	}
	return events.SendLiteral("[DONE]")
}

// completionError turns the conversation service's refusals into the
// endpoint's: an unknown bot (or another workspace's) is an unknown model,
// and a spent daily budget says when it resets.
func completionError(w http.ResponseWriter, err error) error {
	switch {
	case palisade.ErrorCode(err) == palisade.CodeNotFound:
		return errModelNotFound
	case errors.Is(err, gateway.ErrBudget):
		now := time.Now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		w.Header().Set("Retry-After", strconv.FormatInt(int64(midnight.Sub(now)/time.Second)+1, 10))
	}
	return err
}

type modelJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Name is the bot's name, beside OpenAI's fields.
	Name string `json:"name"`
}

func toModelJSON(b palisade.Bot) modelJSON {
	return modelJSON{ID: string(b.ID), Object: "model", Created: b.CreatedAt.Unix(), OwnedBy: "palisade", Name: b.Name}
}

// listModels lists the workspace's bots as models.
func (a *API) listModels(w http.ResponseWriter, r *http.Request) error {
	bots, err := a.Bots.List(r.Context(), scope(r))
	if err != nil {
		return err
	}
	out := struct {
		Object string      `json:"object"`
		Data   []modelJSON `json:"data"`
	}{Object: "list", Data: make([]modelJSON, 0, len(bots))}
	for _, b := range bots {
		out.Data = append(out.Data, toModelJSON(b))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) error {
	b, err := a.Bots.Get(r.Context(), scope(r), botID(r))
	if palisade.ErrorCode(err) == palisade.CodeNotFound {
		return errModelNotFound
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toModelJSON(b))
}

// openAIErrorJSON is OpenAI's error object.
type openAIErrorJSON struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// openAIParams renames the services' field names to the request's.
var openAIParams = map[string]string{"user_id": "user", "message": "messages", "history": "messages"}

// openAIErrorBody reduces err, through httpx.PublicError (which logs the
// cause), to OpenAI's error shape. The type and code follow OpenAI's use:
// what its clients and users look at.
func openAIErrorBody(r *http.Request, err error) map[string]openAIErrorJSON {
	pub := httpx.PublicError(r.Context(), err)
	e := openAIErrorJSON{Message: pub.Message, Type: "invalid_request_error"}
	if pub.Field != "" {
		param := pub.Field
		if renamed, ok := openAIParams[param]; ok {
			param = renamed
		}
		e.Param = &param
	}
	code := ""
	switch pub.Code {
	case palisade.CodeInvalid:
		if errors.Is(err, errMethodNotAllowed) {
			code = "method_not_allowed"
		}
	case palisade.CodeUnauthorized:
		code = "invalid_api_key"
	case palisade.CodeForbidden:
		e.Type, code = "permission_error", "insufficient_permissions"
	case palisade.CodeSuspended:
		e.Type, code = "permission_error", "workspace_suspended"
	case palisade.CodeNotFound:
		code = "unknown_url"
		if pub.Field == "model" {
			code = "model_not_found"
		}
	case palisade.CodeConflict:
		code = "conflict"
	case palisade.CodeTooLarge:
		code = "request_too_large"
	case palisade.CodeRateLimited:
		e.Type, code = "rate_limit_error", "rate_limit_exceeded"
		if errors.Is(err, gateway.ErrBudget) {
			e.Type, code = "insufficient_quota", "insufficient_quota"
		}
	case palisade.CodeUnavailable:
		e.Type, code = "server_error", "service_unavailable"
	default:
		e.Type = "server_error"
	}
	if code != "" {
		e.Code = &code
	}
	if pub.ErrorID != "" {
		e.Message += " (error id " + pub.ErrorID + ")"
	}
	return map[string]openAIErrorJSON{"error": e}
}

// openAIStatus is the status of an error: the closed set's, but 405 for
// an unserved method.
func openAIStatus(err error) int {
	if errors.Is(err, errMethodNotAllowed) {
		return http.StatusMethodNotAllowed
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	var pe *palisade.Error
	if !errors.As(err, &pe) {
		return http.StatusInternalServerError
	}
	return httpx.Status(pe.Code)
}

// openAIErrors adapts an error-returning handler, answering its error in
// OpenAI's shape, unless the response has begun.
func openAIErrors(h openAIHandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &startWriter{ResponseWriter: w}
		err := h(sw, r)
		if err == nil {
			return
		}
		if sw.started {
			httpx.Logger(r.Context()).ErrorContext(r.Context(), "error after the response had started; not sent to the client", "err", err)
			return
		}
		body := openAIErrorBody(r, err)
		hdr := w.Header()
		for _, k := range []string{"Content-Length", "Content-Disposition", "Content-Range", "ETag", "Last-Modified"} {
			hdr.Del(k)
		}
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Content-Type", "application/json")
		w.WriteHeader(openAIStatus(err))
		_ = json.NewEncoder(w).Encode(body)
	})
}

// startWriter notes whether the response has begun, so that an error
// after it is logged instead of written into the middle of a body.
type startWriter struct {
	http.ResponseWriter
	started bool
}

func (s *startWriter) WriteHeader(code int) {
	s.started = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *startWriter) Write(b []byte) (int, error) {
	s.started = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer to
// flush streamed events.
func (s *startWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
