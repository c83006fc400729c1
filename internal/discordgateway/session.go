package discordgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Timeouts of one connection's steps.
const (
	dialTimeout  = 30 * time.Second
	helloTimeout = 30 * time.Second
	writeTimeout = 10 * time.Second
	// maxResetWait bounds a wait for the session start limit to renew.
	maxResetWait = 24 * time.Hour
)

// Close codes of Discord's after which a session must not go on as it
// was (§4.2).
const (
	closeAuthenticationFailed = 4004
	closeInvalidSeq           = 4007
	closeSessionTimedOut      = 4009
	closeInvalidShard         = 4010
	closeShardingRequired     = 4011
	closeInvalidAPIVersion    = 4012
	closeInvalidIntents       = 4013
	closeDisallowedIntents    = 4014
)

// fatalError ends a session for good: the token was reset, or Discord
// refuses the connection as configured.
type fatalError struct{ reason string }

func (e *fatalError) Error() string { return "discordgateway: " + e.reason }

var (
	errZombie      = errors.New("discordgateway: the Gateway stopped acknowledging heartbeats")
	errReconnect   = errors.New("discordgateway: the Gateway asked for a reconnect")
	errInvalid     = errors.New("discordgateway: the Gateway invalidated the session")
	errLimitWaited = errors.New("discordgateway: waited for the session start limit to renew")
)

// gate spaces one bot's IDENTIFYs: max_concurrency 1 allows one per
// interval. It outlives a session, so a session restarted in the same
// process still waits.
type gate struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
}

// reserve returns how long to wait before identifying and books that
// slot.
func (g *gate) reserve(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	at := now
	if next := g.last.Add(g.interval); !g.last.IsZero() && next.After(at) {
		at = next
	}
	g.last = at
	return at.Sub(now)
}

// sent notes the moment an IDENTIFY actually left, later than its slot by
// the dial.
func (g *gate) sent(at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at.After(g.last) {
		g.last = at
	}
}

// session is one bot's Gateway session across its connections.
type session struct {
	ch        palisade.Channel
	creds     secret.Secret
	token     secret.Secret
	botUserID string
	intents   int
	r         *Runner
	gate      *gate
	log       *slog.Logger

	sessionID, resumeURL string
	seq                  atomic.Int64
}

// run keeps the session connected until ctx ends or a fatal error, with
// backoff between failed connections.
func (s *session) run(ctx context.Context) error {
	backoff := time.Second
	for {
		started := s.r.o.Now()
		err := s.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			s.log.Error("the Discord Gateway session stopped; reconnect the channel once fixed", "err", err)
			return err
		}
		if s.r.o.Now().Sub(started) > time.Minute || errors.Is(err, errReconnect) || errors.Is(err, errLimitWaited) {
			backoff = time.Second
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if errors.Is(err, errReconnect) || errors.Is(err, errZombie) {
			wait = 0
		}
		if errors.Is(err, errInvalid) {
			// Discord asks for 1 to 5 seconds before identifying again.
			wait = time.Second + rand.N(4*time.Second)
		}
		s.log.Info("the Discord Gateway connection ended; connecting again", "err", err, "resume", s.sessionID != "", "after", wait.String())
		if err := s.r.sleep(ctx, wait); err != nil {
			return nil
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// gatewayURL is where to identify: the configured URL or the one GET
// /gateway/bot names, after waiting out the start limit and the gate.
func (s *session) identifyURL(ctx context.Context) (string, error) {
	info, err := s.r.o.REST.GatewayBot(ctx, s.creds)
	if errors.Is(err, discord.ErrTokenRejected) {
		return "", &fatalError{reason: "Discord rejected the bot token (it was reset)"}
	}
	if err != nil {
		return "", fmt.Errorf("reading the Gateway URL: %w", err)
	}
	if info.Limit.Remaining <= 0 {
		wait := min(max(info.ResetAfter(), time.Second), maxResetWait)
		s.log.Warn("the bot's session start limit is spent; waiting for it to renew before identifying", "after", wait.String())
		if err := s.r.sleep(ctx, wait); err != nil {
			return "", err
		}
		return "", errLimitWaited
	}
	u := info.URL
	if s.r.o.GatewayURL != "" {
		u = s.r.o.GatewayURL
	}
	if err := s.r.sleep(ctx, s.gate.reserve(s.r.o.Now())); err != nil {
		return "", err
	}
	return u, nil
}

// withVersion pins the Gateway version and encoding on a Gateway URL.
func withVersion(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" || u.User != nil {
		return "", errors.New("discordgateway: the Gateway URL is not a ws(s) URL")
	}
	q := u.Query()
	q.Set("v", "10")
	q.Set("encoding", "json")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// connect makes one connection: identify or resume, then read until it
// ends.
func (s *session) connect(ctx context.Context) error {
	resuming := s.sessionID != "" && s.resumeURL != ""
	var raw string
	if resuming {
		raw = s.resumeURL
	} else {
		u, err := s.identifyURL(ctx)
		if err != nil {
			return err
		}
		raw = u
	}
	target, err := withVersion(raw)
	if err != nil {
		s.forget(ctx)
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, _, err := websocket.Dial(dctx, target, &websocket.DialOptions{HTTPClient: s.r.o.Client.WebSocketClient(),
		HTTPHeader: http.Header{"User-Agent": {discord.UserAgent}}})
	cancel()
	if err != nil {
		return fmt.Errorf("dialing the Gateway: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(MaxFrame)

	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	_, data, err := conn.Read(hctx)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for Hello: %w", err)
	}
	f, err := DecodeFrame(data)
	var h hello
	if err != nil || f.Op != opHello || json.Unmarshal(f.D, &h) != nil || h.HeartbeatInterval <= 0 {
		return errors.New("discordgateway: the Gateway did not say Hello")
	}
	interval := time.Duration(h.HeartbeatInterval) * time.Millisecond

	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(cctx, writeTimeout)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	var acked, zombie atomic.Bool
	acked.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.heartbeat(cctx, conn, interval, &acked, &zombie, send)
	}()

	if resuming {
		err = send(outFrame{Op: opResume, D: resumeData{Token: s.token.Reveal(), SessionID: s.sessionID, Seq: s.seq.Load()}})
	} else {
		s.seq.Store(0)
		s.r.identified(s.ch.ID)
		s.gate.sent(s.r.o.Now())
		err = send(outFrame{Op: opIdentify, D: identifyData{Token: s.token.Reveal(), Intents: s.intents,
			Properties: map[string]string{"os": "linux", "browser": "palisade", "device": "palisade"}}})
	}
	if err != nil {
		return fmt.Errorf("sending IDENTIFY or RESUME: %w", err)
	}
	for {
		_, data, err := conn.Read(cctx)
		if err != nil {
			if zombie.Load() {
				return errZombie
			}
			return s.closed(ctx, err)
		}
		f, err := DecodeFrame(data)
		if err != nil {
			s.log.Warn("an undecodable Gateway payload; resuming")
			_ = conn.Close(4000, "undecodable payload")
			return err
		}
		switch f.Op {
		case opDispatch:
			if err := s.dispatch(cctx, f); err != nil {
				// Not acknowledged by the sequence number: the resume
				// replays it.
				_ = conn.Close(4000, "resuming")
				return err
			}
		case opHeartbeat:
			if err := send(outFrame{Op: opHeartbeat, D: s.seqOrNil()}); err != nil {
				return err
			}
		case opHeartbeatACK:
			acked.Store(true)
		case opReconnect:
			_ = conn.Close(4000, "reconnecting")
			return errReconnect
		case opInvalidSession:
			var resumable bool
			_ = json.Unmarshal(f.D, &resumable)
			if !resumable {
				s.forget(ctx)
			}
			_ = conn.Close(4000, "invalid session")
			return errInvalid
		}
	}
}

// closed classifies how the Gateway ended a connection.
func (s *session) closed(ctx context.Context, err error) error {
	code := websocket.CloseStatus(err)
	switch code {
	case closeAuthenticationFailed:
		return &fatalError{reason: "Discord rejected the bot token (it was reset)"}
	case closeDisallowedIntents:
		if s.intents&discord.IntentMessageContent != 0 {
			// Content still arrives for DMs and mentions, which are all
			// the bot answers.
			s.log.Warn("the application has no Message Content intent enabled; identifying without it")
			s.intents &^= discord.IntentMessageContent
			s.forget(ctx)
			return fmt.Errorf("the Gateway closed the connection (%d): %w", code, err)
		}
		return &fatalError{reason: "Discord refuses the intents (enable the bot's gateway intents)"}
	case closeInvalidShard, closeShardingRequired, closeInvalidAPIVersion, closeInvalidIntents:
		return &fatalError{reason: fmt.Sprintf("Discord refuses the connection (close code %d)", code)}
	case closeInvalidSeq, closeSessionTimedOut:
		s.forget(ctx)
	}
	return fmt.Errorf("the Gateway connection ended: %w", err)
}

func (s *session) seqOrNil() any {
	if n := s.seq.Load(); n > 0 {
		return n
	}
	return nil
}

// heartbeat beats on the interval, the first after a random part of it;
// a beat still unacknowledged at the next one marks the connection a
// zombie and closes it, so the session resumes on a fresh one.
func (s *session) heartbeat(ctx context.Context, conn *websocket.Conn, interval time.Duration, acked, zombie *atomic.Bool, send func(any) error) {
	t := time.NewTimer(rand.N(interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !acked.Swap(false) {
			s.log.Warn("no heartbeat acknowledgement from the Gateway; reconnecting")
			zombie.Store(true)
			_ = conn.CloseNow()
			return
		}
		if err := send(outFrame{Op: opHeartbeat, D: s.seqOrNil()}); err != nil {
			return
		}
		t.Reset(interval)
	}
}

// dispatch handles an event and then advances the sequence number.
func (s *session) dispatch(ctx context.Context, f Frame) error {
	switch *f.T {
	case "READY":
		var r ready
		if err := json.Unmarshal(f.D, &r); err != nil || r.SessionID == "" {
			return errors.New("discordgateway: READY without a session")
		}
		s.sessionID, s.resumeURL = r.SessionID, r.ResumeGatewayURL
		if r.User.ID != "" {
			s.botUserID = r.User.ID
		}
		if err := s.r.o.Store.SetChannelGatewaySession(ctx, s.scope(), s.ch.ID,
			store.GatewaySession{SessionID: secret.New(r.SessionID), ResumeURL: r.ResumeGatewayURL, Seq: *f.S}); err != nil {
			return fmt.Errorf("saving the Gateway session: %w", err)
		}
		s.log.Info("Discord Gateway session ready")
	case "RESUMED":
		s.log.Info("Discord Gateway session resumed")
	case "MESSAGE_CREATE":
		m, ok, err := discord.MessageFromEvent(f.D, s.botUserID)
		if err != nil {
			s.log.Warn("an unreadable MESSAGE_CREATE was skipped")
			break
		}
		if ok {
			acc, _, err := s.r.o.Channels.Accept(ctx, s.ch, []channel.Message{m})
			if err != nil {
				return fmt.Errorf("accepting a Discord message: %w", err)
			}
			s.r.o.OnMessage(acc == 1)
			// Only now that the message is stored may a resume skip it;
			// a crash between the two replays it, and Accept finds the
			// duplicate. Other dispatches need no write: replayed, they
			// change nothing.
			if err := s.r.o.Store.SetChannelGatewaySeq(ctx, s.scope(), s.ch.ID, *f.S); err != nil {
				return fmt.Errorf("saving the Gateway sequence number: %w", err)
			}
		}
	}
	s.seq.Store(*f.S)
	return nil
}

func (s *session) scope() palisade.Scope { return palisade.ScopeFor(s.ch.WorkspaceID) }

// forget ends the session for good, here and in the store, so neither
// this process nor the next holder of the lease resumes it.
func (s *session) forget(ctx context.Context) {
	s.sessionID, s.resumeURL = "", ""
	s.seq.Store(0)
	if err := s.r.o.Store.SetChannelGatewaySession(ctx, s.scope(), s.ch.ID, store.GatewaySession{}); err != nil && ctx.Err() == nil {
		// The next holder then tries the old session once and is told
		// it is invalid.
		s.log.Warn("could not clear a Discord channel's saved Gateway session", "err", err)
	}
}
