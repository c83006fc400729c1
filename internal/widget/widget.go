// Package widget is the HTTP surface of the website widget: /widget.js,
// the script a site pastes (a launcher button and an iframe); the frame
// page /widget/{botId}, which only the bot's allowed domains may frame
// (CSP frame-ancestors); and the frame's small API, which starts a session
// and streams answers as server-sent events. The rules of sessions and
// origins live in internal/channel/widget; this package translates HTTP to
// them, rate-limits per client IP and per session, and answers CORS only
// for the bot's own domains.
//
// It must never serve the frame page without the bot's frame-ancestors,
// run inline script or style, or answer a cross-origin request from an
// origin the bot does not allow.
package widget

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	chwidget "github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/sse"
)

//go:embed static
var staticFS embed.FS

//go:embed templates/frame.html
var templateFS embed.FS

// Service is the widget's channel logic (*chwidget.Service).
type Service interface {
	Bot(ctx context.Context, id palisade.BotID) (palisade.Bot, palisade.Scope, error)
	Frame(ctx context.Context, id palisade.BotID, load chwidget.FrameLoad) (chwidget.Frame, error)
	Start(ctx context.Context, id palisade.BotID, from chwidget.Caller, p chwidget.StartParams) (chwidget.Session, error)
	Authorize(ctx context.Context, id palisade.BotID, from chwidget.Caller, token string) (chwidget.Authorized, error)
	Send(ctx context.Context, a chwidget.Authorized, text string, onDelta func(string) error) (conversation.Reply, error)
}

var _ Service = (*chwidget.Service)(nil)

// Options configure the widget surface.
type Options struct {
	Service Service
	// Limiter and Limits apply widget_ip and widget_session; a nil
	// Limiter limits nothing.
	Limiter ratelimit.Limiter
	Limits  ratelimit.Table
	// OnRateLimited, when set, is told of each request of a known
	// workspace that a limit refused (widget_session; widget_ip refuses
	// before the bot is read), by workspace and limit class; it must not
	// block or write per call.
	OnRateLimited func(ws palisade.WorkspaceID, class string)
	Proxies       *httpx.TrustedProxies
	Logger        *slog.Logger
}

// Widget serves the widget's routes.
type Widget struct {
	o      Options
	page   *template.Template
	static fs.FS
}

// New builds the surface; it fails when a limit class is missing from a
// configured Limiter's table.
func New(o Options) (*Widget, error) {
	if o.Service == nil {
		return nil, errors.New("widget: no service")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limiter != nil {
		for _, c := range []ratelimit.Class{ratelimit.ClassWidgetIP, ratelimit.ClassWidgetSession} {
			if _, ok := o.Limits.Policy(c); !ok {
				return nil, errors.New("widget: no rate limit for " + string(c))
			}
		}
	}
	page, err := template.ParseFS(templateFS, "templates/frame.html")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return &Widget{o: o, page: page, static: sub}, nil
}

// MaxMessageBody bounds a message request's body: 4,000 characters of up
// to four bytes each, JSON-escaped, with room to spare.
const MaxMessageBody = 64 << 10

// maxStartBody bounds a session request's body.
const maxStartBody = 8 << 10

// Handler builds the surface's mux from Routes.
func (wg *Widget) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range wg.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, wg.guard(rt))
		if rt.CORS {
			// The preflight of a cross-origin call from the bot's site.
			mux.Handle(http.MethodOptions+" "+rt.Pattern, wg.guard(Route{Method: http.MethodOptions, Pattern: rt.Pattern, CORS: true,
				Handle: func(w http.ResponseWriter, r *http.Request) error { return palisade.ErrNotFound }}))
		}
	}
	return httpx.Mux(mux)
}

// guard validates path ids before anything else (no query for a malformed
// id), applies the per-IP limit, and CORS for the bot's own domains where
// the route allows it.
func (wg *Widget) guard(rt Route) http.Handler {
	var h http.Handler = rt.Handle
	if rt.CORS {
		h = httpx.CORS(wg.corsOrigins, httpx.CORSOptions{
			Methods:       []string{http.MethodPost},
			Headers:       []string{"Content-Type", "Authorization"},
			ExposeHeaders: []string{"Retry-After", "RateLimit", "RateLimit-Policy"},
		})(h)
	}
	params := palisade.PathWildcards(rt.Pattern)
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range params {
			if name == "file" {
				continue // a static asset's name, checked against its list by the handler
			}
			prefix, ok := palisade.PathParamPrefix(name)
			if !ok || !palisade.ValidID(prefix, r.PathValue(name)) {
				return palisade.ErrNotFound
			}
		}
		if rt.Class != ratelimit.ClassStatic {
			if err := wg.limit(w, r, ratelimit.ClassWidgetIP, ratelimit.IPKey(wg.o.Proxies.ClientIP(r)), ""); err != nil {
				return err
			}
		}
		h.ServeHTTP(w, r)
		return nil
	})
}

// corsOrigins are the origins a cross-origin caller may be: the bot's
// allowed domains, and nothing for an unknown bot.
func (wg *Widget) corsOrigins(r *http.Request) []string {
	b, _, err := wg.o.Service.Bot(r.Context(), palisade.BotID(r.PathValue("botId")))
	if err != nil {
		return nil
	}
	return chwidget.Origins(b)
}

// limit applies class to key; ws is the workspace charged, when known,
// for the refusal counts.
func (wg *Widget) limit(w http.ResponseWriter, r *http.Request, class ratelimit.Class, key string, ws palisade.WorkspaceID) error {
	if wg.o.Limiter == nil {
		return nil
	}
	policy, _ := wg.o.Limits.Policy(class)
	d, err := wg.o.Limiter.Allow(r.Context(), policy, key)
	if err != nil {
		return err
	}
	ratelimit.WriteHeaders(w.Header(), d)
	if !d.Allowed {
		if ws != "" && wg.o.OnRateLimited != nil {
			wg.o.OnRateLimited(ws, policy.Name)
		}
		return palisade.Errorf(palisade.CodeRateLimited, "too many requests; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}

// caller is where a request comes from, by its Origin header, and the
// origin it was sent to (the frame's own).
func (wg *Widget) caller(r *http.Request) chwidget.Caller {
	scheme := "http"
	if r.TLS != nil || wg.o.Proxies.ForwardedTLS(r) {
		scheme = "https"
	}
	origin := ""
	if v := r.Header.Values("Origin"); len(v) == 1 {
		origin = v[0]
	}
	return chwidget.Caller{Origin: origin, Self: scheme + "://" + strings.ToLower(r.Host)}
}

// script serves /widget.js: cacheable, and loadable by any site (CORP
// cross-origin), since it only draws a launcher and a frame that the
// frame's own policy guards.
func (wg *Widget) script(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.AllowCrossOriginResource(r.Context()); err != nil {
		return err
	}
	return wg.serveStatic(w, r, "widget.js")
}

// asset serves the frame's own script and style.
func (wg *Widget) asset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	switch name {
	case "frame.js", "frame.css":
		return wg.serveStatic(w, r, name)
	}
	return palisade.ErrNotFound
}

func (wg *Widget) serveStatic(w http.ResponseWriter, r *http.Request, name string) error {
	b, err := fs.ReadFile(wg.static, name)
	if err != nil {
		return palisade.ErrNotFound
	}
	ct := "text/javascript; charset=utf-8"
	if strings.HasSuffix(name, ".css") {
		ct = "text/css; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(b)
	return err
}

type framePage struct {
	Nonce   string
	Bot     palisade.BotID
	Name    string
	Ticket  string
	Refused string
}

// frame serves the frame page. Its frame-ancestors list the bot's allowed
// domains exactly (none: 'none'); X-Frame-Options is dropped on this route
// only. A refused load still gets a page, saying why, with no ticket and
// no script.
func (wg *Widget) frame(w http.ResponseWriter, r *http.Request) error {
	id := palisade.BotID(r.PathValue("botId"))
	f, err := wg.o.Service.Frame(r.Context(), id, chwidget.FrameLoad{
		Dest: r.Header.Get("Sec-Fetch-Dest"), Site: r.Header.Get("Sec-Fetch-Site"), Referer: r.Header.Get("Referer")})
	if err != nil {
		return err
	}
	if err := httpx.AllowFraming(r.Context(), f.Origins); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if f.Refused != "" {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
	return wg.page.Execute(w, framePage{Nonce: httpx.Nonce(r.Context()), Bot: id, Name: f.Bot.Name, Ticket: f.Ticket, Refused: f.Refused})
}

type startInput struct {
	Ticket   string `json:"ticket"`
	Ancestor string `json:"ancestor_origin"`
	Previous string `json:"previous_token"`
}

type sessionJSON struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	Continued bool   `json:"continued"`
}

// start turns the frame's ticket into a session token.
func (wg *Widget) start(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	var in startInput
	if err := httpx.DecodeJSON(r, &in, maxStartBody); err != nil {
		return err
	}
	s, err := wg.o.Service.Start(r.Context(), palisade.BotID(r.PathValue("botId")), wg.caller(r),
		chwidget.StartParams{Ticket: in.Ticket, Ancestor: in.Ancestor, Previous: in.Previous})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sessionJSON{Token: s.Token, ExpiresAt: s.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"), Continued: s.Continued})
}

type messageInput struct {
	Message string `json:"message"`
}

type sourceJSON struct {
	Title   string `json:"title"`
	Excerpt string `json:"excerpt"`
}

type replyJSON struct {
	Reply   string       `json:"reply"`
	Sources []sourceJSON `json:"sources"`
	Mode    string       `json:"mode"`
}

var errNoToken = palisade.Errorf(palisade.CodeUnauthorized, "a widget session token is required (Authorization: Bearer …)")

// message answers one message as server-sent events: "delta" with text as
// it is generated, then "done" with the whole reply and its sources, or
// "error". Refusals before the stream starts are ordinary error responses.
func (wg *Widget) message(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	id := palisade.BotID(r.PathValue("botId"))
	tok, ok := bearer(r)
	if !ok {
		return errNoToken
	}
	a, err := wg.o.Service.Authorize(r.Context(), id, wg.caller(r), tok)
	if err != nil {
		return err
	}
	if err := wg.limit(w, r, ratelimit.ClassWidgetSession, ratelimit.Key("widget", string(id), a.Session), a.Scope.Workspace()); err != nil {
		return err
	}
	var in messageInput
	if err := httpx.DecodeJSON(r, &in, MaxMessageBody); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(in.Message); n > conversation.MaxMessage {
		return palisade.FieldError("message", "message must be at most %d characters", conversation.MaxMessage)
	}
	if strings.TrimSpace(in.Message) == "" {
		return palisade.FieldError("message", "message must not be empty")
	}
	events := sse.NewWriter(w)
	reply, err := wg.o.Service.Send(r.Context(), a, in.Message, func(d string) error {
		return events.Send("delta", map[string]string{"text": d})
	})
	if err != nil && !events.Started() {
		return err
	}
	if err != nil {
		return events.Send("error", httpx.PublicError(r.Context(), err))
	}
	out := replyJSON{Reply: reply.Text, Sources: make([]sourceJSON, 0, len(reply.Sources)), Mode: reply.Mode}
	for _, s := range reply.Sources {
		out.Sources = append(out.Sources, sourceJSON{Title: s.Title, Excerpt: s.Excerpt})
	}
	return events.Send("done", out)
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}
