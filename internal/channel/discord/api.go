package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/secret"
)

// callTimeout bounds one REST call.
const callTimeout = 30 * time.Second

// maxAnswer caps a REST answer; the largest we read (a message, the
// application) is a few kilobytes.
const maxAnswer = 1 << 20

// UserAgent is the User-Agent Discord asks bots to send (protocols.md §4.3).
const UserAgent = "DiscordBot (https://github.com/palisadehq/palisade, 1)"

// apiError is a REST call that did not succeed. It never holds the URL:
// an interaction token is in the path of the webhook endpoints.
type apiError struct {
	route string
	// status is the HTTP status; 0 when no answer came.
	status  int
	code    int
	message string
	// retryAfter is the rate-limit answer of a 429.
	retryAfter time.Duration
	cause      error
}

func (e *apiError) Error() string {
	switch {
	case e.status == 0:
		return fmt.Sprintf("discord %s: no answer: %v", e.route, e.cause)
	case e.message != "":
		return fmt.Sprintf("discord %s: HTTP %d: %s (code %d)", e.route, e.status, e.message, e.code)
	}
	return fmt.Sprintf("discord %s: HTTP %d", e.route, e.status)
}

func (e *apiError) Unwrap() error { return e.cause }

// errorBody is Discord's error answer, and the 429 answer with its
// retry_after in (fractional) seconds (§4.4).
type errorBody struct {
	Code       int     `json:"code"`
	Message    string  `json:"message"`
	RetryAfter float64 `json:"retry_after"`
	Global     bool    `json:"global"`
}

// call sends a request to the REST API: route names it for errors
// ("POST /channels/{id}/messages"), path is under the base URL, token is
// the bot token (zero for the interaction webhook endpoints, which the
// interaction token in their path authenticates). The answer is decoded
// into out when not nil.
func (p *Platform) call(ctx context.Context, method, route, path string, token secret.Secret, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("discord %s: encoding the request: %w", route, err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		// Never passed on: it would quote the URL.
		return &apiError{route: route, cause: errors.New("the request could not be built")}
	}
	req.Header.Set("User-Agent", UserAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !token.IsZero() {
		req.Header.Set("Authorization", "Bot "+token.Reveal())
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return &apiError{route: route, cause: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &apiError{route: route, status: resp.StatusCode, cause: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{route: route, status: resp.StatusCode}
		var eb errorBody
		if json.Unmarshal(raw, &eb) == nil {
			e.code, e.message = eb.Code, channel.Printable(eb.Message, 200)
			if eb.RetryAfter > 0 && eb.RetryAfter < math.MaxInt32 {
				e.retryAfter = time.Duration(eb.RetryAfter * float64(time.Second))
			}
		}
		if e.retryAfter <= 0 && resp.StatusCode == http.StatusTooManyRequests {
			if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil && s > 0 && s < math.MaxInt32 {
				e.retryAfter = time.Duration(s * float64(time.Second))
			}
		}
		return e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, out); err != nil {
			return &apiError{route: route, status: resp.StatusCode, cause: errors.New("the answer is not what the REST API returns")}
		}
	}
	return nil
}

// user is a Discord User (the fields read).
type user struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Bot      bool   `json:"bot"`
}

// application is the Application object (the fields read): verify_key is
// the public key interactions are signed with.
type application struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	VerifyKey string `json:"verify_key"`
}

// command is an application command as registered (§4.1): CHAT_INPUT
// (type 1) with one required string option (type 3).
type command struct {
	ID               string          `json:"id,omitempty"`
	Name             string          `json:"name"`
	Type             int             `json:"type"`
	Description      string          `json:"description"`
	Options          []commandOption `json:"options"`
	Contexts         []int           `json:"contexts,omitempty"`
	IntegrationTypes []int           `json:"integration_types,omitempty"`
}

type commandOption struct {
	Type        int    `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	MaxLength   int    `json:"max_length,omitempty"`
}

// allowedMentions is always sent empty: text from a model or a user must
// never ping anyone.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type messageReference struct {
	MessageID       string `json:"message_id"`
	FailIfNotExists bool   `json:"fail_if_not_exists"`
}

// createMessage is POST /channels/{id}/messages (§4.3).
type createMessage struct {
	Content          string            `json:"content"`
	AllowedMentions  allowedMentions   `json:"allowed_mentions"`
	Nonce            string            `json:"nonce,omitempty"`
	EnforceNonce     bool              `json:"enforce_nonce,omitempty"`
	MessageReference *messageReference `json:"message_reference,omitempty"`
}

// editMessage is the edit of an interaction's original response, and the
// body of a follow-up.
type editMessage struct {
	Content         string          `json:"content"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

func (p *Platform) me(ctx context.Context, token secret.Secret) (user, error) {
	var u user
	err := p.call(ctx, http.MethodGet, "GET /users/@me", "/users/@me", token, nil, &u)
	return u, err
}

func (p *Platform) app(ctx context.Context, token secret.Secret) (application, error) {
	var a application
	err := p.call(ctx, http.MethodGet, "GET /applications/@me", "/applications/@me", token, nil, &a)
	return a, err
}
