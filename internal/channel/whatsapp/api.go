package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/secret"
)

// callTimeout bounds one Graph API call.
const callTimeout = 30 * time.Second

// maxAnswer caps a Graph API answer; the largest we read is a few hundred
// bytes.
const maxAnswer = 1 << 20

// graphError is a Graph API call that did not succeed (the error object
// of protocols.md §2.4). It never holds the URL or the access token.
type graphError struct {
	what string
	// status is the HTTP status; 0 when no answer came.
	status     int
	code       int
	subcode    int
	message    string
	retryAfter time.Duration
	cause      error
}

func (e *graphError) Error() string {
	switch {
	case e.status == 0:
		return fmt.Sprintf("whatsapp %s: no answer: %v", e.what, e.cause)
	case e.code != 0:
		return fmt.Sprintf("whatsapp %s: HTTP %d: error %d: %s", e.what, e.status, e.code, e.message)
	}
	return fmt.Sprintf("whatsapp %s: HTTP %d", e.what, e.status)
}

func (e *graphError) Unwrap() error { return e.cause }

// tokenRejected: the access token is invalid, expired or revoked (Graph
// error 190, or a 401).
func (e *graphError) tokenRejected() bool {
	return e.code == 190 || e.status == http.StatusUnauthorized
}

// rateLimitWait is how long each of Meta's rate-limit errors asks to
// wait when the answer has no Retry-After: 130429 is the phone number's
// throughput (per second), 131056 the pair rate to one user (about one
// message every 6 s), 4 and 80007 the app's and the account's call
// limits.
var rateLimitWait = map[int]time.Duration{
	130429: time.Second,
	131056: 6 * time.Second,
	4:      time.Minute,
	80007:  time.Minute,
}

// transientCodes are Graph errors that may pass: unknown and temporary
// errors, the service unavailable.
var transientCodes = map[int]bool{1: true, 2: true, 131000: true, 131016: true}

// call sends a Graph API request with the access token as a bearer token
// and decodes a success into out (when not nil). Its errors never quote
// the URL or the token.
func (p *Platform) call(ctx context.Context, token secret.Secret, what, method, path string, params, out any) error {
	var body io.Reader
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("whatsapp %s: encoding the request: %w", what, err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return &graphError{what: what, cause: errors.New("the request could not be built")}
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	if params != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return &graphError{what: what, cause: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &graphError{what: what, status: resp.StatusCode, cause: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		e := &graphError{what: what, status: resp.StatusCode}
		var env struct {
			Error *struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
				Subcode int    `json:"error_subcode"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && env.Error != nil {
			e.code, e.subcode = env.Error.Code, env.Error.Subcode
			msg := env.Error.Message
			if t := token.Reveal(); t != "" {
				msg = strings.ReplaceAll(msg, t, "[token]")
			}
			e.message = channel.Printable(msg, 200)
		}
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			e.retryAfter = time.Duration(min(s, 3600)) * time.Second
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &graphError{what: what, status: resp.StatusCode, cause: errors.New("the answer is not what the Graph API returns")}
		}
	}
	return nil
}

// phoneNumberInfo is the phone number node's fields the adapter reads.
type phoneNumberInfo struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
}

func (p *Platform) phoneNumber(ctx context.Context, token secret.Secret, phoneID string) (phoneNumberInfo, error) {
	var n phoneNumberInfo
	q := url.Values{"fields": {"display_phone_number,verified_name"}}
	err := p.call(ctx, token, "phone number read", http.MethodGet, "/"+phoneID+"?"+q.Encode(), nil, &n)
	if err == nil && n.ID != phoneID {
		err = &graphError{what: "phone number read", status: http.StatusNotFound, message: "the answer is for another phone number"}
	}
	return n, err
}

// textMessage is the messages endpoint's body for a text (§2.4).
type textMessage struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Text             struct {
		PreviewURL bool   `json:"preview_url"`
		Body       string `json:"body"`
	} `json:"text"`
}

// Send sends one part to the user through the messages endpoint, without
// link previews (a model's text should not make WhatsApp fetch URLs).
func (p *Platform) Send(ctx context.Context, creds secret.Secret, o channel.Outgoing) error {
	tok, phoneID, err := credentials(creds)
	if err != nil {
		return &channel.SendError{Code: "credentials", Final: true, Err: err}
	}
	if !waIDPattern.MatchString(o.Route.Chat) {
		return &channel.SendError{Code: "route", Final: true, Err: errors.New("the reply route has no WhatsApp user id")}
	}
	m := textMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: o.Route.Chat, Type: "text"}
	m.Text.Body = o.Text
	var res struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	err = p.call(ctx, tok, "messages", http.MethodPost, "/"+phoneID+"/messages", m, &res)
	if err != nil {
		return sendError(err)
	}
	return nil
}

// sendError classifies a failed send: HTTP 429 and Meta's rate-limit
// codes wait (Retry-After, else the code's own pace); a rejected token and
// other 4xx answers (the 24-hour window closed, the user cannot be
// reached, a bad parameter) are final; 5xx, Meta's transient codes and no
// answer may pass.
func sendError(err error) error {
	var ge *graphError
	if !errors.As(err, &ge) {
		return &channel.SendError{Err: err}
	}
	se := &channel.SendError{Status: ge.status, Err: err}
	if ge.code != 0 {
		se.Code = strconv.Itoa(ge.code)
	}
	wait, limited := rateLimitWait[ge.code]
	switch {
	case ge.status == 0:
		se.Code = "unreachable"
	case ge.status == http.StatusTooManyRequests || limited:
		if se.Code == "" {
			se.Code = "rate_limited"
		}
		se.After = ge.retryAfter
		if se.After <= 0 {
			se.After = max(wait, time.Second)
		}
	case ge.tokenRejected():
		se.Code, se.Final = "token_rejected", true
	case transientCodes[ge.code] || ge.status/100 == 5:
		if se.Code == "" {
			se.Code = "http_" + strconv.Itoa(ge.status)
		}
	case ge.status/100 == 4:
		se.Final = true
		if se.Code == "" {
			se.Code = "http_" + strconv.Itoa(ge.status)
		}
	default:
		se.Code = "http_" + strconv.Itoa(ge.status)
	}
	return se
}
