// Package widget is the website widget's channel logic. A widget frame
// holds a short-lived, signed, stateless session token bound to one bot,
// one embedding origin and a random session id. The token is issued only
// when what the browser reported about the frame's embedder (the
// Sec-Fetch-* headers and the Referer of the frame load, and the frame's
// location.ancestorOrigins) agrees and names one of the bot's allowed
// domains; it is accepted only for that bot, from that origin or from the
// frame itself, while the domain is still allowed. Each message runs
// through the conversation service under the key
// agent:{botId}:widget:dm:{sessionId}, a stored conversation under the
// workspace's message retention like every other.
//
// It must never issue a token for an origin the bot does not allow, accept
// a token for another bot or from another origin, or keep any state of its
// own: the conversation row is the only stored trace of a session.
package widget

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Channel is the channel name of widget conversations.
const Channel = "widget"

// Store is what the service reads: which workspace a bot belongs to, and
// the bot (its allowed domains).
type Store interface {
	LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
}

// Conversations answers a message (*conversation.Service).
type Conversations interface {
	Handle(ctx context.Context, scope palisade.Scope, in conversation.Inbound) (conversation.Reply, error)
}

var _ Conversations = (*conversation.Service)(nil)

// Service issues widget sessions and runs their messages.
type Service struct {
	Store         Store
	Conversations Conversations
	Keys          *Keys
	Now           func() time.Time
}

// Origins returns the https origins of a bot's allowed domains, exactly as
// a browser writes them in an Origin header: a bare host becomes
// https://host, and an explicit :443 is dropped.
func Origins(b palisade.Bot) []string {
	out := make([]string, 0, len(b.AllowedDomains))
	for _, d := range b.AllowedDomains {
		o := d
		if !strings.HasPrefix(o, "https://") {
			o = "https://" + o
		}
		o = strings.TrimSuffix(o, ":443")
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// Bot finds a bot by id alone, as the widget's routes carry nothing else.
// An unknown bot is palisade.ErrNotFound.
func (s *Service) Bot(ctx context.Context, id palisade.BotID) (palisade.Bot, palisade.Scope, error) {
	if !palisade.ValidID(palisade.PrefixBot, string(id)) {
		return palisade.Bot{}, palisade.Scope{}, palisade.ErrNotFound
	}
	ws, err := s.Store.LookupBotWorkspace(ctx, id)
	if errors.Is(err, store.ErrNotFound) || palisade.ErrorCode(err) == palisade.CodeNotFound {
		return palisade.Bot{}, palisade.Scope{}, palisade.ErrNotFound
	}
	if err != nil {
		return palisade.Bot{}, palisade.Scope{}, fmt.Errorf("looking up the widget's bot: %w", err)
	}
	scope := palisade.ScopeFor(ws)
	b, err := s.Store.GetBot(ctx, scope, id)
	if err != nil {
		return palisade.Bot{}, palisade.Scope{}, fmt.Errorf("reading the widget's bot: %w", err)
	}
	return b, scope, nil
}

// FrameLoad is what the browser reported when it loaded the frame page.
type FrameLoad struct {
	Dest    string // Sec-Fetch-Dest
	Site    string // Sec-Fetch-Site
	Referer string
}

// Frame is what the frame page is built from.
type Frame struct {
	Bot palisade.Bot
	// Origins may frame the page (CSP frame-ancestors); none means none.
	Origins []string
	// Ticket lets the frame's script ask for a session token; it is empty
	// when the page is refused.
	Ticket string
	// Refused says, for people, why the widget will not work here.
	Refused string
}

// Refusal texts of the frame page.
const (
	RefusedNoDomains = "This bot has no allowed website domains, so its widget loads nowhere. Add the domains of your site on the bot's page."
	RefusedNotFramed = "This is the chat widget of a website. It works only inside the sites its owner allows."
	RefusedReferer   = "This site is not allowed to show this chat widget."
)

// Frame checks a load of the frame page and signs the ticket that lets its
// script start a session. The browser enforces frame-ancestors with
// Origins; the ticket records what the load said about the embedder
// (Referer's origin, Sec-Fetch-Site) for Start to check against the
// script's own report.
func (s *Service) Frame(ctx context.Context, id palisade.BotID, load FrameLoad) (Frame, error) {
	b, _, err := s.Bot(ctx, id)
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Bot: b, Origins: Origins(b)}
	switch {
	case len(f.Origins) == 0:
		f.Origins = nil
		f.Refused = RefusedNoDomains
		return f, nil
	case load.Dest != "" && load.Dest != "iframe":
		// Opened as a page, or pulled in as something else.
		f.Refused = RefusedNotFramed
		return f, nil
	case load.Site == "none":
		f.Refused = RefusedNotFramed
		return f, nil
	}
	ref := ""
	if load.Referer != "" {
		ref = originOf(load.Referer)
		if ref == "" || !slices.Contains(f.Origins, ref) {
			f.Refused = RefusedReferer
			return f, nil
		}
	}
	now := s.Now()
	f.Ticket, err = s.Keys.sign(claims{Kind: kindTicket, Bot: string(b.ID), Origin: ref, Site: load.Site,
		Issued: now.Unix(), Expires: now.Add(TicketTTL).Unix()})
	if err != nil {
		return Frame{}, fmt.Errorf("signing the widget ticket: %w", err)
	}
	return f, nil
}

// originOf returns the origin of an absolute https URL, as a browser
// writes it, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return "https://" + strings.TrimSuffix(strings.ToLower(u.Host), ":443")
}

// Caller is where a widget API request comes from, as its browser says.
type Caller struct {
	// Origin is the request's Origin header.
	Origin string
	// Self is the origin the request was sent to (the widget frame's own).
	Self string
}

// StartParams is a frame script's request for a session token.
type StartParams struct {
	Ticket string
	// Ancestor is the frame's location.ancestorOrigins[0], if the browser
	// has it.
	Ancestor string
	// Previous is the frame's earlier session token, to continue its
	// conversation; may be empty or expired.
	Previous string
}

// Session is an issued session token.
type Session struct {
	Token     string
	Origin    string
	ExpiresAt time.Time
	// Continued is true when the session of Previous was kept.
	Continued bool
}

var (
	errNotFromFrame = palisade.Errorf(palisade.CodeForbidden, "a widget session is started only by the widget frame")
	errOrigin       = palisade.Errorf(palisade.CodeForbidden, "this site is not allowed to use this chat widget")
	errNoEvidence   = palisade.Errorf(palisade.CodeForbidden, "the browser did not say which site shows this widget")
)

// Start turns a frame's ticket into a session token. The frame's script
// must be the caller (Origin is the frame's own); the embedding origin is
// what the frame load's Referer and the script's ancestorOrigins say, at
// least one of them, agreeing when both are known, consistent with the
// load's Sec-Fetch-Site, and one of the bot's allowed domains now. A
// Previous token of the same bot and origin, however expired, keeps its
// session (and so its conversation) for up to MaxSessionAge.
func (s *Service) Start(ctx context.Context, id palisade.BotID, from Caller, p StartParams) (Session, error) {
	if from.Origin == "" || from.Origin != from.Self {
		return Session{}, errNotFromFrame
	}
	now := s.Now()
	t, err := s.Keys.verify(p.Ticket, kindTicket, id, now)
	if err != nil {
		return Session{}, err
	}
	b, _, err := s.Bot(ctx, id)
	if err != nil {
		return Session{}, err
	}
	origin := t.Origin
	if p.Ancestor != "" {
		a := originOf(p.Ancestor)
		if a == "" || (origin != "" && a != origin) {
			return Session{}, errOrigin
		}
		origin = a
	}
	if origin == "" {
		return Session{}, errNoEvidence
	}
	if !slices.Contains(Origins(b), origin) {
		return Session{}, errOrigin
	}
	// The fetch metadata of the frame load must agree: the frame's own
	// origin embedding it is "same-origin", anything else is not.
	if t.Site != "" && (t.Site == "same-origin") != (origin == from.Self) {
		return Session{}, errOrigin
	}
	sess := Session{Origin: origin, ExpiresAt: now.Add(TokenTTL)}
	session := ""
	if p.Previous != "" {
		if c, err := s.Keys.parse(p.Previous); err == nil && c.Kind == kindSession && c.Bot == string(id) && c.Origin == origin &&
			now.Sub(time.Unix(c.Issued, 0)) < MaxSessionAge {
			session = c.Session
			sess.Continued = true
		}
	}
	if session == "" {
		session = newSessionID()
	}
	sess.Token, err = s.Keys.sign(claims{Kind: kindSession, Bot: string(id), Origin: origin, Session: session,
		Issued: now.Unix(), Expires: sess.ExpiresAt.Unix()})
	if err != nil {
		return Session{}, fmt.Errorf("signing the widget session: %w", err)
	}
	return sess, nil
}

// Authorized is a verified session token and its bot.
type Authorized struct {
	Bot     palisade.Bot
	Scope   palisade.Scope
	Origin  string
	Session string
}

// Authorize checks a session token on a widget API request: signed, not
// expired, for this bot, used from its own embedding origin or from the
// frame itself, and that origin still one of the bot's allowed domains.
func (s *Service) Authorize(ctx context.Context, id palisade.BotID, from Caller, token string) (Authorized, error) {
	c, err := s.Keys.verify(token, kindSession, id, s.Now())
	if err != nil {
		return Authorized{}, err
	}
	if from.Origin == "" || (from.Origin != c.Origin && from.Origin != from.Self) {
		return Authorized{}, errOrigin
	}
	b, scope, err := s.Bot(ctx, id)
	if err != nil {
		return Authorized{}, err
	}
	if !slices.Contains(Origins(b), c.Origin) {
		return Authorized{}, errOrigin
	}
	return Authorized{Bot: b, Scope: scope, Origin: c.Origin, Session: c.Session}, nil
}

// Send answers one message of an authorized session; onDelta, when set,
// gets the answer as it is generated.
func (s *Service) Send(ctx context.Context, a Authorized, text string, onDelta func(string) error) (conversation.Reply, error) {
	return s.Conversations.Handle(ctx, a.Scope, conversation.Inbound{BotID: a.Bot.ID, Channel: Channel, UserID: a.Session, Text: text, OnDelta: onDelta})
}

// Key is the conversation key of a widget session.
func Key(bot palisade.BotID, session string) string {
	return conversation.Inbound{BotID: bot, Channel: Channel, UserID: session}.Key()
}
