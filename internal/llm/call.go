package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// Defaults of CallerConfig.
const (
	DefaultTimeout          = 120 * time.Second
	DefaultMaxResponseBytes = 16 << 20
	maxErrorBody            = 64 << 10
)

// CallerConfig configures a Caller. Adapters fill it from their own Config.
type CallerConfig struct {
	Provider string // label put into every Error
	// HTTPClient sends the requests; required. In production it is the egress
	// client. Caller uses a copy that refuses redirects, because a redirect
	// would carry our custom auth headers (x-api-key, x-goog-api-key) to
	// wherever the provider pointed.
	HTTPClient *http.Client
	// APIKey is only used here to scrub the key out of errors.
	APIKey secret.Secret
	// Timeout bounds a whole call: every attempt, every wait between them and
	// the reading of the stream. Default DefaultTimeout.
	Timeout time.Duration
	Retry   RetryPolicy
	// MaxResponseBytes caps a response body (a whole stream included).
	MaxResponseBytes int64
	// MaxSSELine and MaxSSEEvent cap the sse.Reader; zero means its defaults.
	MaxSSELine, MaxSSEEvent int
	// DecodeError reads the provider's error body. It returns nil when the
	// body is not in the provider's shape. Status, Provider, Retryable and
	// (unless it set one) RetryAfter are filled in by the Caller.
	DecodeError func(status int, body []byte) *Error
}

// Caller runs HTTP exchanges with a provider for an adapter: per-call
// time-out, retries, capped bodies, SSE, and the one place errors are
// normalised and scrubbed.
type Caller struct {
	provider    string
	client      *http.Client
	scrub       *Scrubber
	retry       RetryPolicy
	timeout     time.Duration
	maxBody     int64
	maxLine     int
	maxEvent    int
	decodeError func(status int, body []byte) *Error
}

// NewCaller checks cfg and returns a Caller.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("llm: an HTTP client is required (the egress client; never http.DefaultClient)")
	}
	if !validHeaderValue(cfg.APIKey.Reveal()) {
		return nil, errors.New("llm: the API key contains characters not allowed in a header")
	}
	client := *cfg.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Caller{
		provider:    cfg.Provider,
		client:      &client,
		scrub:       NewScrubber(cfg.APIKey.Reveal()),
		retry:       cfg.Retry.withDefaults(),
		timeout:     cfg.Timeout,
		maxBody:     cfg.MaxResponseBytes,
		maxLine:     cfg.MaxSSELine,
		maxEvent:    cfg.MaxSSEEvent,
		decodeError: cfg.DecodeError,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	return c, nil
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

// Call is one request to send. Header must carry the credentials; the Caller
// adds Content-Type and Accept.
type Call struct {
	URL    string
	Header http.Header
	Body   []byte
}

// Complete sends call, retrying as the policy allows, and hands the body of a
// successful response to decode.
func (c *Caller) Complete(ctx context.Context, call Call, decode func(body []byte) (Response, error)) (Response, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res, err := c.completeOnce(ctx, call, decode)
		if err == nil {
			return res, nil
		}
		e := c.normalise(ctx, err)
		e.Path = c.pathOf(call.URL)
		if !c.waitToRetry(ctx, attempt, e) {
			return Response{}, e
		}
	}
}

func (c *Caller) completeOnce(ctx context.Context, call Call, decode func([]byte) (Response, error)) (Response, error) {
	resp, err := c.send(ctx, call, "application/json")
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(&cappedReader{r: resp.Body, left: c.maxBody})
	if err != nil {
		return Response{}, err
	}
	return decode(body)
}

// StreamDecoder reads a provider's events and calls emit with each piece of
// answer text. It returns the finish reason, model and usage; the Caller
// fills Response.Text with what was emitted. It must return an error when the
// stream ends without its terminator, and must return emit's error as is.
type StreamDecoder func(events *sse.Reader, emit func(string) error) (Response, error)

// Stream sends call and decodes the event stream. It retries like Complete
// until the first piece of text has reached onDelta, and never after.
func (c *Caller) Stream(ctx context.Context, call Call, decode StreamDecoder, onDelta func(string) error) (Response, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		var text strings.Builder
		delivered := false
		emit := func(s string) error {
			if s == "" {
				return nil
			}
			delivered = true
			text.WriteString(s)
			if err := onDelta(s); err != nil {
				return &callbackError{err}
			}
			return nil
		}
		res, err := c.streamOnce(ctx, call, decode, emit)
		if err == nil {
			res.Text = text.String()
			return res, nil
		}
		var cb *callbackError
		if errors.As(err, &cb) {
			return Response{}, cb.err
		}
		e := c.normalise(ctx, err)
		e.Path = c.pathOf(call.URL)
		if delivered || !c.waitToRetry(ctx, attempt, e) {
			return Response{}, e
		}
	}
}

func (c *Caller) streamOnce(ctx context.Context, call Call, decode StreamDecoder, emit func(string) error) (Response, error) {
	resp, err := c.send(ctx, call, "text/event-stream")
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	events := sse.NewReader(&cappedReader{r: resp.Body, left: c.maxBody}, c.maxLine, c.maxEvent)
	return decode(events, emit)
}

// callbackError marks an error returned by the caller's onDelta, which is
// handed back untouched and never retried.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

func (c *Caller) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.timeout, errCallTimeout)
}

var errCallTimeout = errors.New("llm: per-call time-out")

// send performs one HTTP exchange and turns any non-2xx answer into an *Error.
func (c *Caller) send(ctx context.Context, call Call, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.URL, bytes.NewReader(call.Body))
	if err != nil {
		return nil, &Error{Type: TypeInvalidRequest, Message: "cannot build the request"}
	}
	for k, vs := range call.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, c.statusError(resp, body)
}

func (c *Caller) statusError(resp *http.Response, body []byte) *Error {
	status := resp.StatusCode
	if status >= 300 && status < 400 {
		return &Error{Status: status, Type: TypeRedirect, Message: "the provider answered with a redirect; redirects are not followed"}
	}
	var e *Error
	if c.decodeError != nil {
		e = c.decodeError(status, body)
	}
	if e == nil {
		e = &Error{Type: TypeHTTP, Message: http.StatusText(status)}
	}
	e.Status = status
	e.Retryable = status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
	if ra := ParseRetryAfter(resp.Header, c.retry.Now()); ra > 0 {
		e.RetryAfter = ra
	}
	if e.RequestID == "" {
		e.RequestID = firstHeader(resp.Header, "Request-Id", "X-Request-Id")
	}
	return e
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// waitToRetry reports whether to try again, after waiting as the policy says.
func (c *Caller) waitToRetry(ctx context.Context, attempt int, e *Error) bool {
	if ctx.Err() != nil {
		return false
	}
	d, ok := c.retry.wait(attempt, e)
	if !ok {
		return false
	}
	if deadline, has := ctx.Deadline(); has && time.Until(deadline) < d {
		return false // waiting would only end in our own time-out
	}
	return c.retry.Sleep(ctx, d) == nil && ctx.Err() == nil
}

// pathOf is the path of a request URL as an Error names it: the real
// path, so a log shows which endpoint failed, but never the query (where
// some APIs take keys) and scrubbed like every other field.
func (c *Caller) pathOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return c.scrub.Clean(u.EscapedPath())
}

// normalise turns any error of an attempt into a scrubbed *Error.
func (c *Caller) normalise(ctx context.Context, err error) *Error {
	var e *Error
	switch {
	case ctx.Err() != nil:
		e = ctxError(ctx)
	case errors.As(err, &e):
		cp := *e // never mutate an error a decoder may share
		e = &cp
	case errors.Is(err, errTooLarge):
		e = &Error{Type: TypeTooLarge, Message: "the response passed its size cap"}
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
		e = &Error{Type: TypeTooLarge, Message: err.Error()}
	case isTransport(err):
		e = &Error{Type: TypeTransport, Message: err.Error(), Retryable: retryableTransport(err)}
		if c.scrub.Scrub(printable(err.Error())) == printable(err.Error()) {
			// Kept for errors.Is/As (an egress denial, a dial error) only
			// when its text has nothing to scrub: Unwrap must not reach a key.
			e.cause = err
		}
	default:
		e = &Error{Type: TypeBadResponse, Message: err.Error()}
	}
	e.Provider = c.provider
	e.Type = c.scrub.Clean(e.Type)
	e.Message = c.scrub.Clean(e.Message)
	e.RequestID = c.scrub.Clean(e.RequestID)
	return e
}

func ctxError(ctx context.Context) *Error {
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		return &Error{Type: TypeTimeout, Message: "the call passed its time-out", Retryable: true, cause: context.DeadlineExceeded}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Type: TypeTimeout, Message: "the caller's deadline passed", Retryable: true, cause: context.DeadlineExceeded}
	}
	return &Error{Type: TypeCanceled, Message: "the call was canceled", cause: context.Canceled}
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// retryableTransport lists the failures where the provider most likely never
// saw the request or the connection simply broke. Anything else (a refusal by
// the egress policy, a TLS failure) would fail the same way again.
func retryableTransport(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || (errors.As(err, &ne) && ne.Timeout())
}

var errTooLarge = errors.New("response too large")

// cappedReader fails, rather than truncating silently, when a body passes its cap.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body of exactly the cap from a longer one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// Endpoint joins a provider base URL and a path, refusing base URLs that
// would carry credentials or surprises: only http and https, a host, no user
// info, no query, no fragment.
func Endpoint(base, path string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return "", fmt.Errorf("llm: base URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("llm: base URL must be http or https")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("llm: base URL must be scheme://host[/path] with no user info, query or fragment")
	}
	return u.String() + path, nil
}
