package widget_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	chwidget "github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/widget"
)

const shop = "https://shop.example"

// countingStore counts the widget's lookups, to prove malformed ids are
// refused before any.
type countingStore struct {
	chwidget.Store
	n atomic.Int64
}

func (c *countingStore) LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error) {
	c.n.Add(1)
	return c.Store.LookupBotWorkspace(ctx, id)
}

func (c *countingStore) GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error) {
	c.n.Add(1)
	return c.Store.GetBot(ctx, scope, id)
}

type env struct {
	srv     *httptest.Server
	self    string
	store   store.Store
	counter *countingStore
	scope   palisade.Scope
	bot     palisade.Bot
	other   palisade.Bot
	bare    palisade.Bot
	now     *atomic.Int64
	// limited counts the requests a rate limit refused, per workspace.
	limited *conversation.RefusalCounter
}

type envOptions struct {
	limits    ratelimit.Table
	generator conversation.Generator
	// domains replace the allowed domains of bot and other.
	domains []string
	// tls serves over HTTPS with this configuration.
	tls *tls.Config
	// wrap wraps the surface (to observe what it answered).
	wrap func(http.Handler) http.Handler
}

func setup(t *testing.T, o envOptions) *env {
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
	mk := func(name string, domains ...string) palisade.Bot {
		b, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: name, Model: "gpt-4o-mini", PIIMode: palisade.PIIOff, AllowedDomains: domains, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	botDomains, otherDomains := []string{"shop.example", "https://b.example:8443"}, []string{"shop.example"}
	if o.domains != nil {
		botDomains, otherDomains = o.domains, o.domains
	}
	e := &env{store: s, scope: scope, now: &atomic.Int64{},
		bot: mk("Helper", botDomains...), other: mk("Other", otherDomains...), bare: mk("Bare")}
	e.now.Store(t0.Unix())
	now := func() time.Time { return time.Unix(e.now.Load(), 0).UTC() }
	kn := &knowledge.Service{Store: s, Now: now}
	if _, err := kn.Add(t.Context(), scope, e.bot.ID, knowledge.NewDocument{Title: "Opening hours", ContentType: knowledge.TypePlain,
		Content: "The shop opens at nine and closes at six."}); err != nil {
		t.Fatal(err)
	}
	keys, err := chwidget.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e.counter = &countingStore{Store: s}
	svc := &chwidget.Service{Store: e.counter, Keys: keys, Now: now,
		Conversations: &conversation.Service{Store: s, Knowledge: kn, Generator: o.generator, Now: now}}
	e.limited = conversation.NewRefusalCounter(s, now, nil)
	opts := widget.Options{Service: svc, OnRateLimited: e.limited.Refused}
	if o.limits != nil {
		opts.Limiter, opts.Limits = ratelimit.NewMemory(ratelimit.MemoryOptions{}), o.limits
	}
	wg, err := widget.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var h http.Handler = httpx.Edge(httpx.EdgeConfig{Logger: logger}, wg.Handler())
	if o.wrap != nil {
		h = o.wrap(h)
	}
	e.srv = httptest.NewUnstartedServer(h)
	if o.tls != nil {
		e.srv.TLS = o.tls
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	e.self = e.srv.URL
	return e
}

func (e *env) do(t *testing.T, method, path string, hdr map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

var ticketRE = regexp.MustCompile(`data-ticket="([^"]*)"`)

// framedLoad is what Chromium sends when https://shop.example frames the page.
var framedLoad = map[string]string{"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site", "Referer": shop + "/"}

func (e *env) ticket(t *testing.T, bot palisade.BotID) string {
	t.Helper()
	res := e.do(t, "GET", "/widget/"+string(bot), framedLoad, "")
	b, _ := io.ReadAll(res.Body)
	m := ticketRE.FindSubmatch(b)
	if res.StatusCode != 200 || m == nil || len(m[1]) == 0 {
		t.Fatalf("frame page: %d\n%s", res.StatusCode, b)
	}
	return string(m[1])
}

func (e *env) token(t *testing.T, bot palisade.BotID) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"ticket": e.ticket(t, bot), "ancestor_origin": shop})
	res := e.do(t, "POST", "/widget/"+string(bot)+"/session", map[string]string{"Origin": e.self}, string(body))
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.Token == "" {
		t.Fatalf("session: %d %+v %v", res.StatusCode, out, err)
	}
	return out.Token
}

func (e *env) send(t *testing.T, bot palisade.BotID, origin, token, msg string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"message": msg})
	h := map[string]string{"Authorization": "Bearer " + token}
	if origin != "" {
		h["Origin"] = origin
	}
	return e.do(t, "POST", "/widget/"+string(bot)+"/messages", h, string(body))
}

type event struct {
	name string
	data map[string]any
}

func readEvents(t *testing.T, res *http.Response) []event {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("Content-Type %q, status %d: %s", ct, res.StatusCode, b)
	}
	var out []event
	var cur event
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatal(err)
			}
		case line == "":
			out = append(out, cur)
			cur = event{}
		}
	}
	return out
}

func errorCode(t *testing.T, res *http.Response) string {
	t.Helper()
	var out struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out.Error.Code
}

func TestFramePageCSP(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	res := e.do(t, "GET", "/widget/"+string(e.bot.ID), framedLoad, "")
	csp := res.Header.Get("Content-Security-Policy")
	fa := regexp.MustCompile(`frame-ancestors ([^;]*)`).FindStringSubmatch(csp)
	if res.StatusCode != 200 || fa == nil || fa[1] != "https://shop.example https://b.example:8443" {
		t.Fatalf("status %d, CSP %q: want frame-ancestors exactly the bot's domains", res.StatusCode, csp)
	}
	if xfo := res.Header.Values("X-Frame-Options"); len(xfo) != 0 {
		t.Fatalf("X-Frame-Options %q on the frame page", xfo)
	}
	nonce := regexp.MustCompile(`script-src 'self' 'nonce-([A-Za-z0-9_-]+)'`).FindStringSubmatch(csp)
	body, _ := io.ReadAll(res.Body)
	if nonce == nil || !strings.Contains(string(body), `<script nonce="`+nonce[1]+`" src="/widget/assets/frame.js"></script>`) {
		t.Fatalf("the frame's script does not carry the response's nonce; CSP %q\n%s", csp, body)
	}
	if strings.Contains(string(body), "<style") || strings.Contains(string(body), " style=") || regexp.MustCompile(`<script(?: nonce="[^"]*")?>`).Match(body) {
		t.Fatalf("inline script or style on the frame page:\n%s", body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("frame page Cache-Control %q", cc)
	}

	// No domains: framed nowhere, and the page says why.
	res = e.do(t, "GET", "/widget/"+string(e.bare.ID), framedLoad, "")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != 403 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		res.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(string(body), "no allowed website domains") ||
		strings.Contains(string(body), "<script") {
		t.Fatalf("bot without domains: %d %q %q\n%s", res.StatusCode, res.Header.Get("Content-Security-Policy"), res.Header.Get("X-Frame-Options"), body)
	}
	// Opened directly, or framed by another site: a page without a ticket.
	for name, h := range map[string]map[string]string{
		"opened directly":   {"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none"},
		"from another site": {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site", "Referer": "https://other.example/"},
	} {
		res = e.do(t, "GET", "/widget/"+string(e.bot.ID), h, "")
		body, _ = io.ReadAll(res.Body)
		if res.StatusCode != 403 || strings.Contains(string(body), "<script") || !strings.Contains(string(body), `data-ticket=""`) {
			t.Errorf("%s: %d\n%s", name, res.StatusCode, body)
		}
	}
	// Another route keeps the strict default.
	res = e.do(t, "GET", "/widget.js", nil, "")
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("widget.js framing headers: %q %q", res.Header.Get("Content-Security-Policy"), res.Header.Get("X-Frame-Options"))
	}
}

func TestScriptAndAssets(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	res := e.do(t, "GET", "/widget.js", nil, "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		res.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" || !strings.HasPrefix(res.Header.Get("Cache-Control"), "public, max-age=") ||
		!strings.Contains(string(body), "document.currentScript") {
		t.Fatalf("widget.js: %d %v", res.StatusCode, res.Header)
	}
	for _, p := range []string{"/widget/assets/frame.js", "/widget/assets/frame.css"} {
		res := e.do(t, "GET", p, nil, "")
		if res.StatusCode != 200 || res.Header.Get("Cross-Origin-Resource-Policy") != "same-origin" {
			t.Errorf("%s: %d %v", p, res.StatusCode, res.Header)
		}
	}
	for _, p := range []string{"/widget/assets/widget.go", "/widget/assets/..%2fwidget.go", "/widget/assets/frame.html"} {
		if res := e.do(t, "GET", p, nil, ""); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
}

func TestMalformedIDsQueryNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	wg, err := widget.New(widget.Options{Service: &chwidget.Service{}})
	if err != nil {
		t.Fatal(err)
	}
	routes := wg.Routes()
	if len(routes) < 5 {
		t.Fatalf("only %d routes", len(routes))
	}
	walked := 0
	for _, rt := range routes {
		if !strings.Contains(rt.Pattern, "{botId}") {
			continue
		}
		methods := []string{rt.Method}
		if rt.CORS {
			methods = append(methods, http.MethodOptions)
		}
		for _, id := range []string{"bot_x", "bot_AAAAAAAAAAAAAAAAAAAAAAAAAA", "ws_aaaaaaaaaaaaaaaaaaaaaaaaaa", "bot_aaaaaaaaaaaaaaaaaaaaaaaaa1", "bot_aaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
			path := strings.Replace(rt.Pattern, "{botId}", id, 1)
			for _, m := range methods {
				walked++
				h := map[string]string{"Origin": shop, "Access-Control-Request-Method": "POST", "Authorization": "Bearer x.y"}
				if res := e.do(t, m, path, h, "{}"); res.StatusCode != 404 {
					t.Errorf("%s %s: %d, want 404", m, path, res.StatusCode)
				}
			}
		}
	}
	if walked < 15 {
		t.Fatalf("walked only %d requests", walked)
	}
	if n := e.counter.n.Load(); n != 0 {
		t.Fatalf("malformed ids ran %d lookups, want 0", n)
	}
	// A well-formed but unknown bot: 404 too.
	if res := e.do(t, "GET", "/widget/"+palisade.NewID(palisade.PrefixBot), framedLoad, ""); res.StatusCode != 404 {
		t.Fatalf("unknown bot: %d", res.StatusCode)
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	tok := e.token(t, e.bot.ID)
	// From the frame (its own origin) and from the embedding site: answered.
	for _, origin := range []string{e.self, shop} {
		res := e.send(t, e.bot.ID, origin, tok, "When does the shop open?")
		if res.StatusCode != 200 {
			t.Fatalf("from %s: %d", origin, res.StatusCode)
		}
		readEvents(t, res)
	}
	cases := []struct {
		name, origin, token string
		bot                 palisade.BotID
		status              int
	}{
		{"from another origin", "https://other.example", tok, e.bot.ID, 403},
		{"from another allowed origin", "https://b.example:8443", tok, e.bot.ID, 403},
		{"without Origin", "", tok, e.bot.ID, 403},
		{"for another bot", e.self, tok, e.other.ID, 401},
		{"tampered", e.self, tok[:10] + string(rune(tok[10]^1)) + tok[11:], e.bot.ID, 401},
		{"a frame ticket", e.self, e.ticket(t, e.bot.ID), e.bot.ID, 401},
		{"no token", e.self, "", e.bot.ID, 401},
	}
	for _, tc := range cases {
		res := e.send(t, tc.bot, tc.origin, tc.token, "hello")
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") == "text/event-stream" {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		// CORS names only the bot's own domains, whatever the answer.
		if acao := res.Header.Get("Access-Control-Allow-Origin"); acao != "" && acao != tc.origin || acao == "https://other.example" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tc.name, acao)
		}
	}
	// Expired.
	e.now.Add(int64(chwidget.TokenTTL / time.Second))
	if res := e.send(t, e.bot.ID, e.self, tok, "hello"); res.StatusCode != 401 || errorCode(t, res) != "unauthorized" {
		t.Fatalf("expired token: %d", res.StatusCode)
	}
	// A session is started only by the frame, for a site of the list.
	body, _ := json.Marshal(map[string]string{"ticket": e.ticket(t, e.bot.ID), "ancestor_origin": shop})
	if res := e.do(t, "POST", "/widget/"+string(e.bot.ID)+"/session", map[string]string{"Origin": shop}, string(body)); res.StatusCode != 403 {
		t.Fatalf("session started from the site itself: %d", res.StatusCode)
	}
	body, _ = json.Marshal(map[string]string{"ticket": e.ticket(t, e.bot.ID), "ancestor_origin": "https://other.example"})
	if res := e.do(t, "POST", "/widget/"+string(e.bot.ID)+"/session", map[string]string{"Origin": e.self}, string(body)); res.StatusCode != 403 {
		t.Fatalf("session for an ancestor that is not allowed: %d", res.StatusCode)
	}
	body, _ = json.Marshal(map[string]string{"ticket": e.ticket(t, e.bot.ID), "ancestor_origin": shop})
	if res := e.do(t, "POST", "/widget/"+string(e.other.ID)+"/session", map[string]string{"Origin": e.self}, string(body)); res.StatusCode != 401 {
		t.Fatalf("session for another bot with this bot's ticket: %d", res.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	pre := func(origin string) *http.Response {
		return e.do(t, "OPTIONS", "/widget/"+string(e.bot.ID)+"/messages",
			map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}, "")
	}
	res := pre(shop)
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != shop || res.Header.Get("Access-Control-Allow-Methods") != "POST" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from the bot's domain: %d %v", res.StatusCode, res.Header)
	}
	for _, o := range []string{"https://other.example", "http://shop.example", "https://shop.example.evil", "null", e.self} {
		res := pre(o)
		if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %q", o, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// Another bot's domains do not open this one.
	res = e.do(t, "OPTIONS", "/widget/"+string(e.bare.ID)+"/messages", map[string]string{"Origin": shop, "Access-Control-Request-Method": "POST"}, "")
	if res.StatusCode != 403 {
		t.Fatalf("preflight for a bot without domains: %d", res.StatusCode)
	}
	// The answer itself names the site.
	tok := e.token(t, e.bot.ID)
	res = e.send(t, e.bot.ID, shop, tok, "opening hours")
	if res.Header.Get("Access-Control-Allow-Origin") != shop || res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("CORS on the answer: %v", res.Header)
	}
	readEvents(t, res)
	// The session route answers no site at all.
	res = e.do(t, "OPTIONS", "/widget/"+string(e.bot.ID)+"/session", map[string]string{"Origin": shop, "Access-Control-Request-Method": "POST"}, "")
	if res.Header.Get("Access-Control-Allow-Origin") != "" || res.StatusCode < 400 {
		t.Fatalf("preflight of the session route: %d %v", res.StatusCode, res.Header)
	}
}

func TestStreamWithSources(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	tok := e.token(t, e.bot.ID)
	res := e.send(t, e.bot.ID, e.self, tok, "When does the shop open?")
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	evs := readEvents(t, res)
	if len(evs) != 1 || evs[0].name != "done" {
		t.Fatalf("events %+v", evs)
	}
	d := evs[0].data
	srcs, _ := d["sources"].([]any)
	if d["mode"] != conversation.ModeRetrievalOnly || !strings.Contains(d["reply"].(string), "opens at nine") || len(srcs) != 1 ||
		srcs[0].(map[string]any)["title"] != "Opening hours" {
		t.Fatalf("done = %+v", d)
	}
}

func TestStreamDeltas(t *testing.T) {
	t.Parallel()
	gen := conversation.GeneratorFunc(func(ctx context.Context, req conversation.Request) (conversation.Generated, error) {
		parts := []string{"We open ", "at nine."}
		for _, p := range parts {
			if err := req.OnDelta(p); err != nil {
				return conversation.Generated{}, err
			}
		}
		return conversation.Generated{Text: strings.Join(parts, "")}, nil
	})
	e := setup(t, envOptions{generator: gen})
	tok := e.token(t, e.bot.ID)
	evs := readEvents(t, e.send(t, e.bot.ID, e.self, tok, "When do you open?"))
	if len(evs) != 3 || evs[0].name != "delta" || evs[0].data["text"] != "We open " || evs[1].data["text"] != "at nine." ||
		evs[2].name != "done" || evs[2].data["reply"] != "We open at nine." || evs[2].data["mode"] != conversation.ModeGenerated {
		t.Fatalf("events %+v", evs)
	}
	srcs, _ := evs[2].data["sources"].([]any)
	if len(srcs) != 1 {
		t.Fatalf("done without its sources: %+v", evs[2].data)
	}
}

func TestInputLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	tok := e.token(t, e.bot.ID)
	for name, msg := range map[string]string{
		"too long": strings.Repeat("é", conversation.MaxMessage+1),
		"empty":    "   ",
		"null":     "a\x00b",
	} {
		res := e.send(t, e.bot.ID, e.self, tok, msg)
		if res.StatusCode != 400 || errorCode(t, res) != "invalid" {
			t.Errorf("%s: %d, want 400 invalid", name, res.StatusCode)
		}
	}
	if res := e.send(t, e.bot.ID, e.self, tok, strings.Repeat("é", conversation.MaxMessage)); res.StatusCode != 200 {
		t.Fatalf("a message of exactly %d characters: %d", conversation.MaxMessage, res.StatusCode)
	}
	res := e.do(t, "POST", "/widget/"+string(e.bot.ID)+"/messages", map[string]string{"Origin": e.self, "Authorization": "Bearer " + tok}, `{"message":"hi","extra":1}`)
	if res.StatusCode != 400 {
		t.Fatalf("unknown field: %d", res.StatusCode)
	}
}

// rateLimited flushes the refusal counts and returns today's for the
// workspace.
func (e *env) rateLimited(t *testing.T) int64 {
	t.Helper()
	if err := e.limited.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(e.now.Load(), 0).UTC() }
	days, err := (&conversation.Dashboard{Store: e.store, Now: now}).Days(t.Context(), e.scope, 1)
	if err != nil || len(days) != 1 {
		t.Fatalf("activity = %+v, %v", days, err)
	}
	return days[0].RateLimited
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per session", func(t *testing.T) {
		t.Parallel()
		lim := ratelimit.Defaults()
		if err := lim.Set(ratelimit.ClassWidgetSession, "2/min"); err != nil {
			t.Fatal(err)
		}
		e := setup(t, envOptions{limits: lim})
		tok := e.token(t, e.bot.ID)
		for i := 0; i < 2; i++ {
			res := e.send(t, e.bot.ID, e.self, tok, "hours")
			if res.StatusCode != 200 {
				t.Fatalf("message %d: %d", i+1, res.StatusCode)
			}
			readEvents(t, res)
		}
		res := e.send(t, e.bot.ID, e.self, tok, "hours")
		if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Header.Get("RateLimit"), `"widget_session"`) {
			t.Fatalf("third message: %d %v", res.StatusCode, res.Header)
		}
		// Another session has its own quota.
		other := e.token(t, e.bot.ID)
		if res := e.send(t, e.bot.ID, e.self, other, "hours"); res.StatusCode != 200 {
			t.Fatalf("another session: %d", res.StatusCode)
		}
		// The session's workspace is charged with the refusal.
		if n := e.rateLimited(t); n != 1 {
			t.Fatalf("%d refusals counted for the workspace, want 1", n)
		}
	})
	t.Run("per IP", func(t *testing.T) {
		t.Parallel()
		lim := ratelimit.Defaults()
		if err := lim.Set(ratelimit.ClassWidgetIP, "3/min"); err != nil {
			t.Fatal(err)
		}
		e := setup(t, envOptions{limits: lim})
		tok := e.token(t, e.bot.ID) // two requests: the frame page and the session
		if res := e.send(t, e.bot.ID, e.self, tok, "hours"); res.StatusCode != 200 {
			t.Fatalf("third request: %d", res.StatusCode)
		}
		res := e.send(t, e.bot.ID, e.self, tok, "hours")
		if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Header.Get("RateLimit"), `"widget_ip"`) {
			t.Fatalf("fourth request: %d %v", res.StatusCode, res.Header)
		}
		if res := e.do(t, "GET", "/widget/"+string(e.bot.ID), framedLoad, ""); res.StatusCode != 429 {
			t.Fatalf("frame page over the IP limit: %d", res.StatusCode)
		}
		// Static assets are never limited.
		if res := e.do(t, "GET", "/widget.js", nil, ""); res.StatusCode != 200 {
			t.Fatalf("widget.js over the IP limit: %d", res.StatusCode)
		}
		// An address's refusals come before any bot is read, so no
		// workspace is charged with them.
		if n := e.rateLimited(t); n != 0 {
			t.Fatalf("%d per-IP refusals counted for the workspace, want none", n)
		}
	})
}

func TestNewRefusesMissingLimits(t *testing.T) {
	t.Parallel()
	lim := ratelimit.Defaults()
	delete(lim, ratelimit.ClassWidgetSession)
	if _, err := widget.New(widget.Options{Service: &chwidget.Service{}, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Limits: lim}); err == nil {
		t.Fatal("New accepted a table without widget_session")
	}
}

// TestSuspendedWorkspaceDoesNotAnswer: while the operator has the bot's
// workspace suspended, a message through the widget is refused with 403
// workspace_suspended, without the operator's reason, and nothing is
// stored; once resumed, the same session is answered again.
func TestSuspendedWorkspaceDoesNotAnswer(t *testing.T) {
	t.Parallel()
	e := setup(t, envOptions{})
	tok := e.token(t, e.bot.ID)
	const reason = "reported for phishing"
	if _, err := e.store.SetWorkspaceSuspension(t.Context(), e.scope, store.SuspensionParams{Suspend: true, Reason: reason, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	res := e.send(t, e.bot.ID, e.self, tok, "When does the shop open?")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"workspace_suspended"`) || strings.Contains(string(body), reason) {
		t.Fatalf("suspended: %d %s", res.StatusCode, body)
	}
	if convs, err := e.store.ListConversations(t.Context(), e.scope, store.ListConversationsParams{Limit: 10}); err != nil || len(convs) != 0 {
		t.Fatalf("a suspended workspace stored a conversation: %v, %v", convs, err)
	}
	if _, err := e.store.SetWorkspaceSuspension(t.Context(), e.scope, store.SuspensionParams{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, e.send(t, e.bot.ID, e.self, tok, "When does the shop open?"))
	if len(evs) != 1 || evs[0].name != "done" || !strings.Contains(evs[0].data["reply"].(string), "opens at nine") {
		t.Fatalf("resumed: %+v", evs)
	}
}
