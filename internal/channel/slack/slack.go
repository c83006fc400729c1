// Package slack is the Slack Events API adapter of package channel
// (protocols.md §3): it checks a bot token with auth.test, which names
// the bot user and its workspace; verifies each delivery's v0 signature
// (HMAC-SHA256 with the app's signing secret over
// "v0:{X-Slack-Request-Timestamp}:{raw body}") in constant time and
// hands the signed timestamp back for the five-minute window; answers
// url_verification with its challenge; parses app_mention events and
// direct messages, never the bot's own or another bot's messages, edits
// or other subtypes; and sends replies with chat.postMessage in the
// thread of the message answered, split at 4,000 characters.
//
// Slack owns the signing secret and the Request URL: connecting changes
// nothing at Slack (the user pastes the webhook URL into the app's Event
// Subscriptions), and the secret is rotated at Slack, then the channel
// reconnected. The bot token travels in the Authorization header only;
// no error made here holds it, a request body or a message.
package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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

// DefaultBaseURL is the official Web API.
const DefaultBaseURL = "https://slack.com/api"

// The headers of a signed delivery, and those of Slack's retries.
const (
	SignatureHeader   = "X-Slack-Signature"
	TimestampHeader   = "X-Slack-Request-Timestamp"
	RetryNumHeader    = "X-Slack-Retry-Num"
	RetryReasonHeader = "X-Slack-Retry-Reason"
)

// MaxText is the length a reply part is cut at, in characters: Slack
// truncates text beyond 40,000 and advises 4,000 for readability.
const MaxText = 4000

// Methods is every Web API method the adapter calls.
var Methods = []string{"auth.test", "chat.postMessage"}

// Scopes are the bot token scopes the adapter needs, and Events the bot
// events the app must subscribe to (the README tells the user).
var (
	Scopes = []string{"app_mentions:read", "im:history", "chat:write"}
	Events = []string{"app_mention", "message.im"}
)

var (
	// tokenPattern is a bot token: xoxb- then digits, letters and dashes.
	tokenPattern = regexp.MustCompile(`^xoxb-[A-Za-z0-9-]{10,250}$`)
	// signingSecretPattern is an app's signing secret (32 hex characters
	// today; the form is not documented, so any letters and digits).
	signingSecretPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	// idPattern is a Slack id (team, user, bot, channel).
	idPattern = regexp.MustCompile(`^[A-Z0-9]{2,32}$`)
	// tsPattern is a message timestamp ("1355517523.000005").
	tsPattern = regexp.MustCompile(`^[0-9]{1,12}\.[0-9]{1,9}$`)
)

// Options configure the adapter.
type Options struct {
	// BaseURL is the Web API (default DefaultBaseURL).
	BaseURL string
	// Client sends every request; its policy must allow the Web API
	// methods at BaseURL (CheckPolicy).
	Client *egress.Client
}

// Platform is the Slack adapter.
type Platform struct {
	base   string
	client *egress.Client
}

var _ channel.Platform = (*Platform)(nil)

// New checks o and returns the adapter.
func New(o Options) (*Platform, error) {
	if o.Client == nil {
		return nil, errors.New("slack: an egress client is required")
	}
	base, err := baseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	return &Platform{base: base, client: o.Client}, nil
}

func baseURL(raw string) (string, error) {
	return channel.APIBaseURL(raw, DefaultBaseURL, "slack: the Web API URL")
}

// CheckPolicy reports whether policy allows every Web API call the
// adapter makes at the Web API URL raw (empty: DefaultBaseURL), without
// sending anything: at start-up, so a URL the egress policy does not
// name fails loudly then, not on the first message.
func CheckPolicy(policy *egress.Policy, raw string) error {
	base, err := baseURL(raw)
	if err != nil {
		return err
	}
	for _, m := range Methods {
		u, err := url.Parse(base + "/" + m)
		if err != nil {
			return err
		}
		if err := policy.Allows(http.MethodPost, u); err != nil {
			return fmt.Errorf("the egress policy does not allow Slack's %s at %s: %w", m, u.Scheme+"://"+u.Host, err)
		}
	}
	return nil
}

func (p *Platform) Kind() string      { return channel.KindSlack }
func (p *Platform) Methods() []string { return []string{http.MethodPost} }

// Split cuts a reply into chat.postMessage's parts.
func (p *Platform) Split(text string) []string { return channel.Split(text, MaxText, channel.Runes) }

// fields of the sealed values.
const (
	fieldToken         = "bot_token"
	fieldSigningSecret = "signing_secret"
)

// Settings kept in the channel's config: who the bot is, so its own
// messages are never answered, and its workspace, so events of another
// workspace are not answered with this one's token.
const (
	settingUserID = "bot_user_id"
	settingBotID  = "bot_id"
	settingTeamID = "team_id"
	settingTeam   = "team"
	settingUser   = "user"
)

// Connect checks the bot token with auth.test and seals the signing
// secret as the verification secret.
func (p *Platform) Connect(ctx context.Context, in channel.Credentials) (channel.Connection, error) {
	if err := in.Check([]string{fieldToken, fieldSigningSecret}); err != nil {
		return channel.Connection{}, err
	}
	tok, sec := in[fieldToken], in[fieldSigningSecret]
	if !tokenPattern.MatchString(tok.Reveal()) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken,
			"credentials.bot_token must be the app's Bot User OAuth Token (xoxb-…)")
	}
	if !signingSecretPattern.MatchString(sec.Reveal()) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldSigningSecret,
			"credentials.signing_secret must be the app's Signing Secret (Basic Information → App Credentials)")
	}
	me, err := p.authTest(ctx, tok)
	if err != nil {
		if rejectsToken(err) {
			return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "Slack does not accept this bot token")
		}
		return channel.Connection{}, palisade.WrapError(err, palisade.CodeUnavailable, "Slack could not be reached to check the bot token; try again")
	}
	if !idPattern.MatchString(me.UserID) || !idPattern.MatchString(me.TeamID) || me.BotID == "" || !idPattern.MatchString(me.BotID) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "this token does not belong to a bot user")
	}
	user, team := channel.Printable(me.User, 80), channel.Printable(me.Team, 80)
	name := "@" + user
	if team != "" {
		name += " (" + team + ")"
	}
	return channel.Connection{
		Credentials: channel.EncodeFields(map[string]string{fieldToken: tok.Reveal()}),
		Secret:      channel.EncodeFields(map[string]string{fieldSigningSecret: sec.Reveal()}),
		ExternalID:  me.TeamID + "/" + me.UserID,
		Name:        name,
		Settings: map[string]string{settingUserID: me.UserID, settingBotID: me.BotID, settingTeamID: me.TeamID,
			settingTeam: team, settingUser: user},
		Masked: map[string]string{fieldToken: channel.Mask(tok), fieldSigningSecret: channel.Mask(sec)},
	}, nil
}

// rejectsToken reports whether Slack refused the token itself (revoked,
// unknown, of a deactivated account), as opposed to not answering.
func rejectsToken(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.code {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type":
		return true
	}
	return false
}

// SetUp changes nothing: Slack delivers to the Request URL the user sets
// in the app's Event Subscriptions, and verifies it with a
// url_verification challenge that Parse answers.
func (p *Platform) SetUp(context.Context, channel.Access) error { return nil }

// TearDown changes nothing: without the channel, deliveries to its URL
// are refused; the user removes the Request URL or the app at Slack.
func (p *Platform) TearDown(context.Context, channel.Access) error { return nil }

// NewSecret: Slack issues the signing secret.
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
		return secret.Secret{}, fmt.Errorf("slack: the sealed value has no %s", name)
	}
	return secret.New(f), nil
}

// Test checks the token with auth.test and that it is still the bot the
// channel was connected as.
func (p *Platform) Test(ctx context.Context, a channel.Access) (channel.TestResult, error) {
	tok, err := field(a.Credentials, fieldToken)
	if err != nil {
		return channel.TestResult{}, err
	}
	me, err := p.authTest(ctx, tok)
	if err != nil {
		if rejectsToken(err) {
			return channel.TestResult{Detail: "Slack no longer accepts the bot token: it was revoked or the app reinstalled. Reconnect the channel with the new token."}, nil
		}
		return channel.TestResult{Detail: "Slack could not be reached."}, nil
	}
	settings := channel.Settings(a.Channel)
	if me.UserID != settings[settingUserID] || me.TeamID != settings[settingTeamID] {
		return channel.TestResult{Detail: "Slack accepts the token, but it now belongs to another bot or workspace: reconnect the channel."}, nil
	}
	return channel.TestResult{OK: true, Detail: fmt.Sprintf("Connected as @%s in %s. Slack delivers events to the Request URL set in the app's Event Subscriptions: %s",
		channel.Printable(me.User, 80), channel.Printable(me.Team, 80), a.WebhookURL)}, nil
}

// maxTimestamp bounds the timestamp header's digits: unix seconds, with
// room to spare.
const maxTimestamp = 12

// Verify checks X-Slack-Signature: "v0=" and the hex HMAC-SHA256, keyed
// with the signing secret, of "v0:" + X-Slack-Request-Timestamp + ":" +
// the raw body, compared in constant time. Both headers must be present
// once and well formed. The signed timestamp is returned for the window;
// it is not trusted before the signature matched.
func (p *Platform) Verify(r channel.Request, verificationSecret secret.Secret) (channel.Verified, error) {
	sigs, tss := r.Header.Values(SignatureHeader), r.Header.Values(TimestampHeader)
	if len(sigs) == 0 || sigs[0] == "" || len(tss) == 0 || tss[0] == "" {
		return channel.Verified{}, channel.Reject(channel.ReasonMissingHeader)
	}
	if len(sigs) > 1 || len(tss) > 1 {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	ts := tss[0]
	if len(ts) > maxTimestamp || strings.Trim(ts, "0123456789") != "" {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	hexSig, ok := strings.CutPrefix(sigs[0], "v0=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonMalformedHeader)
	}
	key, err := field(verificationSecret, fieldSigningSecret)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonNoSecret)
	}
	if !hmac.Equal(got, Sign(key, ts, r.Body)) {
		return channel.Verified{}, channel.Reject(channel.ReasonBadSignature)
	}
	return channel.Verified{SignedAt: time.Unix(secs, 0)}, nil
}

// Sign is the v0 MAC of a delivery: HMAC-SHA256 keyed with the signing
// secret's bytes over "v0:{timestamp}:{body}".
func Sign(signingSecret secret.Secret, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(signingSecret.Reveal()))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// envelopeIn is the part of a delivery the bot reads (§3.2, §3.3).
type envelopeIn struct {
	Type      string   `json:"type"`
	Challenge *string  `json:"challenge"`
	TeamID    string   `json:"team_id"`
	EventID   string   `json:"event_id"`
	Event     *eventIn `json:"event"`
}

type eventIn struct {
	Type        string          `json:"type"`
	Subtype     string          `json:"subtype"`
	User        string          `json:"user"`
	BotID       string          `json:"bot_id"`
	BotProfile  json.RawMessage `json:"bot_profile"`
	Channel     string          `json:"channel"`
	ChannelType string          `json:"channel_type"`
	Text        string          `json:"text"`
	TS          string          `json:"ts"`
	ThreadTS    string          `json:"thread_ts"`
	Edited      json.RawMessage `json:"edited"`
}

var errNotAnEvent = palisade.Errorf(palisade.CodeInvalid, "the body is not a Slack Events API request")

// maxChallenge bounds the url_verification challenge echoed back (Slack's
// are about 50 characters).
const maxChallenge = 256

// eventIDPattern is an event id ("Ev0PV52K25").
var eventIDPattern = regexp.MustCompile(`^Ev[A-Za-z0-9]{1,62}$`)

// Parse reads a verified delivery. url_verification is answered with
// its challenge as plain text. Of event_callback, an app_mention in a
// channel and a direct message (a message in an im) are answered; the
// bot's own messages, any bot's (bot_id), edits and every other subtype
// are acknowledged and dropped, as are events of another workspace than
// the bot's and every other type (app_rate_limited...). The dedupe key is
// the event_id, which Slack's retries repeat.
//
// A direct message is its sender's conversation and is answered in the
// im, in its thread when it was posted in one; a mention is the
// channel's conversation and is answered in a thread under it (or in
// its thread). The mention of the bot is taken out of the text.
func (p *Platform) Parse(r channel.Request, ch palisade.Channel) (channel.Delivery, error) {
	var env envelopeIn
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return channel.Delivery{}, errNotAnEvent
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == nil || *env.Challenge == "" || len(*env.Challenge) > maxChallenge || channel.Printable(*env.Challenge, maxChallenge) != *env.Challenge {
			return channel.Delivery{}, errNotAnEvent
		}
		return channel.Delivery{Response: channel.Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(*env.Challenge)}}, nil
	case "event_callback":
	case "":
		return channel.Delivery{}, errNotAnEvent
	default:
		return channel.Delivery{}, nil
	}
	if !eventIDPattern.MatchString(env.EventID) || env.Event == nil {
		return channel.Delivery{}, errNotAnEvent
	}
	settings := channel.Settings(ch)
	if team := settings[settingTeamID]; team != "" && env.TeamID != team {
		return channel.Delivery{}, nil
	}
	e := env.Event
	if e.Subtype != "" || e.BotID != "" || len(e.BotProfile) > 0 || len(e.Edited) > 0 || e.User == "" || e.User == settings[settingUserID] ||
		!idPattern.MatchString(e.User) || !idPattern.MatchString(e.Channel) || !tsPattern.MatchString(e.TS) ||
		(e.ThreadTS != "" && !tsPattern.MatchString(e.ThreadTS)) {
		return channel.Delivery{}, nil
	}
	out := channel.Message{Key: env.EventID, UserID: e.User, Route: channel.Route{Chat: e.Channel, Thread: e.ThreadTS, ReplyTo: e.TS}}
	switch {
	case e.Type == "message" && e.ChannelType == "im":
		out.Text = plainText(e.Text, settings[settingUserID])
	case e.Type == "app_mention":
		out.Text = plainText(e.Text, settings[settingUserID])
		out.ChatID = e.Channel
		if out.Route.Thread == "" {
			out.Route.Thread = e.TS
		}
	default:
		return channel.Delivery{}, nil
	}
	if out.Text == "" {
		return channel.Delivery{}, nil
	}
	return channel.Delivery{Messages: []channel.Message{out}}, nil
}

// plainText turns a message's text as Slack formats it into what the bot
// reads: the bot's own mention (<@U…>) taken out, and &amp; &lt; &gt;
// (the only escapes Slack applies) undone.
func plainText(text, botUserID string) string {
	if botUserID != "" {
		text = strings.ReplaceAll(text, "<@"+botUserID+">", "")
	}
	text = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(text)
	return strings.TrimSpace(text)
}

// escapeText escapes a reply as Slack requires of text: &, < and >. A
// model's answer can then never be read as Slack's control sequences
// (<!channel>, <!here>, <@U…> mentions, <url|label> links).
var escapeText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// Send sends one part with chat.postMessage, in the route's thread.
func (p *Platform) Send(ctx context.Context, credentials secret.Secret, o channel.Outgoing) error {
	tok, err := field(credentials, fieldToken)
	if err != nil {
		return &channel.SendError{Code: "credentials", Final: true, Err: err}
	}
	if !idPattern.MatchString(o.Route.Chat) {
		return &channel.SendError{Code: "route", Final: true, Err: errors.New("the reply route has no channel")}
	}
	err = p.call(ctx, tok, "chat.postMessage", postMessage{Channel: o.Route.Chat, Text: escapeText(o.Text), ThreadTS: o.Route.Thread}, nil)
	if err == nil {
		return nil
	}
	return sendError(err)
}

// transient are Slack's error codes after which trying again can help.
var transient = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "team_added_to_org": true,
}

// sendError classifies a failed chat.postMessage: 429 (or ok:false
// "ratelimited") carries Retry-After; an ok:false answer with any other
// code is final unless the code is transient (channel_not_found,
// not_in_channel, is_archived, invalid_auth, msg_too_long... cannot pass
// on a retry); a 5xx, an answer that is not the Web API's, and no answer
// may pass.
func sendError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return &channel.SendError{Err: err}
	}
	se := &channel.SendError{Status: ae.status, Code: ae.code, Err: err}
	switch {
	case ae.status == 0:
		se.Code = "unreachable"
	case ae.retryAfter > 0:
		se.Code, se.After = "ratelimited", ae.retryAfter
	case ae.code != "":
		se.Final = !transient[ae.code]
	default:
		se.Code = "http_" + strconv.Itoa(ae.status)
	}
	return se
}
