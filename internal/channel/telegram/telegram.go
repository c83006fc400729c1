// Package telegram is the Telegram Bot API adapter of package channel
// (protocols.md §1): it checks a bot token with getMe, sets the webhook up
// with setWebhook (a fresh random secret token, only "message" updates)
// and tears it down with deleteWebhook, verifies the
// X-Telegram-Bot-Api-Secret-Token header in constant time, parses updates
// from private chats, and from groups those that mention the bot or reply
// to it, and sends replies with sendMessage (no parse_mode), split at
// 4,096 UTF-16 code units on paragraph or sentence boundaries.
//
// The bot token is part of every Bot API URL path, so this package must
// never log, return or wrap an error that carries a request URL: every
// call goes through the egress client's Do, which rewrites net/http's
// errors, and the errors made here name the method, never the URL. It must
// never parse an update whose secret header did not match.
package telegram

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// DefaultBaseURL is the official Bot API server. A self-hosted one
// (tdlib/telegram-bot-api) is configured instead with its own URL.
const DefaultBaseURL = "https://api.telegram.org"

// SecretHeader carries the webhook's secret token on every delivery.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// MaxText is sendMessage's limit, in UTF-16 code units.
const MaxText = 4096

// Methods is every Bot API method the adapter calls.
var Methods = []string{"getMe", "setWebhook", "deleteWebhook", "getWebhookInfo", "sendMessage"}

// AllowedUpdates are the update types the webhook asks for.
var AllowedUpdates = []string{"message"}

// tokenPattern is a bot token as the official server accepts one
// (ClientManager.cpp): a bot id that does not start with 0, a colon, and
// the secret part; at most 80 characters in all, checked separately.
var tokenPattern = regexp.MustCompile(`^[1-9][0-9]{0,19}:[A-Za-z0-9_-]{1,64}$`)

// Options configure the adapter.
type Options struct {
	// BaseURL is the Bot API server (default DefaultBaseURL).
	BaseURL string
	// Client sends every request; its policy must allow the Bot API
	// methods at BaseURL (CheckPolicy).
	Client *egress.Client
}

// Platform is the Telegram adapter.
type Platform struct {
	base   string
	client *egress.Client
}

var _ channel.Platform = (*Platform)(nil)

// New checks o and returns the adapter.
func New(o Options) (*Platform, error) {
	if o.Client == nil {
		return nil, errors.New("telegram: an egress client is required")
	}
	base, err := baseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	return &Platform{base: base, client: o.Client}, nil
}

func baseURL(raw string) (string, error) {
	return channel.APIBaseURL(raw, DefaultBaseURL, "telegram: the Bot API URL")
}

// CheckPolicy reports whether policy allows every Bot API call the
// adapter makes at the Bot API URL raw (empty: DefaultBaseURL), without sending anything: at start-up, so a
// configured server the egress policy does not name fails loudly then,
// not on the first message.
func CheckPolicy(policy *egress.Policy, raw string) error {
	base, err := baseURL(raw)
	if err != nil {
		return err
	}
	for _, m := range Methods {
		// A token of the right form; the policy's path patterns match
		// any.
		u, err := url.Parse(base + "/bot1:policy-check/" + m)
		if err != nil {
			return err
		}
		if err := policy.Allows(http.MethodPost, u); err != nil {
			return fmt.Errorf("the egress policy does not allow Telegram's %s at %s: %w", m, u.Scheme+"://"+u.Host, err)
		}
	}
	return nil
}

func (p *Platform) Kind() string      { return channel.KindTelegram }
func (p *Platform) Methods() []string { return []string{http.MethodPost} }

// Split cuts a reply into sendMessage's parts.
func (p *Platform) Split(text string) []string { return channel.Split(text, MaxText, channel.UTF16) }

// fields of the sealed values.
const (
	fieldToken  = "bot_token"
	fieldSecret = "secret_token"
)

// Settings kept in the channel's config.
const (
	settingUsername = "username"
	settingBotID    = "bot_id"
)

// Connect checks the bot token with getMe and makes a fresh secret token.
func (p *Platform) Connect(ctx context.Context, in channel.Credentials) (channel.Connection, error) {
	if err := in.Check([]string{fieldToken}); err != nil {
		return channel.Connection{}, err
	}
	tok := in[fieldToken]
	if len(tok.Reveal()) > 80 || !tokenPattern.MatchString(tok.Reveal()) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken,
			"credentials.bot_token must be a bot token as @BotFather gives it (123456789:AA…)")
	}
	me, err := p.getMe(ctx, tok)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusNotFound) {
			return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "Telegram does not accept this bot token")
		}
		return channel.Connection{}, palisade.WrapError(err, palisade.CodeUnavailable, "Telegram could not be reached to check the bot token; try again")
	}
	if !me.IsBot || me.Username == "" || me.ID <= 0 {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "this token does not belong to a bot")
	}
	return channel.Connection{
		Credentials: channel.EncodeFields(map[string]string{fieldToken: tok.Reveal()}),
		Secret:      newSecret(),
		ExternalID:  id(me.ID),
		Name:        "@" + me.Username,
		Settings:    map[string]string{settingUsername: me.Username, settingBotID: id(me.ID)},
		Masked:      map[string]string{fieldToken: channel.Mask(tok)},
	}, nil
}

// newSecret is a fresh secret token: 256 random bits in base64url, 43
// characters of A-Za-z0-9_- (setWebhook allows 1 to 256 of those).
func newSecret() secret.Secret {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return channel.EncodeFields(map[string]string{fieldSecret: base64.RawURLEncoding.EncodeToString(b[:])})
}

// NewSecret makes a fresh secret token; SetUp then sets it.
func (p *Platform) NewSecret(channel.Access) (secret.Secret, error) { return newSecret(), nil }

func field(v secret.Secret, name string) (secret.Secret, error) {
	m, err := channel.DecodeFields(v)
	if err != nil {
		return secret.Secret{}, err
	}
	f := m[name]
	clear(m)
	if f == "" {
		return secret.Secret{}, fmt.Errorf("telegram: the sealed value has no %s", name)
	}
	return secret.New(f), nil
}

func (p *Platform) token(a channel.Access) (secret.Secret, error) {
	return field(a.Credentials, fieldToken)
}

// SetUp points the bot's webhook at the channel's URL with its secret
// token, for message updates only.
func (p *Platform) SetUp(ctx context.Context, a channel.Access) error {
	tok, err := p.token(a)
	if err != nil {
		return err
	}
	sec, err := field(a.Secret, fieldSecret)
	if err != nil {
		return err
	}
	err = p.call(ctx, tok, "setWebhook", setWebhookParams{URL: a.WebhookURL, SecretToken: sec.Reveal(), AllowedUpdates: AllowedUpdates}, nil)
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		return palisade.WrapError(err, palisade.CodeInvalid, fmt.Sprintf(
			"Telegram refused the webhook URL %s (%s): the server's public URL must be HTTPS on port 443, 80, 88 or 8443", a.WebhookURL, ae.description))
	}
	if errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusNotFound) {
		return palisade.WrapError(err, palisade.CodeInvalid, "Telegram no longer accepts this bot token")
	}
	return palisade.WrapError(err, palisade.CodeUnavailable, "Telegram could not be reached to set the webhook up; try again")
}

// TearDown removes the bot's webhook.
func (p *Platform) TearDown(ctx context.Context, a channel.Access) error {
	tok, err := p.token(a)
	if err != nil {
		return err
	}
	return p.call(ctx, tok, "deleteWebhook", struct {
		DropPendingUpdates bool `json:"drop_pending_updates"`
	}{}, nil)
}

// Test checks the token with getMe and that the webhook points here.
func (p *Platform) Test(ctx context.Context, a channel.Access) (channel.TestResult, error) {
	tok, err := p.token(a)
	if err != nil {
		return channel.TestResult{}, err
	}
	me, err := p.getMe(ctx, tok)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusNotFound) {
			return channel.TestResult{Detail: "Telegram no longer accepts the bot token: it was revoked or changed. Reconnect the channel with the new token."}, nil
		}
		return channel.TestResult{Detail: "Telegram could not be reached."}, nil
	}
	var info webhookInfo
	if err := p.call(ctx, tok, "getWebhookInfo", struct{}{}, &info); err != nil {
		return channel.TestResult{Detail: "Connected as @" + me.Username + ", but the webhook could not be read."}, nil
	}
	if info.URL != a.WebhookURL {
		return channel.TestResult{Detail: "Connected as @" + me.Username + ", but Telegram does not deliver this bot's messages here: reconnect the channel."}, nil
	}
	detail := fmt.Sprintf("Connected as @%s; Telegram delivers to this server (%d updates waiting).", me.Username, info.PendingUpdateCount)
	if info.LastErrorMessage != "" {
		detail += " Its last delivery error: " + channel.Printable(info.LastErrorMessage, 200) + "."
	}
	return channel.TestResult{OK: true, Detail: detail}, nil
}

// Verify compares the secret header with the channel's secret token in
// constant time (their SHA-256 digests, so not even the length is
// compared early). Telegram signs nothing: the header is the whole check,
// and a body changed in transit is caught only if it no longer parses.
func (p *Platform) Verify(r channel.Request, verificationSecret secret.Secret) (channel.Verified, error) {
	got := r.Header.Values(SecretHeader)
	if len(got) == 0 || got[0] == "" {
		return channel.Verified{}, channel.Reject(channel.ReasonMissingHeader)
	}
	if len(got) > 1 {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	want, err := field(verificationSecret, fieldSecret)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonNoSecret)
	}
	g, w := sha256.Sum256([]byte(got[0])), sha256.Sum256([]byte(want.Reveal()))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return channel.Verified{}, channel.Reject(channel.ReasonBadSignature)
	}
	return channel.Verified{}, nil
}

// update is the part of a Telegram Update the bot reads (§1.5).
type update struct {
	UpdateID *int64   `json:"update_id"`
	Message  *message `json:"message"`
}

type message struct {
	MessageID       int64    `json:"message_id"`
	MessageThreadID int64    `json:"message_thread_id"`
	IsTopicMessage  bool     `json:"is_topic_message"`
	From            *user    `json:"from"`
	Chat            chat     `json:"chat"`
	Text            string   `json:"text"`
	Entities        []entity `json:"entities"`
	ReplyTo         *message `json:"reply_to_message"`
}

type chat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	User   *user  `json:"user"`
}

var errNotAnUpdate = palisade.Errorf(palisade.CodeInvalid, "the body is not a Telegram update")

// Parse reads an update. A message is answered when it is text from a
// person in a private chat, or in a group when it mentions the bot
// (@username, or a text mention of it) or replies to one of its messages;
// the mention is taken out of the text. Anything else — other update
// types, media, channel posts, bots, group chatter — is acknowledged and
// dropped. The dedupe key is the update_id.
func (p *Platform) Parse(r channel.Request, ch palisade.Channel) (channel.Delivery, error) {
	var u update
	if err := json.Unmarshal(r.Body, &u); err != nil || u.UpdateID == nil {
		return channel.Delivery{}, errNotAnUpdate
	}
	m := u.Message
	if m == nil || m.From == nil || m.From.IsBot || m.From.ID == 0 || m.Chat.ID == 0 || strings.TrimSpace(m.Text) == "" {
		return channel.Delivery{}, nil
	}
	out := channel.Message{Key: id(*u.UpdateID), UserID: id(m.From.ID), Text: m.Text, Route: channel.Route{Chat: id(m.Chat.ID)}}
	switch m.Chat.Type {
	case "private":
	case "group", "supergroup":
		settings := channel.Settings(ch)
		text, addressed := addressedTo(m, settings[settingUsername], settings[settingBotID])
		if !addressed || strings.TrimSpace(text) == "" {
			return channel.Delivery{}, nil
		}
		out.Text = strings.TrimSpace(text)
		out.ChatID = id(m.Chat.ID)
		out.Route.ReplyTo = id(m.MessageID)
		if m.IsTopicMessage && m.MessageThreadID != 0 {
			out.Route.Thread = id(m.MessageThreadID)
		}
	default:
		return channel.Delivery{}, nil
	}
	return channel.Delivery{Messages: []channel.Message{out}}, nil
}

// addressedTo reports whether a group message is for the bot: it mentions
// @username (a "mention" entity, compared without case) or the bot itself
// (a "text_mention"), or it replies to the bot's message. The text comes
// back without the first mention of the bot.
func addressedTo(m *message, username, botID string) (string, bool) {
	for _, e := range m.Entities {
		switch e.Type {
		case "mention":
			s, ok := channel.UTF16Slice(m.Text, e.Offset, e.Offset+e.Length)
			if ok && username != "" && strings.EqualFold(s, "@"+username) {
				return channel.UTF16Cut(m.Text, e.Offset, e.Offset+e.Length), true
			}
		case "text_mention":
			if e.User != nil && botID != "" && id(e.User.ID) == botID {
				return m.Text, true
			}
		}
	}
	if m.ReplyTo != nil && m.ReplyTo.From != nil && botID != "" && id(m.ReplyTo.From.ID) == botID {
		return m.Text, true
	}
	return "", false
}

// Send sends one part with sendMessage: in a group as a reply to the
// message answered, in its forum topic if it had one.
func (p *Platform) Send(ctx context.Context, credentials secret.Secret, o channel.Outgoing) error {
	tok, err := field(credentials, fieldToken)
	if err != nil {
		return &channel.SendError{Code: "credentials", Final: true, Err: err}
	}
	chatID, err := strconv.ParseInt(o.Route.Chat, 10, 64)
	if err != nil {
		return &channel.SendError{Code: "route", Final: true, Err: errors.New("the reply route has no chat id")}
	}
	params := sendMessageParams{ChatID: chatID, Text: o.Text}
	if o.Route.Thread != "" {
		params.MessageThreadID, _ = strconv.ParseInt(o.Route.Thread, 10, 64)
	}
	if o.Route.ReplyTo != "" {
		if mid, err := strconv.ParseInt(o.Route.ReplyTo, 10, 64); err == nil {
			params.ReplyParameters = &replyParameters{MessageID: mid, AllowSendingWithoutReply: true}
		}
	}
	err = p.call(ctx, tok, "sendMessage", params, nil)
	if err == nil {
		return nil
	}
	return sendError(err)
}

// sendError classifies a failed sendMessage: 429 carries retry_after;
// 400 (chat not found, group migrated), 401 and 404 (token revoked) and
// 403 (bot blocked or removed) are final; anything else, and no answer,
// may pass.
func sendError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return &channel.SendError{Err: err}
	}
	se := &channel.SendError{Status: ae.status, Err: err}
	switch {
	case ae.status == 0:
		se.Code = "unreachable"
	case ae.status == http.StatusTooManyRequests || ae.code == http.StatusTooManyRequests:
		se.Code, se.After = "rate_limited", ae.retryAfter
		if se.After <= 0 {
			se.After = time.Second
		}
	case ae.status == http.StatusBadRequest:
		se.Code, se.Final = "bad_request", true
	case ae.status == http.StatusUnauthorized, ae.status == http.StatusNotFound:
		se.Code, se.Final = "token_rejected", true
	case ae.status == http.StatusForbidden:
		se.Code, se.Final = "forbidden", true
	default:
		se.Code = "http_" + strconv.Itoa(ae.status)
	}
	return se
}
