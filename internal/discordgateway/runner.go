package discordgateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Store is what the runner reads and writes.
type Store interface {
	ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error)
	ListChannelsOfKind(ctx context.Context, scope palisade.Scope, kind string) ([]palisade.Channel, error)
	ChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error)
	ChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (store.GatewaySession, error)
	SetChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, g store.GatewaySession) error
	SetChannelGatewaySeq(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, seq int64) error

	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
	RenewLeases(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	ListLeases(ctx context.Context, prefix string, now time.Time) ([]store.Lease, error)
}

// Acceptor durably accepts a channel's messages (*channel.Service).
type Acceptor interface {
	Accept(ctx context.Context, ch palisade.Channel, msgs []channel.Message) (accepted, duplicates int, err error)
}

// REST reads a bot's Gateway URL and session start limit
// (*discord.Platform).
type REST interface {
	GatewayBot(ctx context.Context, credentials secret.Secret) (discord.GatewayInfo, error)
}

var (
	_ Acceptor = (*channel.Service)(nil)
	_ REST     = (*discord.Platform)(nil)
)

// LeasePrefix names the leases of Gateway sessions: LeasePrefix + the
// channel id.
const LeasePrefix = "discord-gateway:"

// Defaults of Options.
const (
	DefaultLeaseTTL         = 15 * time.Second
	DefaultTick             = 3 * time.Second
	DefaultIdentifyInterval = 5 * time.Second
	// failedRetry is how long a session stopped for good (its token
	// reset) stays stopped unless its channel changes.
	failedRetry = 10 * time.Minute
)

// Options configure a Runner.
type Options struct {
	Store    Store
	Channels Acceptor
	REST     REST
	// Client dials the Gateway; its policy must allow the Gateway hosts
	// (CheckPolicy).
	Client *egress.Client
	// GatewayURL replaces the URL GET /gateway/bot names (a test fake).
	GatewayURL string
	// Owner identifies this process in the leases (default random).
	Owner string
	// LeaseTTL is how long a lease lives unrenewed: a dead process's
	// sessions move within it (default 15s); it must exceed
	// IdentifyInterval. Tick is how often leases are renewed and channels
	// looked for (default 3s); it must be well under LeaseTTL.
	LeaseTTL, Tick time.Duration
	// IdentifyInterval is the least time between two IDENTIFYs of a bot
	// (default 5s, Discord's for max_concurrency 1).
	IdentifyInterval time.Duration
	// OnMessage sees each message accepted (true) or found a duplicate
	// (false).
	OnMessage func(fresh bool)
	Logger    *slog.Logger
	Now       func() time.Time
	// Sleep waits; nil waits on the real clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Runner runs the Gateway sessions this process holds the lease of.
type Runner struct {
	o Options

	mu       sync.Mutex
	sessions map[palisade.ChannelID]*running
	gates    map[palisade.ChannelID]*gate
	cancel   context.CancelFunc
	done     chan struct{}
}

// running is a session this process holds.
type running struct {
	ch     palisade.Channel
	cancel context.CancelFunc
	done   chan struct{}
	// failedAt is set when the session stopped for good.
	failedAt time.Time
}

// New checks o and returns the runner.
func New(o Options) (*Runner, error) {
	if o.Store == nil || o.Channels == nil || o.REST == nil || o.Client == nil {
		return nil, errors.New("discordgateway: Store, Channels, REST and Client are required")
	}
	if o.Owner == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		o.Owner = "proc-" + hex.EncodeToString(b[:])
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Tick*2 >= o.LeaseTTL {
		return nil, errors.New("discordgateway: the tick must be well under the lease time")
	}
	if o.IdentifyInterval <= 0 {
		o.IdentifyInterval = DefaultIdentifyInterval
	}
	if o.LeaseTTL <= o.IdentifyInterval {
		// A dead owner's lease must outlive its last IDENTIFY by the
		// interval, or the next owner could identify too soon.
		return nil, errors.New("discordgateway: the lease time must exceed the identify interval")
	}
	if o.OnMessage == nil {
		o.OnMessage = func(bool) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GatewayURL != "" {
		if _, err := withVersion(o.GatewayURL); err != nil {
			return nil, err
		}
	}
	return &Runner{o: o, sessions: map[palisade.ChannelID]*running{}, gates: map[palisade.ChannelID]*gate{}}, nil
}

// CheckPolicy reports whether policy allows the WebSocket handshake to the
// Gateway URL raw, at start-up.
func CheckPolicy(policy *egress.Policy, raw string) error {
	if _, err := withVersion(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	// The handshake is an HTTP GET: wss is https, ws is http.
	hu := *u
	hu.Scheme = map[string]string{"wss": "https", "ws": "http"}[u.Scheme]
	hu.RawQuery = ""
	if hu.Path == "" {
		hu.Path = "/"
	}
	if err := policy.Allows(http.MethodGet, &hu); err != nil {
		return fmt.Errorf("the egress policy does not allow the Discord Gateway at %s: %w", hu.Host, err)
	}
	return nil
}

// Owner is the id this process holds leases under.
func (r *Runner) Owner() string { return r.o.Owner }

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.o.Sleep != nil {
		return r.o.Sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// identified notes an IDENTIFY of the channel's bot (for logs; the gate
// already booked it).
func (r *Runner) identified(id palisade.ChannelID) {
	r.o.Logger.Info("identifying with the Discord Gateway", "channel_id", string(id))
}

// Start runs the runner until Stop.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return errors.New("discordgateway: already started")
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel, r.done = cancel, make(chan struct{})
	go r.loop(ctx)
	return nil
}

// Stop ends every session and releases its lease, so another process can
// take it over at once.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stopping the Discord Gateway sessions: %w", ctx.Err())
	}
	r.mu.Lock()
	ids := make([]palisade.ChannelID, 0, len(r.sessions))
	for id := range r.sessions {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	var errs []error
	for _, id := range ids {
		errs = append(errs, r.stopSession(ctx, id, true))
	}
	return errors.Join(errs...)
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.o.Tick)
	defer t.Stop()
	for {
		if err := r.tick(ctx); err != nil && ctx.Err() == nil {
			r.o.Logger.Warn("the Discord Gateway runner could not check its sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick renews the leases held, stops the sessions whose lease was lost or
// whose channel is gone, and starts a session for each connected channel
// whose lease is free. The loop calls it every Tick.
func (r *Runner) tick(ctx context.Context) error {
	now := r.o.Now()
	held, err := r.o.Store.RenewLeases(ctx, r.o.Owner, now, r.o.LeaseTTL)
	if err != nil {
		return err
	}
	heldSet := map[string]bool{}
	for _, n := range held {
		heldSet[n] = true
	}
	r.mu.Lock()
	var lost []palisade.ChannelID
	for id := range r.sessions {
		if !heldSet[LeasePrefix+string(id)] {
			lost = append(lost, id)
		}
	}
	r.mu.Unlock()
	for _, id := range lost {
		r.o.Logger.Warn("the lease of a Discord Gateway session was lost; stopping it here", "channel_id", string(id))
		_ = r.stopSession(ctx, id, false)
	}

	chans, err := r.channels(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	var gone []palisade.ChannelID
	for id, s := range r.sessions {
		ch, ok := chans[id]
		switch {
		case !ok:
			gone = append(gone, id)
		case !s.failedAt.IsZero() && (now.Sub(s.failedAt) > failedRetry || ch.UpdatedAt.After(s.ch.UpdatedAt)):
			// A failed session is tried again later, or at once when the
			// channel was reconnected.
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		_ = r.stopSession(ctx, id, true)
	}

	leases, err := r.o.Store.ListLeases(ctx, LeasePrefix, now)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, l := range leases {
		if l.Owner != r.o.Owner {
			taken[l.Name] = true
		}
	}
	for id, ch := range chans {
		r.mu.Lock()
		_, mine := r.sessions[id]
		r.mu.Unlock()
		if mine || taken[LeasePrefix+string(id)] {
			continue
		}
		ok, err := r.o.Store.AcquireLease(ctx, LeasePrefix+string(id), r.o.Owner, now, r.o.LeaseTTL)
		if err != nil {
			return err
		}
		if ok {
			r.startSession(ctx, ch)
		}
	}
	return nil
}

// channels lists every workspace's connected Discord channels.
func (r *Runner) channels(ctx context.Context) (map[palisade.ChannelID]palisade.Channel, error) {
	ids, err := r.o.Store.ListWorkspaceIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[palisade.ChannelID]palisade.Channel{}
	for _, ws := range ids {
		chans, err := r.o.Store.ListChannelsOfKind(ctx, palisade.ScopeFor(ws), channel.KindDiscord)
		if err != nil {
			return nil, err
		}
		for _, ch := range chans {
			if ch.Status == channel.StatusActive && ch.HasCredentials {
				out[ch.ID] = ch
			}
		}
	}
	return out, nil
}

func (r *Runner) startSession(ctx context.Context, ch palisade.Channel) {
	sctx, cancel := context.WithCancel(ctx)
	run := &running{ch: ch, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.sessions[ch.ID] = run
	g := r.gates[ch.ID]
	if g == nil {
		g = &gate{interval: r.o.IdentifyInterval}
		r.gates[ch.ID] = g
	}
	r.mu.Unlock()
	log := r.o.Logger.With("channel_id", string(ch.ID), "bot_id", string(ch.BotID))
	go func() {
		defer close(run.done)
		creds, err := r.o.Store.ChannelCredentials(sctx, palisade.ScopeFor(ch.WorkspaceID), ch.ID)
		if err != nil {
			if sctx.Err() == nil {
				log.Warn("could not read a Discord channel's credentials", "err", err)
				r.failed(run)
			}
			return
		}
		tok, err := discord.BotToken(creds)
		if err != nil {
			log.Error("a Discord channel's credentials hold no bot token")
			r.failed(run)
			return
		}
		s := &session{ch: ch, creds: creds, token: tok, botUserID: discord.BotUserID(ch), intents: discord.Intents, r: r, gate: g, log: log}
		// The session a previous holder of the lease left (a crashed
		// process): resuming it has Discord replay every dispatch after
		// the last one saved, which a fresh IDENTIFY would not.
		saved, err := r.o.Store.ChannelGatewaySession(sctx, palisade.ScopeFor(ch.WorkspaceID), ch.ID)
		if err != nil {
			if sctx.Err() != nil {
				return
			}
			log.Warn("could not read a Discord channel's saved Gateway session; identifying afresh", "err", err)
		} else if !saved.SessionID.IsZero() && saved.ResumeURL != "" {
			s.sessionID, s.resumeURL = saved.SessionID.Reveal(), saved.ResumeURL
			s.seq.Store(saved.Seq)
		}
		if err := s.run(sctx); err != nil {
			r.failed(run)
		}
	}()
}

// failed marks a session stopped for good; its lease stays held so no
// other process retries a token Discord refused.
func (r *Runner) failed(run *running) {
	r.mu.Lock()
	run.failedAt = r.o.Now()
	r.mu.Unlock()
}

// stopSession ends a session, waits for it, and releases its lease when
// asked.
func (r *Runner) stopSession(ctx context.Context, id palisade.ChannelID, release bool) error {
	r.mu.Lock()
	run := r.sessions[id]
	delete(r.sessions, id)
	r.mu.Unlock()
	if run == nil {
		return nil
	}
	run.cancel()
	select {
	case <-run.done:
	case <-ctx.Done():
	}
	if !release {
		return nil
	}
	// The next owner identifies as soon as it holds the lease: keep it
	// until this process's last IDENTIFY of the bot is an identify
	// interval old. (A process that dies stops renewing; its lease
	// outlives its last IDENTIFY by more than the interval.)
	r.mu.Lock()
	var wait time.Duration
	if g := r.gates[id]; g != nil {
		g.mu.Lock()
		if !g.last.IsZero() {
			wait = g.last.Add(g.interval).Sub(r.o.Now())
		}
		g.mu.Unlock()
	}
	r.mu.Unlock()
	if wait > 0 {
		_ = r.sleep(context.WithoutCancel(ctx), min(wait, r.o.IdentifyInterval))
	}
	if err := r.o.Store.ReleaseLease(context.WithoutCancel(ctx), LeasePrefix+string(id), r.o.Owner); err != nil {
		return fmt.Errorf("releasing a Discord Gateway lease: %w", err)
	}
	return nil
}

// Sessions lists the channels whose session runs here (for tests and
// status).
func (r *Runner) Sessions() []palisade.ChannelID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]palisade.ChannelID, 0, len(r.sessions))
	for id, s := range r.sessions {
		if s.failedAt.IsZero() {
			out = append(out, id)
		}
	}
	return out
}
