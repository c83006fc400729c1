// Package discord is the Discord adapter of package channel (protocols.md
// §4). Connecting checks the bot token and the application (GET
// /users/@me and /applications/@me, whose verify_key must be the public
// key submitted), and set-up registers the /ask slash command. The
// interactions endpoint is verified with Ed25519 over the
// X-Signature-Timestamp header followed by the raw body, with the
// application's public key, before anything parses it; a PING is answered
// PONG, /ask with a deferred response (type 5) whose original message the
// reply job then edits within the interaction token's 15 minutes.
// Ordinary messages (DMs, mentions) arrive over the Gateway (package
// discordgateway), which turns them into messages with MessageFromEvent;
// their replies go out with POST /channels/{id}/messages, mentions
// disabled, with an idempotency nonce derived from the delivery and part
// so that a retried job never posts twice. Replies are split at 2,000
// characters.
//
// An interaction token is in the path of the webhook endpoints, so this
// package must never log, return or wrap an error that carries a request
// URL: every call goes through the egress client's Do, and the errors made
// here name the route, never the URL.
package discord

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
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

// DefaultBaseURL is the REST API, pinned to v10.
const DefaultBaseURL = "https://discord.com/api/v10"

// The interactions endpoint's headers.
const (
	SignatureHeader = "X-Signature-Ed25519"
	TimestampHeader = "X-Signature-Timestamp"
)

// MaxText is a message's content limit, in characters.
const MaxText = 2000

// TokenLife is how long an interaction token lets its original response
// be edited.
const TokenLife = 15 * time.Minute

// CommandName is the slash command registered on connect.
const CommandName = "ask"

// commandOptionName is /ask's one string option.
const commandOptionName = "question"

// Intents the Gateway session identifies with (§4.2): DMs and guild
// messages, and message content, which Discord delivers without the
// privileged intent only for DMs and mentions — exactly the messages
// answered — but asking for it keeps guild mentions whole where the
// application has it enabled.
const (
	IntentGuildMessages  = 1 << 9
	IntentDirectMessages = 1 << 12
	IntentMessageContent = 1 << 15
	Intents              = IntentGuildMessages | IntentDirectMessages | IntentMessageContent
)

// fields of the sealed values.
const (
	fieldApplication = "application_id"
	fieldPublicKey   = "public_key"
	fieldToken       = "bot_token"
)

// Settings kept in the channel's config.
const (
	settingBotUserID   = "bot_user_id"
	settingApplication = "application_id"
	settingUsername    = "username"
)

// snowflakePattern is a Discord id: a decimal 64-bit number.
var snowflakePattern = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)

// tokenPattern is a bot token as the developer portal shows it: three
// base64url parts joined by dots.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,100}\.[A-Za-z0-9_-]{4,20}\.[A-Za-z0-9_-]{20,100}$`)

// interactionTokenPattern bounds what may go into an endpoint path.
var interactionTokenPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,500}$`)

// Options configure the adapter.
type Options struct {
	// BaseURL is the REST API (default DefaultBaseURL).
	BaseURL string
	// Client sends every request; its policy must allow the routes at
	// BaseURL (CheckPolicy).
	Client *egress.Client
	// Now is the clock the interaction tokens' age is held against.
	Now func() time.Time
}

// Platform is the Discord adapter.
type Platform struct {
	base   string
	client *egress.Client
	now    func() time.Time
}

var _ channel.Platform = (*Platform)(nil)

// New checks o and returns the adapter.
func New(o Options) (*Platform, error) {
	if o.Client == nil {
		return nil, errors.New("discord: an egress client is required")
	}
	base, err := baseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Platform{base: base, client: o.Client, now: o.Now}, nil
}

func baseURL(raw string) (string, error) {
	return channel.APIBaseURL(raw, DefaultBaseURL, "discord: the REST API URL")
}

// policyRoutes are the calls the adapter makes, with ids of the right
// form.
var policyRoutes = []struct{ method, path string }{
	{http.MethodGet, "/users/@me"},
	{http.MethodGet, "/applications/@me"},
	{http.MethodGet, "/gateway/bot"},
	{http.MethodPost, "/applications/1/commands"},
	{http.MethodPost, "/channels/1/messages"},
	{http.MethodPatch, "/webhooks/1/token/messages/@original"},
	{http.MethodPost, "/webhooks/1/token"},
}

// CheckPolicy reports whether policy allows every REST call the adapter
// makes at the REST URL raw (empty: DefaultBaseURL), without sending
// anything: at start-up, so a configured URL the egress policy does not
// name fails loudly then, not on the first message.
func CheckPolicy(policy *egress.Policy, raw string) error {
	base, err := baseURL(raw)
	if err != nil {
		return err
	}
	for _, r := range policyRoutes {
		u, err := url.Parse(base + r.path)
		if err != nil {
			return err
		}
		if err := policy.Allows(r.method, u); err != nil {
			return fmt.Errorf("the egress policy does not allow Discord's %s %s at %s: %w", r.method, r.path, u.Scheme+"://"+u.Host, err)
		}
	}
	return nil
}

func (p *Platform) Kind() string      { return channel.KindDiscord }
func (p *Platform) Methods() []string { return []string{http.MethodPost} }

// Split cuts a reply into messages of at most 2,000 characters.
func (p *Platform) Split(text string) []string { return channel.Split(text, MaxText, channel.Runes) }

// Connect checks the bot token with GET /users/@me and the application
// with GET /applications/@me: its id and verify_key must be the
// application id and public key submitted, so a key pasted from another
// application is caught now, not by every interaction failing.
func (p *Platform) Connect(ctx context.Context, in channel.Credentials) (channel.Connection, error) {
	if err := in.Check([]string{fieldApplication, fieldPublicKey, fieldToken}); err != nil {
		return channel.Connection{}, err
	}
	appID, pub, tok := in[fieldApplication].Reveal(), strings.ToLower(in[fieldPublicKey].Reveal()), in[fieldToken]
	if !snowflakePattern.MatchString(appID) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldApplication, "credentials.application_id must be the application's id (digits)")
	}
	if _, err := publicKey(pub); err != nil {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldPublicKey, "credentials.public_key must be the application's public key (64 hexadecimal characters)")
	}
	if !tokenPattern.MatchString(tok.Reveal()) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "credentials.bot_token must be a bot token as the developer portal shows it")
	}
	me, err := p.me(ctx, tok)
	if err != nil {
		return channel.Connection{}, credentialError(err, "check the bot token")
	}
	if !me.Bot || !snowflakePattern.MatchString(me.ID) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "this token does not belong to a bot")
	}
	app, err := p.app(ctx, tok)
	if err != nil {
		return channel.Connection{}, credentialError(err, "read the application")
	}
	if app.ID != appID {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldApplication, "the bot token belongs to another application")
	}
	if !strings.EqualFold(app.VerifyKey, pub) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldPublicKey, "this is not the application's public key")
	}
	return channel.Connection{
		Credentials: channel.EncodeFields(map[string]string{fieldApplication: appID, fieldToken: tok.Reveal()}),
		Secret:      channel.EncodeFields(map[string]string{fieldPublicKey: pub}),
		ExternalID:  appID,
		Name:        "@" + me.Username,
		Settings:    map[string]string{settingBotUserID: me.ID, settingApplication: appID, settingUsername: me.Username},
		Masked: map[string]string{fieldApplication: appID, fieldPublicKey: channel.Mask(in[fieldPublicKey]),
			fieldToken: channel.Mask(tok)},
	}, nil
}

func credentialError(err error, what string) error {
	var ae *apiError
	if errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden) {
		return palisade.FieldError("credentials."+fieldToken, "Discord does not accept this bot token")
	}
	return palisade.WrapError(err, palisade.CodeUnavailable, "Discord could not be reached to "+what+"; try again")
}

// NewSecret: Discord issues the public key; it cannot be rotated here.
func (p *Platform) NewSecret(channel.Access) (secret.Secret, error) {
	return secret.Secret{}, channel.ErrCannotRotate
}

func field(v secret.Secret, name string) (secret.Secret, error) {
	m, err := channel.DecodeFields(v)
	if err != nil {
		return secret.Secret{}, err
	}
	f := m[name]
	clear(m)
	if f == "" {
		return secret.Secret{}, fmt.Errorf("discord: the sealed value has no %s", name)
	}
	return secret.New(f), nil
}

// BotToken returns the bot token of a channel's sealed credentials (the
// Gateway identifies with it).
func BotToken(credentials secret.Secret) (secret.Secret, error) {
	return field(credentials, fieldToken)
}

// BotUserID is the bot user's id kept in a channel's settings.
func BotUserID(ch palisade.Channel) string { return channel.Settings(ch)[settingBotUserID] }

func publicKey(h string) (ed25519.PublicKey, error) {
	if len(h) != 2*ed25519.PublicKeySize {
		return nil, errors.New("discord: a public key is 64 hexadecimal characters")
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, errors.New("discord: a public key is hexadecimal")
	}
	return ed25519.PublicKey(b), nil
}

// SetUp registers the /ask command for the application. Creating a
// command with the name of an existing one overwrites it, so a reconnect
// registers it again without a duplicate.
func (p *Platform) SetUp(ctx context.Context, a channel.Access) error {
	tok, err := BotToken(a.Credentials)
	if err != nil {
		return err
	}
	appID, err := field(a.Credentials, fieldApplication)
	if err != nil {
		return err
	}
	cmd := command{Name: CommandName, Type: 1, Description: "Ask the bot a question",
		Options:  []commandOption{{Type: 3, Name: commandOptionName, Description: "Your question", Required: true, MaxLength: 4000}},
		Contexts: []int{0, 1, 2}, IntegrationTypes: []int{0}}
	err = p.call(ctx, http.MethodPost, "POST /applications/{id}/commands", "/applications/"+appID.Reveal()+"/commands", tok, cmd, nil)
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden) {
		return palisade.WrapError(err, palisade.CodeInvalid, "Discord no longer accepts this bot token")
	}
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		return palisade.WrapError(err, palisade.CodeInvalid, "Discord refused the /ask command: "+ae.message)
	}
	return palisade.WrapError(err, palisade.CodeUnavailable, "Discord could not be reached to register the /ask command; try again")
}

// TearDown changes nothing at Discord: the /ask command stays registered
// until the application is reconnected or deleted, and once the channel
// is gone its interactions are refused (no public key to verify with) and
// its Gateway session ends.
func (p *Platform) TearDown(context.Context, channel.Access) error { return nil }

// Test checks the bot token with GET /users/@me.
func (p *Platform) Test(ctx context.Context, a channel.Access) (channel.TestResult, error) {
	tok, err := BotToken(a.Credentials)
	if err != nil {
		return channel.TestResult{}, err
	}
	me, err := p.me(ctx, tok)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
			return channel.TestResult{Detail: "Discord no longer accepts the bot token: it was reset. Reconnect the channel with the new token."}, nil
		}
		return channel.TestResult{Detail: "Discord could not be reached."}, nil
	}
	return channel.TestResult{OK: true, Detail: fmt.Sprintf("Connected as @%s; set the interactions endpoint URL to %s.", channel.Printable(me.Username, 100), a.WebhookURL)}, nil
}

// Verify checks the Ed25519 signature over the timestamp header and the
// raw body with the application's public key, and returns the signed
// timestamp for the service's window (Discord documents none; §4.1).
func (p *Platform) Verify(r channel.Request, verificationSecret secret.Secret) (channel.Verified, error) {
	sigs, tss := r.Header.Values(SignatureHeader), r.Header.Values(TimestampHeader)
	if len(sigs) == 0 || len(tss) == 0 || sigs[0] == "" || tss[0] == "" {
		return channel.Verified{}, channel.Reject(channel.ReasonMissingHeader)
	}
	if len(sigs) > 1 || len(tss) > 1 {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	sig, err := hex.DecodeString(sigs[0])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	ts := tss[0]
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 || len(ts) > 12 {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	pubHex, err := field(verificationSecret, fieldPublicKey)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonNoSecret)
	}
	pub, err := publicKey(pubHex.Reveal())
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonNoSecret)
	}
	msg := make([]byte, 0, len(ts)+len(r.Body))
	msg = append(append(msg, ts...), r.Body...)
	if !ed25519.Verify(pub, msg, sig) {
		return channel.Verified{}, channel.Reject(channel.ReasonBadSignature)
	}
	return channel.Verified{SignedAt: time.Unix(secs, 0)}, nil
}

// Interaction types (§4.1).
const (
	interactionPing         = 1
	interactionCommand      = 2
	interactionComponent    = 3
	interactionAutocomplete = 4
	interactionModal        = 5
)

// interaction is the part of an Interaction the bot reads.
type interaction struct {
	ID            string           `json:"id"`
	ApplicationID string           `json:"application_id"`
	Type          int              `json:"type"`
	Data          *interactionData `json:"data"`
	GuildID       string           `json:"guild_id"`
	ChannelID     string           `json:"channel_id"`
	Member        *struct {
		User *user `json:"user"`
	} `json:"member"`
	User  *user  `json:"user"`
	Token string `json:"token"`
}

type interactionData struct {
	Name    string `json:"name"`
	Type    int    `json:"type"`
	Options []struct {
		Name  string          `json:"name"`
		Type  int             `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"options"`
}

var errNotAnInteraction = palisade.Errorf(palisade.CodeInvalid, "the body is not a Discord interaction")

func jsonResponse(body string) channel.Response {
	return channel.Response{Status: http.StatusOK, ContentType: "application/json", Body: []byte(body)}
}

// ephemeral answers an interaction at once with a message only its user
// sees (flags 64).
func ephemeral(text string) channel.Response {
	b, _ := json.Marshal(map[string]any{"type": 4, "data": map[string]any{"content": text, "flags": 64, "allowed_mentions": allowedMentions{Parse: []string{}}}})
	return channel.Response{Status: http.StatusOK, ContentType: "application/json", Body: b}
}

// Parse reads an interaction: a PING is answered PONG; /ask with a
// question becomes a message, answered with a deferred response (type 5,
// the user sees the bot thinking) whose original the reply edits. The
// dedupe key is the interaction id; the route carries the interaction
// token and id (whose snowflake time bounds the token's life). Other
// commands and components are answered with a short ephemeral note.
func (p *Platform) Parse(r channel.Request, ch palisade.Channel) (channel.Delivery, error) {
	in, err := ParseInteraction(r.Body)
	if err != nil {
		return channel.Delivery{}, err
	}
	switch in.Type {
	case interactionPing:
		return channel.Delivery{Response: jsonResponse(`{"type":1}`)}, nil
	case interactionAutocomplete:
		return channel.Delivery{Response: jsonResponse(`{"type":8,"data":{"choices":[]}}`)}, nil
	case interactionCommand:
	default:
		return channel.Delivery{Response: ephemeral("This bot answers /ask, direct messages and mentions.")}, nil
	}
	if in.Data == nil || in.Data.Name != CommandName {
		return channel.Delivery{Response: ephemeral("This bot answers /ask.")}, nil
	}
	if app := channel.Settings(ch)[settingApplication]; app != "" && in.ApplicationID != app {
		return channel.Delivery{}, errNotAnInteraction
	}
	var question string
	for _, o := range in.Data.Options {
		if o.Name == commandOptionName && o.Type == 3 {
			_ = json.Unmarshal(o.Value, &question)
		}
	}
	question = strings.TrimSpace(question)
	u := in.User
	if in.Member != nil && in.Member.User != nil {
		u = in.Member.User
	}
	if question == "" || u == nil || !snowflakePattern.MatchString(u.ID) || !interactionTokenPattern.MatchString(in.Token) ||
		!snowflakePattern.MatchString(in.ChannelID) {
		return channel.Delivery{Response: ephemeral("Ask a question: /ask question:…")}, nil
	}
	msg := channel.Message{Key: in.ID, UserID: u.ID, Text: question,
		Route: channel.Route{Chat: in.ChannelID, ReplyTo: in.ID, Token: in.Token}}
	if in.GuildID != "" {
		msg.ChatID = in.ChannelID
	}
	return channel.Delivery{Messages: []channel.Message{msg}, Response: jsonResponse(`{"type":5}`)}, nil
}

// ParseInteraction decodes an interaction body: an object with a
// snowflake id and a known type.
func ParseInteraction(body []byte) (interaction, error) {
	var in interaction
	if err := json.Unmarshal(body, &in); err != nil || !snowflakePattern.MatchString(in.ID) || in.Type < interactionPing || in.Type > interactionModal {
		return interaction{}, errNotAnInteraction
	}
	return in, nil
}

// discordEpoch is the first millisecond of 2015, where snowflake times
// start.
const discordEpoch = 1420070400000

// SnowflakeTime is when a Discord id was made.
func SnowflakeTime(id string) (time.Time, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(n>>22) + discordEpoch), true
}

// Nonce is the idempotency nonce of one reply part: at most 25
// characters, the same for every attempt at the part, different for
// every part of every delivery.
func Nonce(key string) string {
	h := sha256.Sum256([]byte("palisade discord nonce v1\x00" + key))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:15])) // 24 characters
}

// partOf is the part number at the end of an outgoing key ("ref/2").
func partOf(key string) int {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(key[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// Send sends one part: for an interaction, the first part edits the
// deferred response and later parts are follow-ups, while the token lives
// (a part past its 15 minutes fails for good); for a Gateway message, a
// channel message with the part's nonce, enforced, replying in a guild to
// the message answered. Mentions are disabled on every path.
func (p *Platform) Send(ctx context.Context, credentials secret.Secret, o channel.Outgoing) error {
	tok, err := BotToken(credentials)
	if err != nil {
		return &channel.SendError{Code: "credentials", Final: true, Err: err}
	}
	if !snowflakePattern.MatchString(o.Route.Chat) {
		return &channel.SendError{Code: "route", Final: true, Err: errors.New("the reply route has no channel id")}
	}
	none := allowedMentions{Parse: []string{}}
	if o.Route.Token != "" {
		appID, err := field(credentials, fieldApplication)
		if err != nil {
			return &channel.SendError{Code: "credentials", Final: true, Err: err}
		}
		made, ok := SnowflakeTime(o.Route.ReplyTo)
		if !ok || !interactionTokenPattern.MatchString(o.Route.Token) {
			return &channel.SendError{Code: "route", Final: true, Err: errors.New("the reply route has no interaction")}
		}
		if p.now().Sub(made) >= TokenLife {
			return &channel.SendError{Code: "interaction_expired", Final: true, Err: errors.New("the interaction token expired before the reply was ready")}
		}
		base := "/webhooks/" + appID.Reveal() + "/" + o.Route.Token
		if partOf(o.Key) == 0 {
			err = p.call(ctx, http.MethodPatch, "PATCH /webhooks/{id}/{token}/messages/@original", base+"/messages/@original", secret.Secret{},
				editMessage{Content: o.Text, AllowedMentions: none}, nil)
		} else {
			err = p.call(ctx, http.MethodPost, "POST /webhooks/{id}/{token}", base, secret.Secret{}, editMessage{Content: o.Text, AllowedMentions: none}, nil)
		}
		if err != nil {
			return sendError(err)
		}
		return nil
	}
	body := createMessage{Content: o.Text, AllowedMentions: none, Nonce: Nonce(o.Key), EnforceNonce: true}
	if o.Route.ReplyTo != "" && snowflakePattern.MatchString(o.Route.ReplyTo) && partOf(o.Key) == 0 {
		body.MessageReference = &messageReference{MessageID: o.Route.ReplyTo, FailIfNotExists: false}
	}
	if err := p.call(ctx, http.MethodPost, "POST /channels/{id}/messages", "/channels/"+o.Route.Chat+"/messages", tok, body, nil); err != nil {
		return sendError(err)
	}
	return nil
}

// sendError classifies a failed send: 429 carries retry_after; 400, 401
// (token reset), 403 (no access to the channel) and 404 (unknown channel
// or expired interaction) are final; anything else, and no answer, may
// pass.
func sendError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return &channel.SendError{Err: err}
	}
	se := &channel.SendError{Status: ae.status, Err: err}
	switch {
	case ae.status == 0:
		se.Code = "unreachable"
	case ae.status == http.StatusTooManyRequests:
		se.Code, se.After = "rate_limited", ae.retryAfter
		if se.After <= 0 {
			se.After = time.Second
		}
	case ae.status == http.StatusBadRequest:
		se.Code, se.Final = "bad_request", true
	case ae.status == http.StatusUnauthorized:
		se.Code, se.Final = "token_rejected", true
	case ae.status == http.StatusForbidden:
		se.Code, se.Final = "forbidden", true
	case ae.status == http.StatusNotFound:
		se.Code, se.Final = "not_found", true
	default:
		se.Code = "http_" + strconv.Itoa(ae.status)
	}
	return se
}
