// Package whatsapp is the WhatsApp Cloud API adapter of package channel
// (protocols.md §2): it checks an access token and a phone number id by
// reading the phone number from the Graph API, answers Meta's GET
// verification challenge with the verify token compared in constant time,
// verifies every POST's X-Hub-Signature-256 (HMAC-SHA256 of the raw body
// with the app secret) in constant time before anything parses it, parses
// text messages sent to the channel's phone number (status callbacks and
// other message types are acknowledged and dropped), and sends replies
// through the Graph API messages endpoint, split at 4,096 characters.
//
// Meta owns the app secret and the user chooses the verify token, so
// there is nothing to set up at the platform: the user pastes the webhook
// URL and the verify token into the app's WhatsApp configuration, and
// rotation means reconnecting.
//
// It must never log, return or wrap an error that carries the access
// token (it travels only in the Authorization header), the app secret or
// the verify token, and never parse a body whose signature did not match.
package whatsapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// DefaultBaseURL is the official Graph API with the version the adapter
// speaks; Meta retires versions on a schedule, so the version is part of
// the configurable URL.
const DefaultBaseURL = "https://graph.facebook.com/v26.0"

// SignatureHeader carries the HMAC-SHA256 of the raw body on every POST.
const SignatureHeader = "X-Hub-Signature-256"

// MaxText is the messages endpoint's limit on a text body, in characters.
const MaxText = 4096

// MaxAge is how old a message may be and still be answered: Meta retries
// failed deliveries for days, but a free-form reply is only allowed within
// 24 hours of the user's last message, and an old delivery is more likely
// a replay than news.
const MaxAge = 24 * time.Hour

// Options configure the adapter.
type Options struct {
	// BaseURL is the Graph API with its version (default DefaultBaseURL).
	BaseURL string
	// Client sends every request; its policy must allow the calls at
	// BaseURL (CheckPolicy).
	Client *egress.Client
	// Now is the clock messages' timestamps are held against (default
	// time.Now).
	Now func() time.Time
}

// Platform is the WhatsApp adapter.
type Platform struct {
	base   string
	client *egress.Client
	now    func() time.Time
}

var _ channel.Platform = (*Platform)(nil)

// New checks o and returns the adapter.
func New(o Options) (*Platform, error) {
	if o.Client == nil {
		return nil, errors.New("whatsapp: an egress client is required")
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
	return channel.APIBaseURL(raw, DefaultBaseURL, "whatsapp: the Graph API URL")
}

// CheckPolicy reports whether policy allows every Graph API call the
// adapter makes at the Graph API URL raw (empty: DefaultBaseURL), without
// sending anything: at start-up, so a configured URL the egress policy
// does not name fails loudly then, not on the first message.
func CheckPolicy(policy *egress.Policy, raw string) error {
	base, err := baseURL(raw)
	if err != nil {
		return err
	}
	for _, c := range []struct{ method, path, what string }{
		{http.MethodGet, "/106540352242922", "phone number read"},
		{http.MethodPost, "/106540352242922/messages", "messages endpoint"},
	} {
		u, err := url.Parse(base + c.path)
		if err != nil {
			return err
		}
		if err := policy.Allows(c.method, u); err != nil {
			return fmt.Errorf("the egress policy does not allow WhatsApp's %s at %s: %w", c.what, u.Scheme+"://"+u.Host, err)
		}
	}
	return nil
}

func (p *Platform) Kind() string      { return channel.KindWhatsApp }
func (p *Platform) Methods() []string { return []string{http.MethodGet, http.MethodPost} }

// Split cuts a reply into the messages endpoint's parts.
func (p *Platform) Split(text string) []string { return channel.Split(text, MaxText, channel.Runes) }

// Submitted credential fields, and the fields of the sealed values.
const (
	fieldToken       = "access_token"
	fieldAppSecret   = "app_secret"
	fieldVerifyToken = "verify_token"
	fieldPhoneID     = "phone_number_id"
)

// Settings kept in the channel's config.
const (
	settingPhoneID = "phone_number_id"
	settingDisplay = "display_phone_number"
)

// phoneIDPattern is a Graph object id: digits.
var phoneIDPattern = regexp.MustCompile(`^[1-9][0-9]{0,24}$`)

// tokenPattern is what an access token can hold: it goes into the
// Authorization header, so no white space.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9._|=+/-]{16,}$`)

// minSecret is the shortest app secret or verify token accepted (Meta's
// app secrets are 32 hexadecimal characters).
const minSecret = 8

// Connect checks the access token and the phone number id by reading the
// phone number from the Graph API, and keeps the app secret and the
// verify token as the verification secret.
func (p *Platform) Connect(ctx context.Context, in channel.Credentials) (channel.Connection, error) {
	if err := in.Check([]string{fieldToken, fieldAppSecret, fieldVerifyToken, fieldPhoneID}); err != nil {
		return channel.Connection{}, err
	}
	tok, phoneID := in[fieldToken], in[fieldPhoneID].Reveal()
	if !phoneIDPattern.MatchString(phoneID) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldPhoneID,
			"credentials.phone_number_id must be the phone number's id as WhatsApp Manager shows it (digits)")
	}
	if !tokenPattern.MatchString(tok.Reveal()) {
		return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "credentials.access_token must be a Meta access token")
	}
	for _, f := range []string{fieldAppSecret, fieldVerifyToken} {
		if len(in[f].Reveal()) < minSecret || strings.ContainsAny(in[f].Reveal(), " ") {
			return channel.Connection{}, palisade.FieldError("credentials."+f, "credentials.%s must be at least %d characters without spaces", f, minSecret)
		}
	}
	num, err := p.phoneNumber(ctx, tok, phoneID)
	if err != nil {
		var ge *graphError
		if errors.As(err, &ge) && ge.tokenRejected() {
			return channel.Connection{}, palisade.FieldError("credentials."+fieldToken, "Meta does not accept this access token")
		}
		if errors.As(err, &ge) && ge.status/100 == 4 && ge.status != http.StatusTooManyRequests {
			return channel.Connection{}, palisade.FieldError("credentials."+fieldPhoneID, "this access token cannot reach a phone number with this id")
		}
		return channel.Connection{}, palisade.WrapError(err, palisade.CodeUnavailable, "the WhatsApp Cloud API could not be reached to check the credentials; try again")
	}
	name := num.DisplayPhoneNumber
	if name == "" {
		name = phoneID
	}
	return channel.Connection{
		Credentials: channel.EncodeFields(map[string]string{fieldToken: tok.Reveal(), fieldPhoneID: phoneID}),
		Secret:      channel.EncodeFields(map[string]string{fieldAppSecret: in[fieldAppSecret].Reveal(), fieldVerifyToken: in[fieldVerifyToken].Reveal()}),
		ExternalID:  phoneID,
		Name:        channel.Printable(name, 64),
		Settings:    map[string]string{settingPhoneID: phoneID, settingDisplay: channel.Printable(num.DisplayPhoneNumber, 64)},
		Masked: map[string]string{fieldToken: channel.Mask(tok), fieldAppSecret: channel.Mask(in[fieldAppSecret]),
			fieldVerifyToken: channel.Mask(in[fieldVerifyToken]), fieldPhoneID: phoneID},
	}, nil
}

// SetUp has nothing to do: the callback URL and verify token are pasted
// into the Meta app's configuration by the user, and Meta then checks them
// with the GET challenge.
func (p *Platform) SetUp(context.Context, channel.Access) error { return nil }

// TearDown has nothing to do at Meta: without the channel's secret, every
// delivery is refused.
func (p *Platform) TearDown(context.Context, channel.Access) error { return nil }

// NewSecret: Meta issues the app secret, and the verify token lives in
// the app's configuration; rotate them there and reconnect.
func (p *Platform) NewSecret(channel.Access) (secret.Secret, error) {
	return secret.Secret{}, channel.ErrCannotRotate
}

// Test reads the phone number again with the access token.
func (p *Platform) Test(ctx context.Context, a channel.Access) (channel.TestResult, error) {
	tok, phoneID, err := credentials(a.Credentials)
	if err != nil {
		return channel.TestResult{}, err
	}
	num, err := p.phoneNumber(ctx, tok, phoneID)
	if err != nil {
		var ge *graphError
		if errors.As(err, &ge) && ge.tokenRejected() {
			return channel.TestResult{Detail: "Meta no longer accepts the access token: it expired or was revoked. Reconnect the channel with a new one."}, nil
		}
		if errors.As(err, &ge) && ge.status/100 == 4 && ge.status != http.StatusTooManyRequests {
			return channel.TestResult{Detail: "The access token can no longer reach this phone number. Reconnect the channel."}, nil
		}
		return channel.TestResult{Detail: "The WhatsApp Cloud API could not be reached."}, nil
	}
	detail := "Connected to " + channel.Printable(num.DisplayPhoneNumber, 64)
	if num.VerifiedName != "" {
		detail += " (" + channel.Printable(num.VerifiedName, 100) + ")"
	}
	detail += ". Meta delivers here once the app's callback URL is " + a.WebhookURL + " with the verify token, subscribed to messages."
	return channel.TestResult{OK: true, Detail: detail}, nil
}

// credentials opens the sealed credentials.
func credentials(v secret.Secret) (secret.Secret, string, error) {
	m, err := channel.DecodeFields(v)
	if err != nil {
		return secret.Secret{}, "", err
	}
	tok, phoneID := m[fieldToken], m[fieldPhoneID]
	clear(m)
	if tok == "" || !phoneIDPattern.MatchString(phoneID) {
		return secret.Secret{}, "", errors.New("whatsapp: the sealed credentials lack the access token or phone number id")
	}
	return secret.New(tok), phoneID, nil
}

// verification opens the sealed verification secret.
func verification(v secret.Secret) (appSecret, verifyToken secret.Secret, err error) {
	m, err := channel.DecodeFields(v)
	if err != nil {
		return secret.Secret{}, secret.Secret{}, err
	}
	a, t := m[fieldAppSecret], m[fieldVerifyToken]
	clear(m)
	if a == "" || t == "" {
		return secret.Secret{}, secret.Secret{}, errors.New("whatsapp: the sealed secret lacks the app secret or verify token")
	}
	return secret.New(a), secret.New(t), nil
}

// Verify checks a request before anything parses it. GET is Meta's
// verification challenge: hub.mode must be "subscribe" and hub.verify_token
// the channel's verify token (their SHA-256 digests compared in constant
// time, so not even the length is compared early). POST must carry one
// X-Hub-Signature-256 of the form sha256=<64 hex>, the HMAC-SHA256 of the
// raw body under the app secret, compared in constant time. Meta signs no
// timestamp: deduplication on the message id is the replay defence.
func (p *Platform) Verify(r channel.Request, verificationSecret secret.Secret) (channel.Verified, error) {
	appSecret, verifyToken, err := verification(verificationSecret)
	if err != nil {
		return channel.Verified{}, channel.Reject(channel.ReasonNoSecret)
	}
	switch r.Method {
	case http.MethodGet:
		return channel.Verified{}, verifyChallenge(r.Query, verifyToken)
	case http.MethodPost:
		return channel.Verified{}, VerifySignature(r.Header.Values(SignatureHeader), r.Body, appSecret)
	}
	return channel.Verified{}, channel.Reject(channel.ReasonMethod)
}

func verifyChallenge(q url.Values, verifyToken secret.Secret) error {
	mode, tok, challenge := q["hub.mode"], q["hub.verify_token"], q["hub.challenge"]
	if len(tok) == 0 || tok[0] == "" {
		return channel.Reject(channel.ReasonMissingHeader)
	}
	if len(tok) > 1 || len(mode) != 1 || mode[0] != "subscribe" || len(challenge) != 1 {
		return channel.Reject(channel.ReasonMalformedHeader)
	}
	g, w := sha256.Sum256([]byte(tok[0])), sha256.Sum256([]byte(verifyToken.Reveal()))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return channel.Reject(channel.ReasonBadSignature)
	}
	return nil
}

// VerifySignature checks the values of X-Hub-Signature-256 against the
// HMAC-SHA256 of body under appSecret, in constant time.
func VerifySignature(values []string, body []byte, appSecret secret.Secret) error {
	if len(values) == 0 || values[0] == "" {
		return channel.Reject(channel.ReasonMissingHeader)
	}
	if len(values) > 1 {
		return channel.Reject(channel.ReasonMalformedHeader)
	}
	hexSig, ok := strings.CutPrefix(values[0], "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return channel.Reject(channel.ReasonMalformedHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return channel.Reject(channel.ReasonMalformedHeader)
	}
	mac := hmac.New(sha256.New, []byte(appSecret.Reveal()))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return channel.Reject(channel.ReasonBadSignature)
	}
	return nil
}

// Sign is the X-Hub-Signature-256 value Meta sends for body.
func Sign(appSecret secret.Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret.Reveal()))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// maxChallenge bounds the echoed hub.challenge (Meta sends a number).
const maxChallenge = 128

var errNotAChallenge = palisade.Errorf(palisade.CodeInvalid, "hub.challenge must be a short token")

// Parse turns a verified request into a Delivery: the challenge echoed as
// text/plain for the GET, the messages to answer for a POST.
func (p *Platform) Parse(r channel.Request, ch palisade.Channel) (channel.Delivery, error) {
	if r.Method == http.MethodGet {
		c := r.Query.Get("hub.challenge")
		if c == "" || len(c) > maxChallenge || strings.IndexFunc(c, func(r rune) bool { return r <= 0x20 || r >= 0x7f || r == '<' || r == '>' }) >= 0 {
			return channel.Delivery{}, errNotAChallenge
		}
		return channel.Delivery{Response: channel.Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(c)}}, nil
	}
	phoneID := channel.Settings(ch)[settingPhoneID]
	if phoneID == "" {
		phoneID = ch.ExternalID
	}
	msgs, err := ParsePayload(r.Body, phoneID, p.now())
	if err != nil {
		return channel.Delivery{}, err
	}
	return channel.Delivery{Messages: msgs}, nil
}
