// Package llmtest provides fake LLM provider servers for tests and
// benchmarks: httptest servers on loopback that speak the real wire formats
// of OpenAI Chat Completions, Anthropic Messages and Gemini generateContent
// (headers, JSON shapes, error envelopes, SSE framing, stream terminators,
// usage), so code that passes against them works against the real services.
// Each can check the API key, inject failures (429 with Retry-After, 5xx and
// 529, an error event in the middle of a stream, a stream cut without its
// terminator), add latency, and records every request it received.
//
// It must never be imported by non-test code, listen on anything but
// loopback, or reach the internet.
package llmtest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
)

// DefaultText is the reply when Options has neither Text nor Reply.
const DefaultText = "Hello from the fake provider. It speaks the real wire format."

// Options configures a fake server. The zero value accepts any key (or none)
// and answers DefaultText at full speed.
type Options struct {
	// APIKey is the credential the server expects. Empty: not checked. On a
	// mismatch the server answers as the real one does: 401 in the provider's
	// error shape (Gemini: 400 API_KEY_INVALID, or 403 when no key was sent).
	APIKey string
	// EchoKey makes the authentication error quote the whole key it received,
	// as some compatible servers do, instead of the real provider's masked
	// form. Use it to test that errors are scrubbed.
	EchoKey bool
	// Text is the reply; Reply, if set, computes it from the request instead.
	Text  string
	Reply func(Received) string
	// Faults are applied one per request, in order; see also Server.Inject.
	Faults []Fault
	// Latency is waited before each response; DeltaLatency between stream
	// deltas. Zero by default, so benchmarks measure our code.
	Latency      time.Duration
	DeltaLatency time.Duration
	// Model is the model named in responses. Default: the requested one.
	Model string

	// OpenAI-compatible only.
	// GroqUsage reports stream usage the way Groq does, in x_groq.usage of
	// the final chunk, instead of a usage chunk.
	GroqUsage bool
	// RejectMaxTokens refuses max_tokens as OpenAI's reasoning models do.
	RejectMaxTokens bool

	// Gemini only.
	// Thought is sent as a thought part (thought: true) before the answer.
	Thought string
	// BlockReason blocks the prompt: no candidates, promptFeedback.blockReason.
	BlockReason string
}

// FaultKind names an injected failure.
type FaultKind int

const (
	// FaultRateLimit answers 429 with Fault.RetryAfter (Gemini: as RetryInfo
	// in the error details when it is a number of seconds, as the real API
	// does; as a Retry-After header otherwise).
	FaultRateLimit FaultKind = iota + 1
	// FaultServerError answers Fault.Status (default 500; 529 on Anthropic
	// is overloaded_error, 503 on Gemini is UNAVAILABLE).
	FaultServerError
	// FaultMidStream sends Fault.Deltas deltas, then the provider's error
	// event, then ends. A non-streaming request gets a 500.
	FaultMidStream
	// FaultCut sends Fault.Deltas deltas, then ends the stream cleanly but
	// without its terminator ([DONE], message_stop, a finish reason). A
	// non-streaming request gets half of its JSON body.
	FaultCut
	// FaultAbort sends Fault.Deltas deltas, then drops the connection.
	FaultAbort
)

// Fault is one injected failure.
type Fault struct {
	Kind       FaultKind
	Status     int
	RetryAfter string // Retry-After value: seconds ("7") or an HTTP date
	Deltas     int
}

// RateLimited is a 429 asking to wait retryAfter ("" for no header).
func RateLimited(retryAfter string) Fault {
	return Fault{Kind: FaultRateLimit, RetryAfter: retryAfter}
}

// ServerError is an error status such as 500, 503 or 529.
func ServerError(status int) Fault { return Fault{Kind: FaultServerError, Status: status} }

// MidStreamError is an error event after afterDeltas deltas.
func MidStreamError(afterDeltas int) Fault { return Fault{Kind: FaultMidStream, Deltas: afterDeltas} }

// CutStream ends the stream without terminator after afterDeltas deltas.
func CutStream(afterDeltas int) Fault { return Fault{Kind: FaultCut, Deltas: afterDeltas} }

// AbortStream drops the connection after afterDeltas deltas.
func AbortStream(afterDeltas int) Fault { return Fault{Kind: FaultAbort, Deltas: afterDeltas} }

// Received is a request as the fake server saw it, raw and parsed into
// provider-neutral terms.
type Received struct {
	Method string
	Path   string
	Query  string // raw query string
	Header http.Header
	Body   []byte

	Key            string // the credential, from the provider's auth header
	Model          string
	System         string        // the system prompt, from where the provider takes it
	Messages       []llm.Message // user and assistant turns, roles in llm terms
	MaxTokens      int
	MaxTokensField string // the JSON field that carried MaxTokens
	Temperature    *float64
	Stream         bool
	IncludeUsage   bool // OpenAI: stream_options.include_usage
	ParseError     string
}

// Server is a running fake provider.
type Server struct {
	// URL is the base URL to configure the adapter with: ".../v1" for
	// OpenAI, the root for Anthropic, ".../v1beta" for Gemini.
	URL string

	srv  *httptest.Server
	opts Options
	d    dialect

	mu       sync.Mutex
	received []Received
	faults   []Fault
	seq      int
}

// Client returns an HTTP client for the server (loopback only).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops the server. The constructors also register it with tb.Cleanup.
func (s *Server) Close() { s.srv.Close() }

// Requests returns a copy of every request received so far.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Inject queues faults for the next requests.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

func (s *Server) nextFault() *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return &f
}

func (s *Server) nextID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// Deltas splits text the way the fakes stream it: one piece per word, each
// keeping the spaces after it. Tests use it to know what to expect.
func Deltas(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		j := i
		for j < len(text) && text[j] == ' ' {
			j++
		}
		out = append(out, text[:j])
		text = text[j:]
	}
	return out
}

// CountTokens is the fakes' token count: one per whitespace-separated word.
func CountTokens(s string) int { return len(strings.Fields(s)) }

// InputTokens is what the fakes report as input tokens for a request.
func InputTokens(r Received) int {
	n := CountTokens(r.System)
	for _, m := range r.Messages {
		n += CountTokens(m.Content)
	}
	return n
}

// dialect is what differs between the three providers.
type dialect interface {
	base() string
	// route says whether the path is an endpoint, whether it streams, and
	// the model it names (Gemini puts it in the path).
	route(r *http.Request) (ok, stream bool, model string)
	// parse fills rec from the request; it returns a 400 message on a bad one.
	parse(r *http.Request, rec *Received) string
	key(r *http.Request) string
	writeError(w http.ResponseWriter, s *Server, status int, kind, msg, retryAfter string)
	authError(w http.ResponseWriter, s *Server, got string)
	complete(w http.ResponseWriter, s *Server, rec Received, text string, f *Fault)
	stream(w http.ResponseWriter, r *http.Request, s *Server, rec Received, text string, f *Fault)
}

// Error kinds passed to dialect.writeError.
const (
	errNotFound   = "not_found"
	errInvalid    = "invalid"
	errRateLimit  = "rate_limit"
	errServer     = "server"
	errOverloaded = "overloaded"
)

const maxRequestBody = 8 << 20

func newServer(tb testing.TB, o Options, d dialect) *Server {
	tb.Helper()
	s := &Server{opts: o, d: d, faults: append([]Fault(nil), o.Faults...)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + d.base()
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ok, stream, model := s.d.route(r)
	if !ok {
		s.d.writeError(w, s, http.StatusNotFound, errNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path, "")
		return
	}
	if r.Method != http.MethodPost {
		s.d.writeError(w, s, http.StatusMethodNotAllowed, errInvalid, "method not allowed", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		s.d.writeError(w, s, http.StatusRequestEntityTooLarge, errInvalid, "request too large", "")
		return
	}
	rec := Received{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Key: s.d.key(r), Stream: stream, Model: model,
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	bad := s.d.parse(r, &rec)
	rec.ParseError = bad
	stream = rec.Stream // OpenAI and Anthropic say it in the body
	s.mu.Lock()
	s.received = append(s.received, rec)
	s.mu.Unlock()

	if !sleep(r.Context(), s.opts.Latency) {
		return
	}
	if s.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(rec.Key), []byte(s.opts.APIKey)) != 1 {
		s.d.authError(w, s, rec.Key)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.d.writeError(w, s, http.StatusBadRequest, errInvalid, "Content-Type must be application/json", "")
		return
	}
	if bad != "" {
		s.d.writeError(w, s, http.StatusBadRequest, errInvalid, bad, "")
		return
	}
	f := s.nextFault()
	if f != nil {
		switch f.Kind {
		case FaultRateLimit:
			s.d.writeError(w, s, http.StatusTooManyRequests, errRateLimit, "Rate limit reached. Please try again later.", f.RetryAfter)
			return
		case FaultServerError:
			st := f.Status
			if st == 0 {
				st = http.StatusInternalServerError
			}
			kind := errServer
			if st == 529 || st == http.StatusServiceUnavailable {
				kind = errOverloaded
			}
			s.d.writeError(w, s, st, kind, "The server had an error while processing your request.", f.RetryAfter)
			return
		case FaultMidStream, FaultAbort:
			if !stream {
				s.d.writeError(w, s, http.StatusInternalServerError, errServer, "The server had an error while processing your request.", "")
				return
			}
		}
	}
	text := s.opts.Text
	if text == "" {
		text = DefaultText
	}
	if s.opts.Reply != nil {
		text = s.opts.Reply(rec)
	}
	if s.opts.Model != "" {
		rec.Model = s.opts.Model
	}
	if stream {
		s.d.stream(w, r, s, rec, text, f)
		return
	}
	s.d.complete(w, s, rec, text, f)
}

// streamDeltas writes the deltas of text with write, honouring DeltaLatency
// and a fault's delta count. It reports whether the fault (if any) now
// applies, and false in stop if the client went away.
func (s *Server) streamDeltas(ctx context.Context, w http.ResponseWriter, text string, f *Fault, write func(delta string, i int)) (faultNow, stop bool) {
	deltas := Deltas(text)
	limit := len(deltas)
	if f != nil && (f.Kind == FaultMidStream || f.Kind == FaultCut || f.Kind == FaultAbort) {
		limit = min(f.Deltas, len(deltas))
		faultNow = true
	}
	for i := range limit {
		if i > 0 && !sleep(ctx, s.opts.DeltaLatency) {
			return false, true
		}
		write(deltas[i], i)
		flush(w)
	}
	if faultNow && f.Kind == FaultAbort {
		// Drops the connection without ending the chunked body.
		panic(http.ErrAbortHandler)
	}
	return faultNow, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own values always marshal
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush(w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// halfJSON is a complete response body cut in the middle.
func halfJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b[:len(b)/2])
}

// textOf reads message content that is either a string or a list of text
// blocks/parts, as the providers accept both.
func textOf(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return "", false
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" || bl.Type == "" {
			b.WriteString(bl.Text)
		}
	}
	return b.String(), true
}

// unknownFields lists the members of obj not in allowed.
func unknownFields(obj map[string]json.RawMessage, allowed ...string) []string {
	var out []string
	for k := range obj {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

func idOf(prefix string, n int) string { return fmt.Sprintf("%s%024d", prefix, n) }
