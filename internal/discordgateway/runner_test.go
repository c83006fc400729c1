package discordgateway_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/discordgateway"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

const (
	appID     = "787053080478613554"
	botUserID = "787053080478613560"
	token     = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.gatewayRunnerTestToken0123456789abcdef"
	dmChannel = "1100000000000000001"
	userID    = "1200000000000000001"
)

var argsKey = func() *job.ArgsKey {
	k, err := job.NewArgsKey(bytes.Repeat([]byte{0x42}, job.ArgsKeySize))
	if err != nil {
		panic(err)
	}
	return k
}()

// env is a store with a bot connected to a fake Discord, and what a
// runner needs.
type env struct {
	s      store.Store
	fake   *channeltest.Discord
	svc    *channel.Service
	rest   *discord.Platform
	client *egress.Client
	ch     channel.View
	scope  palisade.Scope
	fresh  atomic.Int64
}

func newEnv(t *testing.T, o channeltest.DiscordOptions) *env {
	t.Helper()
	e := &env{}
	sealer := sealtest.NewKeyring(t)
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.s = s
	e.fake = channeltest.NewDiscord(t, o)
	app := e.fake.AddApp(channeltest.DiscordApp{ApplicationID: appID, BotToken: token, BotUserID: botUserID, Username: "helper"})
	rule, _ := egress.RuleForURL(e.fake.URL)
	policy, _ := egress.NewPolicy(rule)
	e.client, err = egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.client.CloseIdleConnections)
	e.rest, err = discord.New(discord.Options{BaseURL: e.fake.URL, Client: e.client})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = channel.New(channel.Options{Store: s, Sealer: sealer, ArgsKey: argsKey, Platforms: []channel.Platform{e.rest}, PublicURL: "https://chat.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	e.scope = scope
	bot, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	e.ch, err = e.svc.Connect(t.Context(), palisade.Caller{Scope: scope, Actor: "usr_test"}, bot.ID, channel.KindDiscord, channel.Credentials{
		"application_id": secret.New(appID), "public_key": secret.New(app.PublicKey), "bot_token": secret.New(token)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) runner(t *testing.T, o discordgateway.Options) *discordgateway.Runner {
	t.Helper()
	o.Store, o.Channels, o.REST, o.Client = e.s, e.svc, e.rest, e.client
	if o.LeaseTTL == 0 {
		o.LeaseTTL, o.Tick = 2*time.Second, 100*time.Millisecond
	}
	if o.IdentifyInterval == 0 {
		o.IdentifyInterval = 300 * time.Millisecond
	}
	o.OnMessage = func(fresh bool) {
		if fresh {
			e.fresh.Add(1)
		}
	}
	r, err := discordgateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

func (e *env) jobs(t *testing.T) int {
	t.Helper()
	n, err := e.s.Jobs().Count(t.Context(), job.InboundArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dm(id int64, text string) []byte {
	return channeltest.MessageCreate(channeltest.Snowflake(time.Now(), id), dmChannel, "", userID, false, text, "")
}

// TestIdentifiesAndAcceptsDMsOnce: the session identifies with the DM,
// guild-message and message-content intents, and a DM becomes exactly one
// job however often it is dispatched; the bot's own messages, other bots'
// and guild chatter become none.
func TestIdentifiesAndAcceptsDMsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{})
	e.runner(t, discordgateway.Options{})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	ids := e.fake.Identifies(token)
	if ids[0].Intents != discord.IntentDirectMessages|discord.IntentGuildMessages|discord.IntentMessageContent || ids[0].Query != "encoding=json&v=10" {
		t.Fatalf("identify = %+v", ids[0])
	}
	msg := dm(1, "hello")
	for range 5 {
		e.fake.Dispatch(token, "MESSAGE_CREATE", msg)
	}
	e.fake.Dispatch(token, "MESSAGE_CREATE", channeltest.MessageCreate(channeltest.Snowflake(time.Now(), 2), dmChannel, "", botUserID, true, "my own", ""))
	e.fake.Dispatch(token, "MESSAGE_CREATE", channeltest.MessageCreate(channeltest.Snowflake(time.Now(), 3), dmChannel, "", "1400000000000000001", true, "a bot", ""))
	e.fake.Dispatch(token, "MESSAGE_CREATE", channeltest.MessageCreate(channeltest.Snowflake(time.Now(), 4), "1100000000000000009", "1000000000000000009", userID, false, "chatter", ""))
	mention := channeltest.MessageCreate(channeltest.Snowflake(time.Now(), 5), "1100000000000000009", "1000000000000000009", userID, false, "hi", botUserID)
	e.fake.Dispatch(token, "MESSAGE_CREATE", mention)
	waitFor(t, "two jobs", func() bool { return e.jobs(t) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if n := e.jobs(t); n != 2 || e.fresh.Load() != 2 {
		t.Fatalf("%d jobs, %d fresh messages; want 2", n, e.fresh.Load())
	}
	if v := e.fake.Violations(token); len(v) != 0 {
		t.Fatalf("limits broken: %v", v)
	}
}

// TestResumesAfterADroppedConnection: a connection dropped without a
// close frame is resumed on the resume URL with the session id and the
// last sequence number, without a new IDENTIFY, and the events dispatched
// meanwhile arrive.
func TestResumesAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{})
	e.runner(t, discordgateway.Options{})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(1, "before"))
	waitFor(t, "the first job", func() bool { return e.jobs(t) == 1 })
	e.fake.Drop(token)
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(2, "while away"))
	e.fake.WaitConnected(t, token, 1, 1, 20*time.Second)
	waitFor(t, "the missed message", func() bool { return e.jobs(t) == 2 })
	rs := e.fake.Resumes(token)
	if len(e.fake.Identifies(token)) != 1 || !rs[0].OK || rs[0].Path != "/gateway-resume" || rs[0].Seq < 2 {
		t.Fatalf("identifies %d, resumes %+v", len(e.fake.Identifies(token)), rs)
	}
}

// TestZombieConnectionIsReplaced: when the Gateway stops acknowledging
// heartbeats, the session closes the connection and resumes on a new one.
func TestZombieConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{HeartbeatInterval: 150 * time.Millisecond})
	e.runner(t, discordgateway.Options{})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	waitFor(t, "heartbeats", func() bool { return e.fake.Heartbeats(token) >= 2 })
	e.fake.SetAcking(token, false)
	waitFor(t, "a resume", func() bool { return len(e.fake.Resumes(token)) >= 1 })
	e.fake.SetAcking(token, true)
	e.fake.WaitConnected(t, token, 1, 1, 20*time.Second)
	if len(e.fake.Identifies(token)) != 1 {
		t.Fatalf("a zombie connection led to %d IDENTIFYs", len(e.fake.Identifies(token)))
	}
}

// TestIdentifyLimitRespected: sessions invalidated again and again are
// identified anew no more often than the identify interval allows, and
// with the session start limit spent nothing is identified at all.
func TestIdentifyLimitRespected(t *testing.T) {
	t.Parallel()
	const interval = 400 * time.Millisecond
	e := newEnv(t, channeltest.DiscordOptions{IdentifyInterval: interval})
	e.runner(t, discordgateway.Options{IdentifyInterval: interval})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	for i := 2; i <= 3; i++ {
		e.fake.InvalidateSession(token, false)
		e.fake.WaitConnected(t, token, i, 0, 20*time.Second)
	}
	ids := e.fake.Identifies(token)
	for i := 1; i < len(ids); i++ {
		if gap := ids[i].At.Sub(ids[i-1].At); gap < interval {
			t.Fatalf("IDENTIFY %d came %s after the previous one", i, gap)
		}
	}
	if v := e.fake.Violations(token); len(v) != 0 {
		t.Fatalf("limits broken: %v", v)
	}

	spent := newEnv(t, channeltest.DiscordOptions{SessionStarts: 1})
	spent.runner(t, discordgateway.Options{})
	spent.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	spent.fake.InvalidateSession(token, false)
	time.Sleep(2 * time.Second)
	if n := len(spent.fake.Identifies(token)); n != 1 || len(spent.fake.Violations(token)) != 0 {
		t.Fatalf("with the start limit spent: %d IDENTIFYs, violations %v", n, spent.fake.Violations(token))
	}
}

// TestLeaseTakeOver: of two runners on one database exactly one holds a
// bot's session; when it stops, the other takes the session over within
// seconds, no sooner after the last IDENTIFY than Discord allows, and
// messages keep arriving.
func TestLeaseTakeOver(t *testing.T) {
	t.Parallel()
	const interval = 2 * time.Second
	e := newEnv(t, channeltest.DiscordOptions{IdentifyInterval: interval})
	opts := discordgateway.Options{LeaseTTL: 3 * time.Second, Tick: 100 * time.Millisecond, IdentifyInterval: interval}
	a := e.runner(t, discordgateway.Options{Owner: "proc-a", LeaseTTL: opts.LeaseTTL, Tick: opts.Tick, IdentifyInterval: interval})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	b := e.runner(t, discordgateway.Options{Owner: "proc-b", LeaseTTL: opts.LeaseTTL, Tick: opts.Tick, IdentifyInterval: interval})
	time.Sleep(500 * time.Millisecond)
	if len(a.Sessions()) != 1 || len(b.Sessions()) != 0 {
		t.Fatalf("sessions: a %v, b %v", a.Sessions(), b.Sessions())
	}
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(1, "first"))
	waitFor(t, "the first job", func() bool { return e.jobs(t) == 1 })

	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the take-over", func() bool { return len(b.Sessions()) == 1 })
	// The new owner resumes the session the old one saved.
	e.fake.WaitConnected(t, token, 1, 1, 20*time.Second)
	if d := time.Since(stopped); d > 5*time.Second {
		t.Fatalf("take-over took %s", d)
	}
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(2, "second"))
	waitFor(t, "the second job", func() bool { return e.jobs(t) == 2 })
	// The hand-over kept the bot's IDENTIFYs an interval apart.
	if v := e.fake.Violations(token); len(v) != 0 {
		t.Fatalf("limits broken across the hand-over: %v", v)
	}
}

// TestDeadOwnerIsTakenOver: a runner that stops renewing (a dead process:
// its lease is left, not released) loses its sessions to another once the
// lease expires.
func TestDeadOwnerIsTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{})
	now := time.Now()
	if ok, err := e.s.AcquireLease(t.Context(), discordgateway.LeasePrefix+string(e.ch.ID), "proc-dead", now, time.Second); err != nil || !ok {
		t.Fatal(err)
	}
	b := e.runner(t, discordgateway.Options{Owner: "proc-b", LeaseTTL: time.Second, Tick: 100 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	if len(b.Sessions()) != 0 {
		t.Fatal("a live lease of another owner was taken")
	}
	waitFor(t, "the take-over", func() bool { return len(b.Sessions()) == 1 })
	if d := time.Since(now); d > 4*time.Second {
		t.Fatalf("take-over took %s", d)
	}
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
}

// TestNextOwnerResumesFromTheSavedSequence: the session id, resume URL
// and the sequence number of the last message stored are saved; a process
// that takes the lease over resumes from them, so a message the previous
// owner read but never stored (its saved number is behind) is replayed
// and accepted, and one it did store is found a duplicate.
func TestNextOwnerResumesFromTheSavedSequence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{})
	a := e.runner(t, discordgateway.Options{Owner: "proc-a"})
	e.fake.WaitConnected(t, token, 1, 0, 20*time.Second)
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(1, "stored"))
	waitFor(t, "the first job", func() bool { return e.jobs(t) == 1 })
	var saved store.GatewaySession
	waitFor(t, "the saved sequence number", func() bool {
		saved, _ = e.s.ChannelGatewaySession(t.Context(), e.scope, e.ch.ID)
		return saved.Seq == 2
	})
	if saved.SessionID.IsZero() || saved.ResumeURL != e.fake.ResumeURL {
		t.Fatalf("saved session = %+v", saved)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Posted while no process is connected, and one read by a process
	// that died before storing it: the saved number goes back to READY.
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(2, "while away"))
	if err := e.s.SetChannelGatewaySeq(t.Context(), e.scope, e.ch.ID, 1); err != nil {
		t.Fatal(err)
	}
	e.runner(t, discordgateway.Options{Owner: "proc-b"})
	e.fake.WaitConnected(t, token, 1, 1, 20*time.Second)
	waitFor(t, "the replayed message", func() bool { return e.jobs(t) == 2 })
	rs := e.fake.Resumes(token)
	if len(e.fake.Identifies(token)) != 1 || !rs[0].OK || rs[0].Seq != 1 || rs[0].SessionID != saved.SessionID.Reveal() {
		t.Fatalf("identifies %d, resumes %+v", len(e.fake.Identifies(token)), rs)
	}
	waitFor(t, "the advanced sequence number", func() bool {
		g, _ := e.s.ChannelGatewaySession(t.Context(), e.scope, e.ch.ID)
		return g.Seq == 3
	})
	if n := e.jobs(t); n != 2 || e.fresh.Load() != 2 {
		t.Fatalf("%d jobs, %d fresh; want 2", n, e.fresh.Load())
	}
}

// TestSavedSessionUnknownToDiscordIdentifiesAfresh: a saved session the
// Gateway no longer knows is answered with Invalid Session (not
// resumable); the runner identifies a new session and saves that.
func TestSavedSessionUnknownToDiscordIdentifiesAfresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, channeltest.DiscordOptions{})
	if err := e.s.SetChannelGatewaySession(t.Context(), e.scope, e.ch.ID, store.GatewaySession{
		SessionID: secret.New("gone-session"), ResumeURL: e.fake.ResumeURL, Seq: 40}); err != nil {
		t.Fatal(err)
	}
	e.runner(t, discordgateway.Options{})
	e.fake.WaitConnected(t, token, 1, 1, 20*time.Second)
	if rs := e.fake.Resumes(token); rs[0].OK || rs[0].SessionID != "gone-session" || rs[0].Seq != 40 {
		t.Fatalf("resumes %+v", rs)
	}
	waitFor(t, "the new session saved", func() bool {
		g, _ := e.s.ChannelGatewaySession(t.Context(), e.scope, e.ch.ID)
		return !g.SessionID.IsZero() && g.SessionID.Reveal() != "gone-session" && g.Seq == 1
	})
	e.fake.Dispatch(token, "MESSAGE_CREATE", dm(1, "hello"))
	waitFor(t, "the job", func() bool { return e.jobs(t) == 1 })
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	if err := discordgateway.CheckPolicy(egress.DefaultPolicy(), "wss://gateway.discord.gg"); err != nil {
		t.Fatalf("the default policy refuses the Gateway: %v", err)
	}
	if err := discordgateway.CheckPolicy(egress.DefaultPolicy(), "wss://gateway-us-east1-b.discord.gg/?v=10"); err != nil {
		t.Fatalf("the default policy refuses a resume URL: %v", err)
	}
	for _, bad := range []string{"wss://evil.example.com", "https://gateway.discord.gg", "not a url"} {
		if err := discordgateway.CheckPolicy(egress.DefaultPolicy(), bad); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
}
