package channeltest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// DiscordOptions configure a fake Discord.
type DiscordOptions struct {
	// HeartbeatInterval is what Hello announces (default 41.25s, as
	// Discord does); tests of zombie connections make it short.
	HeartbeatInterval time.Duration
	// SessionStarts is the session start limit of each bot (default
	// 1000), and SessionResetAfter when it renews (default 24h).
	SessionStarts     int
	SessionResetAfter time.Duration
	// IdentifyInterval is the least time Discord allows between two
	// IDENTIFYs of one bot with max_concurrency 1 (default 5s); one
	// sooner is recorded as a violation.
	IdentifyInterval time.Duration
	// ResumeHistory is how many of a session's dispatches the Gateway
	// keeps for a resume (default 1000): like Discord's, the buffer is
	// bounded, and a resume from before its oldest is refused with
	// Invalid Session.
	ResumeHistory int
	// Now is the clock interaction tokens age on (default time.Now).
	Now func() time.Time
}

// Discord is a fake Discord: the REST API (protocols.md §4.3, §4.4),
// signed interactions (§4.1) and the Gateway (§4.2) on loopback.
type Discord struct {
	// URL is the REST base to configure (…/api/v10); GatewayURL is the
	// WebSocket URL GET /gateway/bot announces.
	URL, GatewayURL string
	// ResumeURL is the resume_gateway_url READY announces: another path,
	// so a test sees that resumes use it.
	ResumeURL string

	opts DiscordOptions
	srv  *httptest.Server

	mu       sync.Mutex
	apps     map[string]*DiscordApp // by bot token
	tokens   map[string]time.Time   // interaction tokens, by when issued
	calls    []DiscordCall
	sent     []DiscordSent
	edits    []DiscordEdit
	commands []DiscordCommand
	failures []DiscordFailure
	down     bool
	nextID   int64
	gw       map[string]*fakeGateway // by bot token
	nonces   map[string]nonceEntry   // enforced nonces, by author and nonce
}

// NonceWindow is how long Discord remembers an enforced nonce: a second
// create by the same author with the same nonce within it returns the
// message the first made instead of making another. Discord documents "a
// few minutes"; the fake keeps five.
const NonceWindow = 5 * time.Minute

type nonceEntry struct {
	reply map[string]any
	at    time.Time
}

// DiscordApp is an application with its bot, by its token.
type DiscordApp struct {
	ApplicationID string
	BotToken      string
	BotUserID     string
	Username      string
	// Seed is the Ed25519 seed of the application's key (default: one
	// derived from the application id).
	Seed []byte
	// PublicKey is the key's hex, as the developer portal shows it.
	PublicKey string
	private   ed25519.PrivateKey
}

// DiscordCall is one REST request answered.
type DiscordCall struct {
	Method, Route string
	Auth          bool
	UserAgent     string
	At            time.Time
}

// DiscordSent is one POST /channels/{id}/messages accepted: every request
// is recorded, and a request Discord answered with an earlier message (an
// enforced nonce seen again within NonceWindow) has Replayed set and that
// message's MessageID.
type DiscordSent struct {
	MessageID       string
	Replayed        bool
	ChannelID       string
	Content         string
	Nonce           string
	EnforceNonce    bool
	AllowedMentions []string // nil when allowed_mentions was absent
	ReplyTo         string
	At              time.Time
}

// DiscordEdit is an edit of an interaction's original response (Followup
// false) or a follow-up message.
type DiscordEdit struct {
	Token           string
	Content         string
	AllowedMentions []string
	Followup        bool
	At              time.Time
}

// DiscordCommand is a registered application command.
type DiscordCommand struct {
	ApplicationID string
	Body          map[string]any
}

// DiscordFailure is an answer given instead of the next message send's
// (or edit's) success.
type DiscordFailure struct {
	Status     int
	Code       int
	Message    string
	RetryAfter float64
}

// DiscordRateLimited is Discord's 429 (§4.4).
func DiscordRateLimited(retryAfter float64) DiscordFailure {
	return DiscordFailure{Status: http.StatusTooManyRequests, Message: "You are being rate limited.", RetryAfter: retryAfter}
}

// NewDiscord starts a fake Discord on loopback, stopped when the test
// ends.
func NewDiscord(tb testing.TB, o DiscordOptions) *Discord {
	tb.Helper()
	if o.ResumeHistory <= 0 {
		o.ResumeHistory = 1000
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 41250 * time.Millisecond
	}
	if o.SessionStarts <= 0 {
		o.SessionStarts = 1000
	}
	if o.SessionResetAfter <= 0 {
		o.SessionResetAfter = 24 * time.Hour
	}
	if o.IdentifyInterval <= 0 {
		o.IdentifyInterval = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Discord{opts: o, apps: map[string]*DiscordApp{}, tokens: map[string]time.Time{}, gw: map[string]*fakeGateway{}, nonces: map[string]nonceEntry{},
		nextID: 1300000000000000000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL + "/api/v10"
	f.GatewayURL = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gateway"
	f.ResumeURL = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gateway-resume"
	tb.Cleanup(func() {
		f.mu.Lock()
		for _, g := range f.gw {
			if g.conn != nil {
				_ = g.conn.CloseNow()
			}
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

// AddApp registers an application with its bot and makes its key.
func (f *Discord) AddApp(a DiscordApp) *DiscordApp {
	seed := a.Seed
	if seed == nil {
		s := sha256.Sum256([]byte("channeltest discord key " + a.ApplicationID))
		seed = s[:]
	}
	a.private = ed25519.NewKeyFromSeed(seed)
	a.PublicKey = hex.EncodeToString(a.private.Public().(ed25519.PublicKey))
	f.mu.Lock()
	f.apps[a.BotToken] = &a
	f.gw[a.BotToken] = &fakeGateway{remaining: f.opts.SessionStarts, acking: true, sessions: map[string]*fakeSession{}}
	f.mu.Unlock()
	return &a
}

// Sign is the X-Signature-Ed25519 of an interaction: the application's
// key over the timestamp followed by the body.
func (a *DiscordApp) Sign(timestamp string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(a.private, append([]byte(timestamp), body...)))
}

// SetDown makes every REST call answer 502 with an HTML page until
// SetDown(false).
func (f *Discord) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// Fail makes the next message sends and edits fail, one failure each.
func (f *Discord) Fail(fs ...DiscordFailure) {
	f.mu.Lock()
	f.failures = append(f.failures, fs...)
	f.mu.Unlock()
}

// Calls returns the REST requests answered so far.
func (f *Discord) Calls() []DiscordCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Sent returns the channel messages accepted so far, in order.
func (f *Discord) Sent() []DiscordSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// Edits returns the interaction responses edited and follow-ups sent.
func (f *Discord) Edits() []DiscordEdit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.edits)
}

// Commands returns the commands registered so far.
func (f *Discord) Commands() []DiscordCommand {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.commands)
}

// WaitSent waits until at least n channel messages were sent.
func (f *Discord) WaitSent(tb testing.TB, n int, timeout time.Duration) []DiscordSent {
	tb.Helper()
	return waitFor(tb, timeout, "channel messages", n, f.Sent)
}

// WaitEdits waits until at least n edits or follow-ups were made.
func (f *Discord) WaitEdits(tb testing.TB, n int, timeout time.Duration) []DiscordEdit {
	tb.Helper()
	return waitFor(tb, timeout, "interaction edits", n, f.Edits)
}

func waitFor[T any](tb testing.TB, timeout time.Duration, what string, n int, get func() []T) []T {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := get()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the fake Discord has %d %s, want %d", len(s), what, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func discordError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"message": message, "code": code})
}

var (
	commandsRE = regexp.MustCompile(`^/api/v10/applications/([0-9]+)/commands$`)
	messagesRE = regexp.MustCompile(`^/api/v10/channels/([0-9]+)/messages$`)
	webhookRE  = regexp.MustCompile(`^/api/v10/webhooks/([0-9]+)/([^/]+)(/messages/@original)?$`)
)

func (f *Discord) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/gateway", "/gateway-resume":
		f.serveGateway(w, r)
		return
	}
	path := r.URL.EscapedPath()
	route := path
	for _, re := range []*regexp.Regexp{commandsRE, messagesRE, webhookRE} {
		if re.MatchString(path) {
			route = re.String()
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, DiscordCall{Method: r.Method, Route: route, Auth: r.Header.Get("Authorization") != "", UserAgent: r.Header.Get("User-Agent"), At: time.Now()})
	down := f.down
	f.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		return
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "DiscordBot (") {
		// Discord refuses clients without a bot User-Agent.
		discordError(w, http.StatusBadRequest, 0, "a DiscordBot User-Agent is required")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		discordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	// The interaction webhook endpoints take the interaction token in the
	// path instead of the bot token.
	if m := webhookRE.FindStringSubmatch(path); m != nil {
		f.webhook(w, r, m[1], m[2], m[3] != "", body)
		return
	}
	app := f.auth(r)
	if app == nil {
		discordError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/api/v10/users/@me":
		writeJSON(w, http.StatusOK, map[string]any{"id": app.BotUserID, "username": app.Username, "discriminator": "0", "global_name": nil, "avatar": nil, "bot": true})
	case r.Method == http.MethodGet && path == "/api/v10/applications/@me":
		writeJSON(w, http.StatusOK, map[string]any{"id": app.ApplicationID, "name": app.Username, "verify_key": app.PublicKey,
			"bot": map[string]any{"id": app.BotUserID, "username": app.Username, "bot": true}})
	case r.Method == http.MethodGet && path == "/api/v10/gateway/bot":
		f.mu.Lock()
		g := f.gw[app.BotToken]
		remaining := max(g.remaining, 0)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"url": f.GatewayURL, "shards": 1, "session_start_limit": map[string]any{
			"total": f.opts.SessionStarts, "remaining": remaining, "reset_after": f.opts.SessionResetAfter.Milliseconds(), "max_concurrency": 1}})
	case r.Method == http.MethodPost && commandsRE.MatchString(path):
		f.command(w, app, commandsRE.FindStringSubmatch(path)[1], body)
	case r.Method == http.MethodPost && messagesRE.MatchString(path):
		f.message(w, app, messagesRE.FindStringSubmatch(path)[1], body)
	default:
		discordError(w, http.StatusNotFound, 0, "404: Not Found")
	}
}

func (f *Discord) auth(r *http.Request) *DiscordApp {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bot ")
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps[tok]
}

func (f *Discord) command(w http.ResponseWriter, app *DiscordApp, appID string, body []byte) {
	if appID != app.ApplicationID {
		discordError(w, http.StatusForbidden, 50001, "Missing Access")
		return
	}
	var c map[string]any
	if json.Unmarshal(body, &c) != nil {
		discordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	name, _ := c["name"].(string)
	desc, _ := c["description"].(string)
	if !regexp.MustCompile(`^[-_a-z0-9]{1,32}$`).MatchString(name) || desc == "" || len(desc) > 100 {
		discordError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	f.mu.Lock()
	f.nextID++
	c["id"] = strconv.FormatInt(f.nextID, 10)
	c["application_id"] = appID
	f.commands = append(f.commands, DiscordCommand{ApplicationID: appID, Body: c})
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, c)
}

// nextFailure takes the next queued failure and answers it.
func (f *Discord) nextFailure(w http.ResponseWriter) bool {
	f.mu.Lock()
	var fl *DiscordFailure
	if len(f.failures) > 0 {
		fl = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()
	if fl == nil {
		return false
	}
	if fl.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int(fl.RetryAfter+0.999)))
		w.Header().Set("X-RateLimit-Scope", "user")
		w.Header().Set("X-RateLimit-Global", "false")
		writeJSON(w, fl.Status, map[string]any{"message": fl.Message, "retry_after": fl.RetryAfter, "global": false})
		return true
	}
	discordError(w, fl.Status, fl.Code, fl.Message)
	return true
}

type outgoingBody struct {
	Content         string `json:"content"`
	Nonce           any    `json:"nonce"`
	EnforceNonce    bool   `json:"enforce_nonce"`
	AllowedMentions *struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
	MessageReference *struct {
		MessageID string `json:"message_id"`
	} `json:"message_reference"`
}

func (b outgoingBody) check() (string, bool) {
	if strings.TrimSpace(b.Content) == "" {
		return "Cannot send an empty message", false
	}
	if utf8.RuneCountInString(b.Content) > 2000 {
		return "Invalid Form Body: content: Must be 2000 or fewer in length.", false
	}
	return "", true
}

func (b outgoingBody) mentions() []string {
	if b.AllowedMentions == nil {
		return nil
	}
	if b.AllowedMentions.Parse == nil {
		return []string{}
	}
	return b.AllowedMentions.Parse
}

func (f *Discord) message(w http.ResponseWriter, app *DiscordApp, channelID string, body []byte) {
	if f.nextFailure(w) {
		return
	}
	var b outgoingBody
	if json.Unmarshal(body, &b) != nil {
		discordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if msg, ok := b.check(); !ok {
		discordError(w, http.StatusBadRequest, 50035, msg)
		return
	}
	s := DiscordSent{ChannelID: channelID, Content: b.Content, EnforceNonce: b.EnforceNonce, AllowedMentions: b.mentions(), At: time.Now()}
	switch n := b.Nonce.(type) {
	case string:
		s.Nonce = n
	case float64:
		s.Nonce = strconv.FormatFloat(n, 'f', 0, 64)
	}
	if len(s.Nonce) > 25 {
		discordError(w, http.StatusBadRequest, 50035, "Invalid Form Body: nonce: Must be 25 or fewer in length.")
		return
	}
	if b.MessageReference != nil {
		s.ReplyTo = b.MessageReference.MessageID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// enforce_nonce is Discord's own idempotency, not the fake's: the
	// request is still recorded, and answered with the message the nonce
	// made, so a test counts both what was received and what was created.
	key := app.BotUserID + "\x00" + s.Nonce
	if b.EnforceNonce && s.Nonce != "" {
		if e, ok := f.nonces[key]; ok && f.opts.Now().Sub(e.at) < NonceWindow {
			s.MessageID, _ = e.reply["id"].(string)
			s.Replayed = true
			f.sent = append(f.sent, s)
			writeJSON(w, http.StatusOK, e.reply)
			return
		}
	}
	f.nextID++
	s.MessageID = strconv.FormatInt(f.nextID, 10)
	f.sent = append(f.sent, s)
	reply := map[string]any{"id": s.MessageID, "channel_id": channelID, "content": s.Content, "nonce": s.Nonce, "type": 0,
		"author": map[string]any{"id": app.BotUserID, "username": app.Username, "bot": true}, "timestamp": s.At.UTC().Format(time.RFC3339Nano)}
	if b.EnforceNonce && s.Nonce != "" {
		f.nonces[key] = nonceEntry{reply: reply, at: f.opts.Now()}
	}
	writeJSON(w, http.StatusOK, reply)
}

// Created returns the channel messages made so far, in order: Sent less
// the requests an enforced nonce answered with an earlier message.
func (f *Discord) Created() []DiscordSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []DiscordSent
	for _, s := range f.sent {
		if !s.Replayed {
			out = append(out, s)
		}
	}
	return out
}

func (f *Discord) webhook(w http.ResponseWriter, r *http.Request, appID, token string, original bool, body []byte) {
	f.mu.Lock()
	issued, known := f.tokens[token]
	f.mu.Unlock()
	if !known || f.opts.Now().Sub(issued) >= 15*time.Minute {
		discordError(w, http.StatusUnauthorized, 50027, "Invalid Webhook Token")
		return
	}
	if (original && r.Method != http.MethodPatch) || (!original && r.Method != http.MethodPost) {
		discordError(w, http.StatusMethodNotAllowed, 0, "405: Method Not Allowed")
		return
	}
	if f.nextFailure(w) {
		return
	}
	var b outgoingBody
	if json.Unmarshal(body, &b) != nil {
		discordError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if msg, ok := b.check(); !ok {
		discordError(w, http.StatusBadRequest, 50035, msg)
		return
	}
	f.mu.Lock()
	f.edits = append(f.edits, DiscordEdit{Token: token, Content: b.Content, AllowedMentions: b.mentions(), Followup: !original, At: time.Now()})
	f.nextID++
	id := strconv.FormatInt(f.nextID, 10)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "content": b.Content, "application_id": appID, "type": 20})
}

// Snowflake makes a Discord id for the time t (its top 42 bits are the
// milliseconds since 2015).
func Snowflake(t time.Time, n int64) string {
	return strconv.FormatUint(uint64(t.UnixMilli()-1420070400000)<<22|uint64(n&0x3fffff), 10)
}

// AskInteraction is an APPLICATION_COMMAND interaction for /ask laid out
// as Discord sends it, with a fresh interaction token the fake accepts
// for 15 minutes from issued. guildID empty makes it a DM.
func (f *Discord) AskInteraction(app *DiscordApp, id, channelID, guildID, userID, question string, issued time.Time) []byte {
	h := sha256.Sum256([]byte("interaction token " + id))
	token := "aW50ZXJhY3Rpb246" + id + "OjE" + hex.EncodeToString(h[:])
	f.mu.Lock()
	f.tokens[token] = issued
	f.mu.Unlock()
	u := map[string]any{"id": userID, "username": "user" + userID, "discriminator": "0", "global_name": "User", "avatar": nil}
	in := orderedInteraction{AppPermissions: "2248473465835073", ApplicationID: app.ApplicationID, ChannelID: channelID,
		Data:         &orderedData{ID: "1300000000000000001", Name: "ask", Options: []orderedOption{{Name: "question", Type: 3, Value: question}}, Type: 1},
		Entitlements: []any{}, ID: id, Locale: "en-US", Token: token, Type: 2, Version: 1}
	in.Channel = map[string]any{"id": channelID, "type": 1}
	if guildID != "" {
		in.GuildID = guildID
		in.Member = map[string]any{"user": u, "roles": []any{}, "permissions": "2248473465835073"}
		in.Channel = map[string]any{"id": channelID, "type": 0, "guild_id": guildID, "name": "general"}
		in.Context = 0
	} else {
		in.User = u
		in.Context = 1
	}
	return mustJSON(in)
}

// PingInteraction is Discord's PING (§4.5's body).
func PingInteraction(app *DiscordApp, id string) []byte {
	return mustJSON(struct {
		Type          int    `json:"type"`
		ID            string `json:"id"`
		ApplicationID string `json:"application_id"`
		Token         string `json:"token"`
		Version       int    `json:"version"`
	}{1, id, app.ApplicationID, "ThisIsATokenFromDiscordThatIsVeryLong", 1})
}

type orderedInteraction struct {
	AppPermissions string         `json:"app_permissions"`
	ApplicationID  string         `json:"application_id"`
	Channel        map[string]any `json:"channel"`
	ChannelID      string         `json:"channel_id"`
	Context        int            `json:"context"`
	Data           *orderedData   `json:"data"`
	Entitlements   []any          `json:"entitlements"`
	GuildID        string         `json:"guild_id,omitempty"`
	ID             string         `json:"id"`
	Locale         string         `json:"locale"`
	Member         map[string]any `json:"member,omitempty"`
	Token          string         `json:"token"`
	Type           int            `json:"type"`
	User           map[string]any `json:"user,omitempty"`
	Version        int            `json:"version"`
}

type orderedData struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Options []orderedOption `json:"options"`
	Type    int             `json:"type"`
}

type orderedOption struct {
	Name  string `json:"name"`
	Type  int    `json:"type"`
	Value string `json:"value"`
}

// DeliverInteraction posts an interaction to url as Discord does: POST,
// Content-Type application/json, the body byte for byte, signed with the
// application's key over the current timestamp.
func (f *Discord) DeliverInteraction(ctx context.Context, url string, app *DiscordApp, body []byte) (int, error) {
	ts := strconv.FormatInt(f.opts.Now().Unix(), 10)
	h := http.Header{}
	h.Set("X-Signature-Ed25519", app.Sign(ts, body))
	h.Set("X-Signature-Timestamp", ts)
	h.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	return Post(ctx, url, h, body)
}

// MessageCreate is a MESSAGE_CREATE event's data laid out as Discord
// sends it: guildID empty makes it a DM; mention, when set, is a user id
// mentioned at the start of the content.
func MessageCreate(id, channelID, guildID, authorID string, authorIsBot bool, content, mention string) []byte {
	author := map[string]any{"id": authorID, "username": "user" + authorID, "discriminator": "0", "global_name": "User", "avatar": nil}
	if authorIsBot {
		author["bot"] = true
	}
	m := orderedMessageCreate{Type: 0, Content: content, Mentions: []any{}, MentionRoles: []any{}, Attachments: []any{}, Embeds: []any{},
		Timestamp: "2026-12-01T10:00:00.000000+00:00", Flags: 0, Components: []any{}, ID: id, ChannelID: channelID, Author: author, Pinned: false,
		MentionEveryone: false, TTS: false, Nonce: "1314000000000000000"}
	if mention != "" {
		m.Content = "<@" + mention + "> " + content
		m.Mentions = []any{map[string]any{"id": mention, "username": "bot" + mention, "bot": true}}
	}
	if guildID != "" {
		m.GuildID = guildID
		m.Member = map[string]any{"roles": []any{}, "joined_at": "2026-01-01T00:00:00.000000+00:00"}
	} else {
		ct := 1
		m.ChannelType = &ct
	}
	return mustJSON(m)
}

type orderedMessageCreate struct {
	Type            int            `json:"type"`
	Content         string         `json:"content"`
	Mentions        []any          `json:"mentions"`
	MentionRoles    []any          `json:"mention_roles"`
	Attachments     []any          `json:"attachments"`
	Embeds          []any          `json:"embeds"`
	Timestamp       string         `json:"timestamp"`
	Flags           int            `json:"flags"`
	Components      []any          `json:"components"`
	ID              string         `json:"id"`
	ChannelID       string         `json:"channel_id"`
	Author          map[string]any `json:"author"`
	Pinned          bool           `json:"pinned"`
	MentionEveryone bool           `json:"mention_everyone"`
	TTS             bool           `json:"tts"`
	Nonce           string         `json:"nonce"`
	ChannelType     *int           `json:"channel_type,omitempty"`
	GuildID         string         `json:"guild_id,omitempty"`
	Member          map[string]any `json:"member,omitempty"`
}

// ---- the Gateway (§4.2) ----

// fakeGateway is one bot's Gateway: its sessions, the live connection,
// and what was identified.
type fakeGateway struct {
	wmu        sync.Mutex // serialises writes of events to conn
	conn       *websocket.Conn
	session    *fakeSession
	sessions   map[string]*fakeSession
	remaining  int
	acking     bool
	identifies []GatewayIdentify
	resumes    []GatewayResume
	violations []string
	heartbeats int
}

type fakeSession struct {
	id     string
	events []gatewayFrame // dispatched, in seq order, the newest kept
	seq    int64
	valid  bool
	// forgot is the sequence number of the newest dispatch no longer
	// kept: a resume from before it cannot be replayed.
	forgot int64
}

// keep adds a dispatch to the session's bounded history.
func (s *fakeSession) keep(fr gatewayFrame, limit int) {
	s.events = append(s.events, fr)
	if over := len(s.events) - limit; over > 0 {
		s.forgot = *s.events[over-1].S
		s.events = slices.Delete(s.events, 0, over)
	}
}

// GatewayIdentify is one IDENTIFY received.
type GatewayIdentify struct {
	Intents    int
	Properties map[string]string
	Query      string
	At         time.Time
}

// GatewayResume is one RESUME received.
type GatewayResume struct {
	SessionID string
	Seq       int64
	Path      string
	OK        bool
	At        time.Time
}

type gatewayFrame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

func frame(op int, d any, s *int64, t string) []byte {
	raw, _ := json.Marshal(d)
	fr := gatewayFrame{Op: op, D: raw, S: s}
	if t != "" {
		fr.T = &t
	}
	b, _ := json.Marshal(fr)
	return b
}

func (f *Discord) serveGateway(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	var g *fakeGateway
	// Discord sees a connection end (a killed client's socket closing
	// included): the bot is no longer connected, and its session waits
	// for a resume.
	defer func() {
		if g == nil {
			return
		}
		f.mu.Lock()
		if g.conn == c {
			g.conn = nil
		}
		f.mu.Unlock()
	}()
	ctx := r.Context()
	if err := c.Write(ctx, websocket.MessageText, frame(10, map[string]any{"heartbeat_interval": f.opts.HeartbeatInterval.Milliseconds()}, nil, "")); err != nil {
		return
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var fr gatewayFrame
		if json.Unmarshal(data, &fr) != nil {
			_ = c.Close(4002, "Decode error")
			return
		}
		switch fr.Op {
		case 1:
			if g == nil {
				continue
			}
			f.mu.Lock()
			g.heartbeats++
			ack := g.acking
			f.mu.Unlock()
			if ack {
				g.wmu.Lock()
				_ = c.Write(ctx, websocket.MessageText, frame(11, nil, nil, ""))
				g.wmu.Unlock()
			}
		case 2:
			if g = f.identify(ctx, c, r, fr.D); g == nil {
				return
			}
		case 6:
			if g = f.resume(ctx, c, r, fr.D); g == nil {
				return
			}
		default:
			_ = c.Close(4001, "Unknown opcode")
			return
		}
	}
}

func (f *Discord) identify(ctx context.Context, c *websocket.Conn, r *http.Request, d json.RawMessage) *fakeGateway {
	var id struct {
		Token      string            `json:"token"`
		Intents    *int              `json:"intents"`
		Properties map[string]string `json:"properties"`
	}
	if json.Unmarshal(d, &id) != nil || id.Intents == nil || id.Properties["os"] == "" || id.Properties["browser"] == "" || id.Properties["device"] == "" {
		_ = c.Close(4002, "Decode error")
		return nil
	}
	f.mu.Lock()
	app := f.apps[id.Token]
	if app == nil {
		f.mu.Unlock()
		_ = c.Close(4004, "Authentication failed.")
		return nil
	}
	g := f.gw[id.Token]
	now := time.Now()
	if n := len(g.identifies); n > 0 && now.Sub(g.identifies[n-1].At) < f.opts.IdentifyInterval {
		g.violations = append(g.violations, fmt.Sprintf("IDENTIFY %s after the previous one", now.Sub(g.identifies[n-1].At)))
	}
	g.remaining--
	if g.remaining < 0 {
		g.violations = append(g.violations, "IDENTIFY beyond the session start limit")
	}
	g.identifies = append(g.identifies, GatewayIdentify{Intents: *id.Intents, Properties: id.Properties, Query: r.URL.RawQuery, At: now})
	f.nextID++
	sess := &fakeSession{id: fmt.Sprintf("fakesession%d", f.nextID), valid: true}
	g.sessions[sess.id] = sess
	if g.session != nil {
		g.session.valid = false
	}
	g.session = sess
	old := g.conn
	g.conn = c
	f.mu.Unlock()
	if old != nil && old != c {
		_ = old.CloseNow()
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	f.mu.Lock()
	sess.seq++
	s := sess.seq
	f.mu.Unlock()
	ready := map[string]any{"v": 10, "user": map[string]any{"id": app.BotUserID, "username": app.Username, "bot": true}, "guilds": []any{},
		"session_id": sess.id, "resume_gateway_url": f.ResumeURL, "application": map[string]any{"id": app.ApplicationID, "flags": 0}}
	if c.Write(ctx, websocket.MessageText, frame(0, ready, &s, "READY")) != nil {
		return nil
	}
	return g
}

func (f *Discord) resume(ctx context.Context, c *websocket.Conn, r *http.Request, d json.RawMessage) *fakeGateway {
	var rs struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       *int64 `json:"seq"`
	}
	if json.Unmarshal(d, &rs) != nil || rs.Seq == nil {
		_ = c.Close(4002, "Decode error")
		return nil
	}
	f.mu.Lock()
	app := f.apps[rs.Token]
	if app == nil {
		f.mu.Unlock()
		_ = c.Close(4004, "Authentication failed.")
		return nil
	}
	g := f.gw[rs.Token]
	sess := g.sessions[rs.SessionID]
	ok := sess != nil && sess.valid && sess == g.session && *rs.Seq <= sess.seq && *rs.Seq >= sess.forgot
	g.resumes = append(g.resumes, GatewayResume{SessionID: rs.SessionID, Seq: *rs.Seq, Path: r.URL.Path, OK: ok, At: time.Now()})
	if !ok {
		f.mu.Unlock()
		g.wmu.Lock()
		_ = c.Write(ctx, websocket.MessageText, frame(9, false, nil, ""))
		g.wmu.Unlock()
		return g
	}
	old := g.conn
	g.conn = c
	var missed []gatewayFrame
	for _, e := range sess.events {
		if *e.S > *rs.Seq {
			missed = append(missed, e)
		}
	}
	f.mu.Unlock()
	if old != nil && old != c {
		_ = old.CloseNow()
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	for _, e := range missed {
		b, _ := json.Marshal(e)
		if c.Write(ctx, websocket.MessageText, b) != nil {
			return nil
		}
	}
	f.mu.Lock()
	sess.seq++
	s := sess.seq
	f.mu.Unlock()
	if c.Write(ctx, websocket.MessageText, frame(0, map[string]any{}, &s, "RESUMED")) != nil {
		return nil
	}
	return g
}

func (f *Discord) gateway(token string) *fakeGateway {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.gw[token]
	if g == nil {
		panic("channeltest: no Discord app with this bot token")
	}
	return g
}

// Dispatch sends an event to the bot's current session (a MESSAGE_CREATE
// with MessageCreate's data): at once if it is connected, else on its
// resume. It reports false when the bot has no session.
func (f *Discord) Dispatch(token, event string, data []byte) bool {
	g := f.gateway(token)
	g.wmu.Lock()
	defer g.wmu.Unlock()
	f.mu.Lock()
	sess, c := g.session, g.conn
	if sess == nil {
		f.mu.Unlock()
		return false
	}
	sess.seq++
	s := sess.seq
	t := event
	fr := gatewayFrame{Op: 0, D: json.RawMessage(data), S: &s, T: &t}
	sess.keep(fr, f.opts.ResumeHistory)
	f.mu.Unlock()
	if c != nil {
		b, _ := json.Marshal(fr)
		_ = c.Write(context.Background(), websocket.MessageText, b)
	}
	return true
}

// DispatchLive sends an event only over a live connection, as a message
// posted while a bot is connected: it reports whether the event was
// written to the connection. Nothing is kept for a resume when it was not
// (the caller decides what a user does while the bot is away).
func (f *Discord) DispatchLive(token, event string, data []byte) bool {
	g := f.gateway(token)
	g.wmu.Lock()
	defer g.wmu.Unlock()
	f.mu.Lock()
	sess, c := g.session, g.conn
	if sess == nil || c == nil {
		f.mu.Unlock()
		return false
	}
	sess.seq++
	s := sess.seq
	t := event
	fr := gatewayFrame{Op: 0, D: json.RawMessage(data), S: &s, T: &t}
	sess.keep(fr, f.opts.ResumeHistory)
	f.mu.Unlock()
	b, _ := json.Marshal(fr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, b) == nil
}

// Drop cuts the bot's connection without a close frame, as a network
// failure does; the session stays resumable.
func (f *Discord) Drop(token string) {
	g := f.gateway(token)
	f.mu.Lock()
	c := g.conn
	g.conn = nil
	f.mu.Unlock()
	if c != nil {
		_ = c.CloseNow()
	}
}

// InvalidateSession sends Invalid Session (op 9) with resumable; a
// session that is not resumable is over.
func (f *Discord) InvalidateSession(token string, resumable bool) {
	g := f.gateway(token)
	f.mu.Lock()
	c := g.conn
	if !resumable && g.session != nil {
		g.session.valid = false
	}
	f.mu.Unlock()
	if c != nil {
		g.wmu.Lock()
		_ = c.Write(context.Background(), websocket.MessageText, frame(9, resumable, nil, ""))
		g.wmu.Unlock()
	}
}

// SetAcking makes the Gateway answer the bot's heartbeats, or stop, as a
// zombie connection does.
func (f *Discord) SetAcking(token string, on bool) {
	g := f.gateway(token)
	f.mu.Lock()
	g.acking = on
	f.mu.Unlock()
}

// Identifies returns the bot's IDENTIFYs.
func (f *Discord) Identifies(token string) []GatewayIdentify {
	g := f.gateway(token)
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(g.identifies)
}

// Resumes returns the bot's RESUMEs.
func (f *Discord) Resumes(token string) []GatewayResume {
	g := f.gateway(token)
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(g.resumes)
}

// Violations lists the limits the bot broke: IDENTIFYs too close
// together or beyond the session start limit.
func (f *Discord) Violations(token string) []string {
	g := f.gateway(token)
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(g.violations)
}

// Heartbeats counts the heartbeats received from the bot.
func (f *Discord) Heartbeats(token string) int {
	g := f.gateway(token)
	f.mu.Lock()
	defer f.mu.Unlock()
	return g.heartbeats
}

// Connected reports whether the bot has a live, identified or resumed
// connection.
func (f *Discord) Connected(token string) bool {
	g := f.gateway(token)
	f.mu.Lock()
	defer f.mu.Unlock()
	return g.conn != nil && g.session != nil && g.session.valid
}

// WaitConnected waits until the bot is connected, and for the given
// number of IDENTIFYs and RESUMEs at least.
func (f *Discord) WaitConnected(tb testing.TB, token string, identifies, resumes int, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f.Connected(token) && len(f.Identifies(token)) >= identifies && len(f.Resumes(token)) >= resumes {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the bot is not connected to the fake Gateway (%d identifies, %d resumes; want %d, %d)",
				len(f.Identifies(token)), len(f.Resumes(token)), identifies, resumes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
