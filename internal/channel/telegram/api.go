package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/secret"
)

// callTimeout bounds one Bot API call.
const callTimeout = 30 * time.Second

// maxAnswer caps a Bot API answer; the largest we read (a sent Message)
// is a few kilobytes.
const maxAnswer = 1 << 20

// envelope is every Bot API answer (protocols.md §1.1).
type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// apiError is a Bot API call that did not succeed. It never holds the
// URL: the bot token is in its path.
type apiError struct {
	method string
	// status is the HTTP status; 0 when no answer came.
	status      int
	code        int
	description string
	retryAfter  time.Duration
	cause       error
}

func (e *apiError) Error() string {
	switch {
	case e.status == 0:
		return fmt.Sprintf("telegram %s: no answer: %v", e.method, e.cause)
	case e.description != "":
		return fmt.Sprintf("telegram %s: HTTP %d: %s", e.method, e.status, e.description)
	}
	return fmt.Sprintf("telegram %s: HTTP %d", e.method, e.status)
}

func (e *apiError) Unwrap() error { return e.cause }

// call posts params as JSON to the Bot API method with the bot's token
// and decodes the result into out (when not nil). The request goes
// through the egress client's Do, whose errors never quote the URL; no
// error made here quotes it either.
func (p *Platform) call(ctx context.Context, token secret.Secret, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram %s: encoding the request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	// The token was checked against its pattern when the channel was
	// connected, so the URL parses; should it not, the error is not
	// passed on, because it would quote the URL.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/bot"+token.Reveal()+"/"+method, bytes.NewReader(body))
	if err != nil {
		return &apiError{method: method, cause: errors.New("the request could not be built")}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return &apiError{method: method, cause: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &apiError{method: method, status: resp.StatusCode, cause: fmt.Errorf("reading the answer: %w", err)}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		// A proxy's error page, or a server in trouble.
		return &apiError{method: method, status: resp.StatusCode, cause: errors.New("the answer is not a Bot API answer")}
	}
	if !env.OK || resp.StatusCode/100 != 2 {
		e := &apiError{method: method, status: resp.StatusCode, code: env.ErrorCode, description: channel.Printable(env.Description, 200)}
		if env.Parameters != nil && env.Parameters.RetryAfter > 0 {
			e.retryAfter = time.Duration(env.Parameters.RetryAfter) * time.Second
		}
		if e.status/100 == 2 {
			// ok:false with a 2xx status never happens; treat it as the
			// error code says.
			e.status = max(e.code, http.StatusBadRequest)
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return &apiError{method: method, status: resp.StatusCode, cause: errors.New("the result is not what the Bot API returns")}
		}
	}
	return nil
}

// user is a Telegram User.
type user struct {
	ID       int64  `json:"id"`
	IsBot    bool   `json:"is_bot"`
	Username string `json:"username"`
}

func (p *Platform) getMe(ctx context.Context, token secret.Secret) (user, error) {
	var u user
	err := p.call(ctx, token, "getMe", struct{}{}, &u)
	return u, err
}

type setWebhookParams struct {
	URL                string   `json:"url"`
	SecretToken        string   `json:"secret_token"`
	AllowedUpdates     []string `json:"allowed_updates"`
	DropPendingUpdates bool     `json:"drop_pending_updates"`
}

type webhookInfo struct {
	URL                  string `json:"url"`
	PendingUpdateCount   int    `json:"pending_update_count"`
	LastErrorDate        int64  `json:"last_error_date"`
	LastErrorMessage     string `json:"last_error_message"`
	HasCustomCertificate bool   `json:"has_custom_certificate"`
}

type replyParameters struct {
	MessageID                int64 `json:"message_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

// sendMessageParams is sendMessage without parse_mode: a model's text is
// sent as it is, and unbalanced markup cannot make the call fail.
type sendMessageParams struct {
	ChatID          int64            `json:"chat_id"`
	Text            string           `json:"text"`
	MessageThreadID int64            `json:"message_thread_id,omitempty"`
	ReplyParameters *replyParameters `json:"reply_parameters,omitempty"`
}

// id formats a Telegram id.
func id(n int64) string { return strconv.FormatInt(n, 10) }
