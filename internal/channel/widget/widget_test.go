package widget_test

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

const (
	self = "https://palisade.example"
	shop = "https://shop.example"
)

type bundle struct {
	svc   *widget.Service
	store store.Store
	scope palisade.Scope
	bot   palisade.Bot
	other palisade.Bot // same workspace, same domains
	now   *atomic.Int64
}

func setup(t *testing.T) bundle {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	mk := func(name string) palisade.Bot {
		b, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: name, Model: "gpt-4o-mini", PIIMode: palisade.PIIOff,
			AllowedDomains: []string{"shop.example", "https://b.example:8443"}, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := bundle{store: s, scope: scope, bot: mk("Helper"), other: mk("Other"), now: &atomic.Int64{}}
	b.now.Store(t0.Unix())
	kn := &knowledge.Service{Store: s, Now: func() time.Time { return t0 }}
	if _, err := kn.Add(t.Context(), scope, b.bot.ID, knowledge.NewDocument{Title: "Opening hours", ContentType: knowledge.TypePlain,
		Content: "The shop opens at nine and closes at six."}); err != nil {
		t.Fatal(err)
	}
	keys, err := widget.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(b.now.Load(), 0).UTC() }
	b.svc = &widget.Service{Store: s, Keys: keys, Now: now,
		Conversations: &conversation.Service{Store: s, Knowledge: kn, Now: now}}
	return b
}

func (b bundle) ticket(t *testing.T, bot palisade.BotID, load widget.FrameLoad) string {
	t.Helper()
	f, err := b.svc.Frame(t.Context(), bot, load)
	if err != nil {
		t.Fatal(err)
	}
	if f.Refused != "" || f.Ticket == "" {
		t.Fatalf("frame refused: %q", f.Refused)
	}
	return f.Ticket
}

var framed = widget.FrameLoad{Dest: "iframe", Site: "cross-site", Referer: shop + "/products/1"}

func (b bundle) start(t *testing.T) widget.Session {
	t.Helper()
	s, err := b.svc.Start(t.Context(), b.bot.ID, widget.Caller{Origin: self, Self: self},
		widget.StartParams{Ticket: b.ticket(t, b.bot.ID, framed), Ancestor: shop})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	got := widget.Origins(palisade.Bot{AllowedDomains: []string{"shop.example", "https://b.example:8443", "https://c.example:443", "shop.example"}})
	want := []string{"https://shop.example", "https://b.example:8443", "https://c.example"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Origins = %q, want %q", got, want)
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	f, err := b.svc.Frame(ctx, b.bot.ID, framed)
	if err != nil || f.Ticket == "" || f.Refused != "" || strings.Join(f.Origins, " ") != "https://shop.example https://b.example:8443" {
		t.Fatalf("Frame = %+v, %v", f, err)
	}
	for name, load := range map[string]widget.FrameLoad{
		"opened as a page":      {Dest: "document", Site: "none"},
		"typed in":              {Site: "none"},
		"embedded as an object": {Dest: "object", Site: "cross-site", Referer: shop + "/"},
		"from another site":     {Dest: "iframe", Site: "cross-site", Referer: "https://other.example/"},
		"from plain http":       {Dest: "iframe", Site: "cross-site", Referer: "http://shop.example/"},
	} {
		f, err := b.svc.Frame(ctx, b.bot.ID, load)
		if err != nil || f.Ticket != "" || f.Refused == "" {
			t.Errorf("%s: Frame = %+v, %v; want a refusal without a ticket", name, f, err)
		}
	}
	// No allowed domains: no origin may frame it, and the page says why.
	if err := b.store.DeleteBot(ctx, b.scope, b.other.ID); err != nil {
		t.Fatal(err)
	}
	bare, err := b.store.CreateBot(ctx, b.scope, palisade.Bot{Name: "Bare", Model: "gpt-4o-mini", PIIMode: palisade.PIIOff})
	if err != nil {
		t.Fatal(err)
	}
	f, err = b.svc.Frame(ctx, bare.ID, framed)
	if err != nil || f.Origins != nil || f.Ticket != "" || f.Refused != widget.RefusedNoDomains {
		t.Fatalf("Frame without domains = %+v, %v", f, err)
	}
	if _, err := b.svc.Frame(ctx, b.other.ID, framed); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("Frame of a deleted bot: %v, want not found", err)
	}
	if _, err := b.svc.Frame(ctx, "bot_nope", framed); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("Frame of a malformed id: %v, want not found", err)
	}
}

func TestStartChecksTheEmbedder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	frame := widget.Caller{Origin: self, Self: self}
	cases := []struct {
		name   string
		from   widget.Caller
		load   widget.FrameLoad
		anc    string
		bot    palisade.BotID // ticket's bot; b.bot when empty
		ticket string
		code   palisade.Code
	}{
		{name: "referer and ancestor agree", from: frame, load: framed, anc: shop},
		{name: "referer only", from: frame, load: framed},
		{name: "ancestor only (no-referrer page)", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "cross-site"}, anc: shop},
		{name: "ancestor on another port of the list", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "cross-site"}, anc: "https://b.example:8443"},
		{name: "no evidence at all", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "cross-site"}, code: palisade.CodeForbidden},
		{name: "ancestor disagrees with referer", from: frame, load: framed, anc: "https://b.example:8443", code: palisade.CodeForbidden},
		{name: "ancestor not allowed", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "cross-site"}, anc: "https://other.example", code: palisade.CodeForbidden},
		{name: "ancestor over http", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "cross-site"}, anc: "http://shop.example", code: palisade.CodeForbidden},
		{name: "same-origin fetch metadata for another site", from: frame, load: widget.FrameLoad{Dest: "iframe", Site: "same-origin", Referer: shop + "/"}, code: palisade.CodeForbidden},
		{name: "called from the site, not the frame", from: widget.Caller{Origin: shop, Self: self}, load: framed, anc: shop, code: palisade.CodeForbidden},
		{name: "called without Origin", from: widget.Caller{Self: self}, load: framed, anc: shop, code: palisade.CodeForbidden},
		{name: "ticket of another bot", from: frame, load: framed, anc: shop, bot: b.other.ID, code: palisade.CodeUnauthorized},
		{name: "garbage ticket", from: frame, anc: shop, ticket: "x.y", code: palisade.CodeUnauthorized},
	}
	for _, tc := range cases {
		tk := tc.ticket
		if tk == "" {
			bot := tc.bot
			if bot == "" {
				bot = b.bot.ID
			}
			tk = b.ticket(t, bot, tc.load)
		}
		s, err := b.svc.Start(ctx, b.bot.ID, tc.from, widget.StartParams{Ticket: tk, Ancestor: tc.anc})
		if palisade.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
			t.Errorf("%s: Start = %+v, %v; want code %q", tc.name, s, err, tc.code)
		}
		if tc.code == "" && (s.Token == "" || s.Origin == "") {
			t.Errorf("%s: Start = %+v", tc.name, s)
		}
	}
	// An expired ticket.
	tk := b.ticket(t, b.bot.ID, framed)
	b.now.Add(int64(widget.TicketTTL/time.Second) + 1)
	if _, err := b.svc.Start(ctx, b.bot.ID, frame, widget.StartParams{Ticket: tk, Ancestor: shop}); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("expired ticket: %v", err)
	}
	// A ticket is not a session token, nor the reverse.
	s := b.start(t)
	if _, err := b.svc.Authorize(ctx, b.bot.ID, frame, b.ticket(t, b.bot.ID, framed)); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("ticket used as a session token: %v", err)
	}
	if _, err := b.svc.Start(ctx, b.bot.ID, frame, widget.StartParams{Ticket: s.Token, Ancestor: shop}); palisade.ErrorCode(err) != palisade.CodeUnauthorized {
		t.Fatalf("session token used as a ticket: %v", err)
	}
}

func TestTokenBinding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	s := b.start(t)
	if s.Origin != shop {
		t.Fatalf("session origin %q", s.Origin)
	}
	ok := func(name string, from widget.Caller, bot palisade.BotID, tok string) widget.Authorized {
		t.Helper()
		a, err := b.svc.Authorize(ctx, bot, from, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return a
	}
	refused := func(name string, from widget.Caller, bot palisade.BotID, tok string, code palisade.Code) {
		t.Helper()
		if a, err := b.svc.Authorize(ctx, bot, from, tok); palisade.ErrorCode(err) != code {
			t.Errorf("%s: Authorize = %+v, %v; want %s", name, a, err, code)
		}
	}
	a := ok("from the frame", widget.Caller{Origin: self, Self: self}, b.bot.ID, s.Token)
	if a.Origin != shop || a.Bot.ID != b.bot.ID || len(a.Session) != 22 || a.Scope != b.scope {
		t.Fatalf("Authorized = %+v", a)
	}
	ok("from the embedding site", widget.Caller{Origin: shop, Self: self}, b.bot.ID, s.Token)
	refused("from another origin", widget.Caller{Origin: "https://other.example", Self: self}, b.bot.ID, s.Token, palisade.CodeForbidden)
	refused("from another allowed origin", widget.Caller{Origin: "https://b.example:8443", Self: self}, b.bot.ID, s.Token, palisade.CodeForbidden)
	refused("without Origin", widget.Caller{Self: self}, b.bot.ID, s.Token, palisade.CodeForbidden)
	refused("for another bot", widget.Caller{Origin: self, Self: self}, b.other.ID, s.Token, palisade.CodeUnauthorized)
	// Tampering: every byte flipped in turn of the payload and the MAC.
	for i := 0; i < len(s.Token); i++ {
		if s.Token[i] == '.' {
			continue
		}
		c := []byte(s.Token)
		c[i] ^= 0x01
		if _, err := b.svc.Authorize(ctx, b.bot.ID, widget.Caller{Origin: self, Self: self}, string(c)); err == nil {
			t.Fatalf("token tampered at byte %d was accepted", i)
		}
	}
	refused("truncated", widget.Caller{Origin: self, Self: self}, b.bot.ID, s.Token[:len(s.Token)-2], palisade.CodeUnauthorized)
	refused("empty", widget.Caller{Origin: self, Self: self}, b.bot.ID, "", palisade.CodeUnauthorized)
	// Signed under another key.
	otherKeys, _ := widget.NewKeys([]byte("another key, also thirty-two bytes long"))
	forged := &widget.Service{Store: b.store, Keys: otherKeys, Now: b.svc.Now}
	fs, err := forged.Start(ctx, b.bot.ID, widget.Caller{Origin: self, Self: self}, widget.StartParams{Ticket: mustTicket(t, forged, b.bot.ID), Ancestor: shop})
	if err != nil {
		t.Fatal(err)
	}
	refused("signed under another key", widget.Caller{Origin: self, Self: self}, b.bot.ID, fs.Token, palisade.CodeUnauthorized)

	// The domain removed: the token stops working at once.
	bot := b.bot
	bot.AllowedDomains = []string{"https://b.example:8443"}
	if _, err := b.store.UpdateBot(ctx, b.scope, bot); err != nil {
		t.Fatal(err)
	}
	refused("after its domain was removed", widget.Caller{Origin: self, Self: self}, b.bot.ID, s.Token, palisade.CodeForbidden)
	bot.AllowedDomains = []string{"shop.example"}
	if _, err := b.store.UpdateBot(ctx, b.scope, bot); err != nil {
		t.Fatal(err)
	}
	ok("domain back", widget.Caller{Origin: self, Self: self}, b.bot.ID, s.Token)

	// Expired.
	b.now.Add(int64(widget.TokenTTL / time.Second))
	refused("expired", widget.Caller{Origin: self, Self: self}, b.bot.ID, s.Token, palisade.CodeUnauthorized)
}

func mustTicket(t *testing.T, svc *widget.Service, bot palisade.BotID) string {
	t.Helper()
	f, err := svc.Frame(t.Context(), bot, framed)
	if err != nil || f.Ticket == "" {
		t.Fatalf("Frame = %+v, %v", f, err)
	}
	return f.Ticket
}

func TestSessionContinues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	frame := widget.Caller{Origin: self, Self: self}
	first := b.start(t)
	a1, err := b.svc.Authorize(ctx, b.bot.ID, frame, first.Token)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := b.svc.Send(ctx, a1, "When does the shop open?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Mode != conversation.ModeRetrievalOnly || len(r1.Sources) != 1 || r1.Sources[0].Title != "Opening hours" {
		t.Fatalf("reply = %+v", r1)
	}
	conv, err := b.store.GetConversation(ctx, b.scope, r1.ConversationID)
	if err != nil || conv.Key != "agent:"+string(b.bot.ID)+":widget:dm:"+a1.Session || conv.Key != widget.Key(b.bot.ID, a1.Session) {
		t.Fatalf("conversation = %+v, %v", conv, err)
	}

	// A later page load, after the token expired: the previous token keeps
	// the session and so the conversation.
	b.now.Add(int64(2 * widget.TokenTTL / time.Second))
	next, err := b.svc.Start(ctx, b.bot.ID, frame, widget.StartParams{Ticket: b.ticket(t, b.bot.ID, framed), Ancestor: shop, Previous: first.Token})
	if err != nil || !next.Continued {
		t.Fatalf("continued Start = %+v, %v", next, err)
	}
	a2, err := b.svc.Authorize(ctx, b.bot.ID, frame, next.Token)
	if err != nil || a2.Session != a1.Session {
		t.Fatalf("continued session %+v, %v; want session %s", a2, err, a1.Session)
	}
	r2, err := b.svc.Send(ctx, a2, "And when does it close?", nil)
	if err != nil || r2.ConversationID != r1.ConversationID {
		t.Fatalf("continued reply = %+v, %v; want conversation %s", r2, err, r1.ConversationID)
	}

	// The previous token of another bot, or from another site, starts a
	// new session instead.
	other, err := b.svc.Start(ctx, b.other.ID, frame, widget.StartParams{Ticket: b.ticket(t, b.other.ID, framed), Ancestor: shop, Previous: first.Token})
	if err != nil || other.Continued {
		t.Fatalf("Start for another bot with this bot's token = %+v, %v", other, err)
	}
	elsewhere, err := b.svc.Start(ctx, b.bot.ID, frame, widget.StartParams{Ticket: b.ticket(t, b.bot.ID, widget.FrameLoad{Dest: "iframe", Site: "cross-site"}),
		Ancestor: "https://b.example:8443", Previous: first.Token})
	if err != nil || elsewhere.Continued {
		t.Fatalf("Start from another site with this site's token = %+v, %v", elsewhere, err)
	}
	// Too old to continue.
	b.now.Add(int64(widget.MaxSessionAge / time.Second))
	old, err := b.svc.Start(ctx, b.bot.ID, frame, widget.StartParams{Ticket: b.ticket(t, b.bot.ID, framed), Ancestor: shop, Previous: first.Token})
	if err != nil || old.Continued {
		t.Fatalf("Start with a token older than MaxSessionAge = %+v, %v", old, err)
	}
}

func TestNewKeysRefusesShortKeys(t *testing.T) {
	t.Parallel()
	if _, err := widget.NewKeys(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
}
