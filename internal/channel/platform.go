package channel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// The kinds of chat channel, each the {kind} of its webhook URL
// /hooks/{kind}/{botId} and the channels.kind of its rows.
const (
	KindTelegram = "telegram"
	KindWhatsApp = "whatsapp"
	KindSlack    = "slack"
	KindDiscord  = "discord"
)

// SignatureWindow is how far a signed timestamp may be from the server's
// clock, either way, for platforms that sign one (Slack's five minutes;
// our own policy for Discord, which documents none).
const SignatureWindow = 5 * time.Minute

// Platform is one chat platform's adapter. The Service calls it; it never
// touches the store, and it reaches the platform only through the egress
// client it was built with. Adapters for WhatsApp, Slack and Discord
// implement the same methods:
//
//   - Connect checks what the user submitted with the platform (Telegram's
//     getMe) and returns what to seal and show; it changes nothing at the
//     platform.
//   - SetUp makes the platform deliver to the channel's webhook URL with its
//     verification secret (Telegram's setWebhook; Discord registers its
//     command; Slack and WhatsApp have the user paste the URL and return
//     nil). TearDown undoes it (Telegram's deleteWebhook). Test checks the
//     connection and reports what it found.
//   - NewSecret makes a fresh verification secret when the platform lets us
//     choose it (Telegram's secret token); SetUp is then called again with
//     it. A platform that owns its secret returns ErrCannotRotate.
//   - Verify checks an inbound request over its raw bytes, in constant
//     time, before anything parses it, and fails with Reject(reason). It
//     returns the signed timestamp, if the platform signs one, for the
//     Service to hold against SignatureWindow.
//   - Parse turns a verified request into a Delivery: the messages to
//     answer, each with its dedupe key and reply route, and the HTTP answer
//     the platform expects (a challenge, a PONG, a deferred response; empty
//     200 by default). Updates the bot does not answer (edits, media, group
//     chatter not addressed to it) parse to no messages, so they are
//     acknowledged and dropped. A body that does not parse is a
//     palisade.CodeInvalid error.
//   - Split cuts a reply into the parts the platform accepts; Send sends one
//     part and reports failure as a *SendError.
type Platform interface {
	// Kind is one of the Kind constants.
	Kind() string
	// Methods are the HTTP methods the platform's webhook uses (POST;
	// WhatsApp's verification challenge is a GET).
	Methods() []string

	Connect(ctx context.Context, in Credentials) (Connection, error)
	SetUp(ctx context.Context, a Access) error
	TearDown(ctx context.Context, a Access) error
	Test(ctx context.Context, a Access) (TestResult, error)
	NewSecret(a Access) (secret.Secret, error)

	Verify(r Request, verificationSecret secret.Secret) (Verified, error)
	Parse(r Request, ch palisade.Channel) (Delivery, error)

	Split(text string) []string
	Send(ctx context.Context, credentials secret.Secret, o Outgoing) error
}

// ErrCannotRotate is NewSecret's answer on a platform that owns the
// verification secret: rotate it there, then reconnect the channel.
var ErrCannotRotate = palisade.Errorf(palisade.CodeInvalid, "this platform issues the verification secret itself: rotate it there and reconnect the channel")

// Credentials are what a user submits to connect a channel, by field name
// ("bot_token"). Every value is a secret from the moment it is decoded.
type Credentials map[string]secret.Secret

// MaxCredential bounds one submitted credential; platforms' tokens are far
// shorter.
const MaxCredential = 1024

// Check refuses credentials that lack a required field, carry an empty,
// oversized or multi-line one, or carry a field the platform does not
// take, naming the field as "credentials.<name>".
func (c Credentials) Check(required []string, optional ...string) error {
	known := map[string]bool{}
	for _, f := range append(append([]string(nil), required...), optional...) {
		known[f] = true
	}
	for name := range c {
		if !known[name] {
			return palisade.FieldError("credentials."+name, "unknown credential %q for this channel type", name)
		}
	}
	for _, f := range required {
		if c[f].IsZero() {
			return palisade.FieldError("credentials."+f, "credentials.%s is required", f)
		}
	}
	for name, v := range c {
		if len(v.Reveal()) > MaxCredential {
			return palisade.FieldError("credentials."+name, "credentials.%s is too long", name)
		}
		for _, r := range v.Reveal() {
			if r < 0x20 || r == 0x7f {
				return palisade.FieldError("credentials."+name, "credentials.%s must be one line of printable text", name)
			}
		}
	}
	return nil
}

// Mask is how a credential may be shown: its last four characters at
// most, and none of a short one.
func Mask(v secret.Secret) string {
	r := []rune(v.Reveal())
	if len(r) < 16 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

// Connection is what a platform returns for credentials it accepted.
type Connection struct {
	// Credentials is what sending needs: sealed into the channel's
	// credentials column.
	Credentials secret.Secret
	// Secret is what verifying inbound requests needs: sealed into the
	// channel's secret column. A platform that lets us choose it makes a
	// fresh random one here.
	Secret secret.Secret
	// ExternalID is the platform's id of the bot, app or phone number.
	ExternalID string
	// Name is a display name ("@helper_bot").
	Name string
	// Settings are non-secret values the adapter needs later (Parse gets
	// them back in the channel's config).
	Settings map[string]string
	// Masked shows each submitted credential as responses may (Mask).
	Masked map[string]string
}

// Access is a connected channel as an adapter needs it to act on the
// platform: the row, its sealed values opened, and its webhook URL.
type Access struct {
	Channel     palisade.Channel
	Credentials secret.Secret
	Secret      secret.Secret
	WebhookURL  string
}

// TestResult is what a connection test found.
type TestResult struct {
	OK bool
	// Detail says what was checked and found, in a sentence safe to show.
	Detail string
}

// Request is an inbound webhook request as the platform sent it: Body is
// the raw bytes, read once within the body limit.
type Request struct {
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// Verified is what verification established.
type Verified struct {
	// SignedAt is the time the platform signed into the request; zero when
	// it signs none (Telegram, WhatsApp).
	SignedAt time.Time
}

// Reason says why an inbound request was refused: a closed set, fit to be
// a metric label.
type Reason string

const (
	// ReasonMalformedID: the bot id in the URL does not match its pattern.
	ReasonMalformedID Reason = "malformed_bot_id"
	// ReasonUnknownChannel: no bot, or no channel of this kind on it.
	ReasonUnknownChannel Reason = "unknown_channel"
	// ReasonNoSecret: the channel has no verification secret; it refuses
	// every delivery.
	ReasonNoSecret Reason = "no_secret"
	// ReasonMissingHeader: the header carrying the secret or signature is
	// absent.
	ReasonMissingHeader Reason = "missing_header"
	// ReasonMalformedHeader: the header is there but cannot be a valid
	// signature or timestamp.
	ReasonMalformedHeader Reason = "malformed_header"
	// ReasonBadSignature: the secret or signature does not match.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonStaleTimestamp: a signed timestamp outside SignatureWindow.
	ReasonStaleTimestamp Reason = "stale_timestamp"
	// ReasonMethod: a method the platform's webhook does not use.
	ReasonMethod Reason = "method"
	// ReasonUnparsable: verified, but not a payload of the platform. Not
	// a verification failure: counted, never audited.
	ReasonUnparsable Reason = "unparsable"
)

// Reasons lists every reason, for metrics that initialise their labels.
func Reasons() []Reason {
	return []Reason{ReasonMalformedID, ReasonUnknownChannel, ReasonNoSecret, ReasonMissingHeader, ReasonMalformedHeader,
		ReasonBadSignature, ReasonStaleTimestamp, ReasonMethod, ReasonUnparsable}
}

// Rejection is a refused inbound request. Whatever the reason, it is
// answered the same way, so an unknown bot and a wrong signature look
// alike from outside; the reason goes to metrics and the audit log only.
type Rejection struct {
	Reason Reason
}

func (r *Rejection) Error() string { return "webhook refused: " + string(r.Reason) }

// Reject returns the Rejection for reason.
func Reject(reason Reason) error { return &Rejection{Reason: reason} }

// ErrRejected is the public face of every Rejection.
var ErrRejected = palisade.Errorf(palisade.CodeUnauthorized, "webhook verification failed")

// Delivery is a verified, parsed inbound request.
type Delivery struct {
	Messages []Message
	// Response is what the platform is answered once the messages are
	// durably accepted; the zero value is 200 with an empty body.
	Response Response
}

// Message is one message to answer.
type Message struct {
	// Key identifies the message on the platform, unique per bot and
	// channel kind (Telegram's update_id, Slack's event_id): the dedupe
	// key, and the reference its reply is stored and sent under.
	Key string
	// UserID is the sender's id on the platform.
	UserID string
	// ChatID is the group chat's id; empty for a direct message. It keys
	// the conversation of a group (agent:{bot}:{channel}:group:{chat}).
	ChatID string
	Text   string
	Route  Route
}

// Route is where a reply goes, as the platform addresses it. It is sealed
// in the job with the message text: it may carry a short-lived token.
type Route struct {
	// Chat is the chat, channel or recipient (Telegram's chat id, Slack's
	// channel, WhatsApp's wa_id, Discord's channel id).
	Chat string `json:"chat,omitempty"`
	// Thread is a thread or forum topic (Telegram's message_thread_id,
	// Slack's thread_ts).
	Thread string `json:"thread,omitempty"`
	// ReplyTo is the message being answered, where the reply quotes it.
	ReplyTo string `json:"reply_to,omitempty"`
	// Token is a per-message token the reply needs (Discord's interaction
	// token, valid 15 minutes).
	Token string `json:"token,omitempty"`
}

// Response is an HTTP answer to the platform.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Outgoing is one part of a reply.
type Outgoing struct {
	Route Route
	Text  string
	// Key is unique per delivery and part: an idempotency key for a
	// platform that takes one (Discord's nonce).
	Key string
}

// SendError is a send the platform did not accept. Its text never holds
// a URL, a credential or the message.
type SendError struct {
	// Status is the HTTP status the platform answered; 0 when no answer
	// came (the outcome is then unknown: the part may have arrived).
	Status int
	// Code is the platform's error code or a short class ("429",
	// "chat_not_found").
	Code string
	// After is the platform's rate-limit answer: wait this long.
	After time.Duration
	// Final: retrying cannot help (the chat is gone, the bot was blocked,
	// the token was revoked).
	Final bool
	// Err is the cause, for logs.
	Err error
}

func (e *SendError) Error() string {
	msg := "the platform refused the reply"
	if e.Status == 0 {
		msg = "the platform could not be reached"
	}
	if e.Status != 0 {
		msg += " (HTTP " + strconv.Itoa(e.Status) + ")"
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.After > 0 {
		msg += fmt.Sprintf("; retry after %s", e.After)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// RetryAfter is the platform's rate-limit answer (the job runner waits
// it out without spending an attempt).
func (e *SendError) RetryAfter() time.Duration { return e.After }

// Answered reports whether the platform answered: then the part was not
// accepted, and sending it again cannot duplicate it.
func (e *SendError) Answered() bool { return e.Status != 0 }

// asSendError returns err as a *SendError, wrapping any other error as one
// whose outcome is unknown.
func asSendError(err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	return &SendError{Err: err}
}
