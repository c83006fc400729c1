package widget

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Lifetimes of what the service signs.
const (
	// TokenTTL is how long a session token is accepted. The frame asks
	// for a new one (keeping its session) when it expires.
	TokenTTL = time.Hour
	// TicketTTL is how long the ticket a frame page carries may be turned
	// into a session token.
	TicketTTL = 10 * time.Minute
	// MaxSessionAge bounds how long an expired token may still be shown
	// to continue its session in a new token.
	MaxSessionAge = 30 * 24 * time.Hour
	// MaxTokenLength bounds what is parsed at all.
	MaxTokenLength = 1024
)

// Token kinds, each MACed under its own label so that one kind can never
// be presented as another.
const (
	kindSession = "session"
	kindTicket  = "ticket"
)

var sessionPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// ErrBadToken is every refusal of a token's form, signature, kind, bot or
// age: the client learns nothing about which check failed.
var ErrBadToken = palisade.Errorf(palisade.CodeUnauthorized, "the widget session is not valid here; reload the page to start a new one")

// Keys signs and verifies widget tokens with HMAC-SHA256 under a key
// derived from the master key.
type Keys struct {
	key []byte
}

// NewKeys keeps a copy of key, which must be at least 32 bytes.
func NewKeys(key []byte) (*Keys, error) {
	if len(key) < 32 {
		return nil, errors.New("widget: token key must be at least 32 bytes")
	}
	return &Keys{key: append([]byte(nil), key...)}, nil
}

// claims is the signed payload of both kinds of token.
type claims struct {
	Kind    string `json:"k"`
	Bot     string `json:"b"`
	Origin  string `json:"o,omitempty"` // session: the embedding origin; ticket: the Referer's origin, if any
	Site    string `json:"f,omitempty"` // ticket: Sec-Fetch-Site of the frame load, if sent
	Session string `json:"s,omitempty"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"e"`
}

func (k *Keys) mac(payload string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("palisade widget token v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (k *Keys) sign(c claims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(k.mac(payload)), nil
}

// parse checks the form and the signature of a token, then decodes it. The
// signature is checked before anything of the payload is read.
func (k *Keys) parse(tok string) (claims, error) {
	if len(tok) == 0 || len(tok) > MaxTokenLength {
		return claims{}, ErrBadToken
	}
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok || strings.Contains(sig, ".") {
		return claims{}, ErrBadToken
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.mac(payload)) {
		return claims{}, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return claims{}, ErrBadToken
	}
	var c claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return claims{}, ErrBadToken
	}
	if !palisade.ValidID(palisade.PrefixBot, c.Bot) {
		return claims{}, ErrBadToken
	}
	switch c.Kind {
	case kindSession:
		if !sessionPattern.MatchString(c.Session) || c.Origin == "" {
			return claims{}, ErrBadToken
		}
	case kindTicket:
		if c.Session != "" {
			return claims{}, ErrBadToken
		}
	default:
		return claims{}, ErrBadToken
	}
	return c, nil
}

// verify parses tok and checks its kind, its bot and that now is within
// its validity.
func (k *Keys) verify(tok, kind string, bot palisade.BotID, now time.Time) (claims, error) {
	c, err := k.parse(tok)
	if err != nil {
		return claims{}, err
	}
	if c.Kind != kind || c.Bot != string(bot) {
		return claims{}, ErrBadToken
	}
	if now.Unix() >= c.Expires || now.Unix() < c.Issued-60 {
		return claims{}, ErrBadToken
	}
	return c, nil
}

// newSessionID returns 128 random bits, URL-safe: a valid external user id
// of a conversation key.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
