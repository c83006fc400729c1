package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)

	CreateChannel(ctx context.Context, scope palisade.Scope, p store.CreateChannelParams) (palisade.Channel, error)
	GetChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (palisade.Channel, error)
	ListChannels(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Channel, error)
	UpdateChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, p store.UpdateChannelParams) (palisade.Channel, error)
	DeleteChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) error
	ChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error)
	ChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error)
	SetChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, s secret.Secret, now time.Time) error
	LookupWebhookChannel(ctx context.Context, bot palisade.BotID, kind string) (store.WebhookChannel, error)

	RecordDelivery(ctx context.Context, scope palisade.Scope, p store.DeliveryParams, job store.JobArgs) (bool, error)

	BeginReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart, now time.Time) (store.ReplyState, error)
	FinishReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart, now time.Time) error
	AbortReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart) error
}

// Channel states.
const (
	// StatusPending: stored, the platform not set up yet (or the set-up
	// was interrupted).
	StatusPending = "pending"
	// StatusActive: the platform delivers to the webhook.
	StatusActive = "active"
)

// Options configure a Service.
type Options struct {
	Store Store
	// Sealer seals each accepted message's text and reply route into its
	// job (the keyring the store uses).
	Sealer store.Sealer
	// ArgsKey authenticates the arguments of each accepted message's job,
	// which the worker checks before it acts in the scope they name.
	ArgsKey *job.ArgsKey
	// Platforms are the adapters, one per kind.
	Platforms []Platform
	// Events, when set, is told of each channel connected, and of each
	// set-up or connection test that failed.
	Events palisade.EventSink
	// PublicURL is the external base URL the webhook URLs are made of
	// (https://chat.example.com).
	PublicURL string
	// Audit records every change and, through Rejections, verification
	// failures; nil records nothing.
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
	// Rejections aggregates verification failures for the audit log; nil
	// audits none.
	Rejections *Rejections
	// OnReply sees the outcome of each reply part sent: sent, resent,
	// retried, rate_limited, failed or refused (metrics).
	OnReply func(kind, outcome string)
	// SendAttempts is how many times one part is tried within one job
	// attempt (default 3); MaxInlineWait is the longest rate-limit answer
	// waited out in place (default 30s): a longer one goes back to the job
	// runner, which waits without holding a worker.
	SendAttempts  int
	MaxInlineWait time.Duration
	// Sleep waits between tries; nil waits on the real clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Service is the channel use cases.
type Service struct {
	o         Options
	platforms map[string]Platform
}

// New checks o and returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Sealer == nil || o.ArgsKey == nil {
		return nil, errors.New("channel: Store, Sealer and ArgsKey are required")
	}
	if o.PublicURL == "" {
		return nil, errors.New("channel: PublicURL is required to make webhook URLs")
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SendAttempts <= 0 {
		o.SendAttempts = 3
	}
	if o.MaxInlineWait <= 0 {
		o.MaxInlineWait = 30 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.OnReply == nil {
		o.OnReply = func(string, string) {}
	}
	s := &Service{o: o, platforms: map[string]Platform{}}
	for _, p := range o.Platforms {
		if _, dup := s.platforms[p.Kind()]; dup {
			return nil, fmt.Errorf("channel: two platforms of kind %q", p.Kind())
		}
		s.platforms[p.Kind()] = p
	}
	return s, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Kinds lists the kinds of the configured platforms, sorted.
func (s *Service) Kinds() []string {
	out := make([]string, 0, len(s.platforms))
	for k := range s.platforms {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Methods are the HTTP methods the webhook of kind uses; none for a kind
// that is not configured.
func (s *Service) Methods(kind string) []string {
	if p, ok := s.platforms[kind]; ok {
		return p.Methods()
	}
	return nil
}

// Platform returns the adapter of kind.
func (s *Service) Platform(kind string) (Platform, bool) {
	p, ok := s.platforms[kind]
	return p, ok
}

// WebhookURL is where the platform delivers a bot's messages of kind.
func (s *Service) WebhookURL(kind string, bot palisade.BotID) string {
	return s.o.PublicURL + "/hooks/" + kind + "/" + string(bot)
}

// View is a channel as responses show it: never a credential or a secret,
// only whether they are set and the submitted credentials masked.
type View struct {
	ID             palisade.ChannelID
	BotID          palisade.BotID
	Kind           string
	Name           string
	ExternalID     string
	Status         string
	WebhookURL     string
	Masked         map[string]string
	HasCredentials bool
	HasSecret      bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// storedConfig is the channels.config column: the adapter's settings and
// the masked credentials, nothing secret.
type storedConfig struct {
	Settings map[string]string `json:"settings,omitempty"`
	Masked   map[string]string `json:"masked,omitempty"`
}

// Settings returns the adapter settings kept in a channel's config.
func Settings(ch palisade.Channel) map[string]string {
	var c storedConfig
	_ = json.Unmarshal([]byte(ch.Config), &c)
	return c.Settings
}

func (s *Service) view(ch palisade.Channel) View {
	var c storedConfig
	_ = json.Unmarshal([]byte(ch.Config), &c)
	return View{ID: ch.ID, BotID: ch.BotID, Kind: ch.Kind, Name: ch.Name, ExternalID: ch.ExternalID, Status: ch.Status,
		WebhookURL: s.WebhookURL(ch.Kind, ch.BotID), Masked: c.Masked, HasCredentials: ch.HasCredentials, HasSecret: ch.HasSecret,
		CreatedAt: ch.CreatedAt, UpdatedAt: ch.UpdatedAt}
}

// platformFor returns the adapter of a stored channel.
func (s *Service) platformFor(ch palisade.Channel) (Platform, error) {
	p, ok := s.platforms[ch.Kind]
	if !ok {
		return nil, palisade.Errorf(palisade.CodeUnavailable, "channels of type %s are not enabled on this server", ch.Kind)
	}
	return p, nil
}

// Connect connects the bot to a platform: the adapter checks the
// credentials with the platform, they are sealed at once with the
// verification secret the adapter made, and the platform is set up to
// deliver to the bot's webhook URL. If the set-up fails, nothing is kept.
// A bot has at most one channel of each kind.
func (s *Service) Connect(ctx context.Context, c palisade.Caller, bot palisade.BotID, kind string, in Credentials) (View, error) {
	p, ok := s.platforms[kind]
	if !ok {
		return View{}, palisade.FieldError("type", "type must be one of: %s", strings.Join(s.Kinds(), ", "))
	}
	if _, err := s.o.Store.GetBot(ctx, c.Scope, bot); err != nil {
		return View{}, err
	}
	conn, err := p.Connect(ctx, in)
	if err != nil {
		return View{}, err
	}
	cfg, err := json.Marshal(storedConfig{Settings: conn.Settings, Masked: conn.Masked})
	if err != nil {
		return View{}, fmt.Errorf("encoding channel settings: %w", err)
	}
	ch, err := s.o.Store.CreateChannel(ctx, c.Scope, store.CreateChannelParams{BotID: bot, Kind: kind, Name: conn.Name, ExternalID: conn.ExternalID,
		Config: string(cfg), Credentials: conn.Credentials, Secret: conn.Secret, Status: StatusPending, Now: s.o.Now()})
	if errors.Is(err, store.ErrConflict) {
		return View{}, palisade.Errorf(palisade.CodeConflict, "this bot already has a %s channel; disconnect it first", kind)
	}
	if err != nil {
		return View{}, err
	}
	a := Access{Channel: ch, Credentials: conn.Credentials, Secret: conn.Secret, WebhookURL: s.WebhookURL(kind, bot)}
	if err := p.SetUp(ctx, a); err != nil {
		if derr := s.o.Store.DeleteChannel(context.WithoutCancel(ctx), c.Scope, ch.ID); derr != nil {
			s.o.Logger.ErrorContext(ctx, "could not remove a channel whose set-up failed", "channel_id", string(ch.ID), "err", derr)
		}
		s.record(ctx, c, audit.ActionChannelConnected, ch, audit.OutcomeFailure, nil)
		s.emit(ctx, c.Scope, palisade.EventChannelFailed, ch, "set-up failed")
		return View{}, err
	}
	active := StatusActive
	ch, err = s.o.Store.UpdateChannel(ctx, c.Scope, ch.ID, store.UpdateChannelParams{Status: &active, Now: s.o.Now()})
	if err != nil {
		return View{}, err
	}
	s.record(ctx, c, audit.ActionChannelConnected, ch, audit.OutcomeSuccess, nil)
	s.emit(ctx, c.Scope, palisade.EventChannelConnected, ch, "")
	return s.view(ch), nil
}

// emit tells the event sink of a channel's change; reason is a fixed
// phrase, never a platform's answer.
func (s *Service) emit(ctx context.Context, scope palisade.Scope, typ string, ch palisade.Channel, reason string) {
	if s.o.Events == nil {
		return
	}
	data := map[string]any{"bot_id": string(ch.BotID), "channel_id": string(ch.ID), "type": ch.Kind}
	if reason != "" {
		data["reason"] = reason
	}
	s.o.Events.Emit(ctx, scope, typ, data)
}

// List lists the bot's channels; another workspace's bot reads as not
// found.
func (s *Service) List(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]View, error) {
	if _, err := s.o.Store.GetBot(ctx, scope, bot); err != nil {
		return nil, err
	}
	chans, err := s.o.Store.ListChannels(ctx, scope, bot)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(chans))
	for _, ch := range chans {
		out = append(out, s.view(ch))
	}
	return out, nil
}

// Get returns one of the bot's channels.
func (s *Service) Get(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.ChannelID) (View, error) {
	ch, err := s.get(ctx, scope, bot, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ch), nil
}

// get reads a channel of the bot: a channel of another bot reads as not
// found, as one of another workspace does.
func (s *Service) get(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.ChannelID) (palisade.Channel, error) {
	ch, err := s.o.Store.GetChannel(ctx, scope, id)
	if err != nil {
		return palisade.Channel{}, err
	}
	if ch.BotID != bot {
		return palisade.Channel{}, palisade.ErrNotFound
	}
	return ch, nil
}

// access reads a channel of the bot with its sealed values opened.
func (s *Service) access(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.ChannelID) (Platform, Access, error) {
	ch, err := s.get(ctx, scope, bot, id)
	if err != nil {
		return nil, Access{}, err
	}
	p, err := s.platformFor(ch)
	if err != nil {
		return nil, Access{}, err
	}
	creds, err := s.o.Store.ChannelCredentials(ctx, scope, id)
	if err != nil {
		return nil, Access{}, err
	}
	sec, err := s.o.Store.ChannelSecret(ctx, scope, id)
	if err != nil {
		return nil, Access{}, err
	}
	return p, Access{Channel: ch, Credentials: creds, Secret: sec, WebhookURL: s.WebhookURL(ch.Kind, bot)}, nil
}

// Test checks the channel's connection with the platform.
func (s *Service) Test(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (TestResult, error) {
	p, a, err := s.access(ctx, c.Scope, bot, id)
	if err != nil {
		return TestResult{}, err
	}
	if a.Credentials.IsZero() {
		return TestResult{Detail: "The channel has no credentials; reconnect it."}, nil
	}
	res, err := p.Test(ctx, a)
	if err == nil && !res.OK {
		s.emit(ctx, c.Scope, palisade.EventChannelFailed, a.Channel, "connection test failed")
	}
	return res, err
}

// Disconnect tears the platform's set-up down and removes the channel
// with its sealed credentials and secret. The channel goes even when the
// platform cannot be reached (or the credentials were revoked): without
// its secret, no delivery is accepted any more.
func (s *Service) Disconnect(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) error {
	p, a, err := s.access(ctx, c.Scope, bot, id)
	if err != nil {
		return err
	}
	teardown := "done"
	if !a.Credentials.IsZero() {
		if err := p.TearDown(ctx, a); err != nil {
			teardown = "failed"
			s.o.Logger.WarnContext(ctx, "could not tear the platform's webhook down; removing the channel anyway", "channel_id", string(id),
				"channel", a.Channel.Kind, "err", err)
		}
	}
	if err := s.o.Store.DeleteChannel(ctx, c.Scope, id); err != nil {
		return err
	}
	s.record(ctx, c, audit.ActionChannelRemoved, a.Channel, audit.OutcomeSuccess, map[string]string{"teardown": teardown})
	return nil
}

// RotateSecret gives the channel a fresh verification secret where the
// platform lets us choose it (Telegram: a new secret token, set with
// setWebhook again). The platform is told first; if storing the new
// secret then fails, the old one is set up again.
func (s *Service) RotateSecret(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (View, error) {
	p, a, err := s.access(ctx, c.Scope, bot, id)
	if err != nil {
		return View{}, err
	}
	fresh, err := p.NewSecret(a)
	if err != nil {
		return View{}, err
	}
	next := a
	next.Secret = fresh
	if err := p.SetUp(ctx, next); err != nil {
		return View{}, err
	}
	if err := s.o.Store.SetChannelSecret(ctx, c.Scope, id, fresh, s.o.Now()); err != nil {
		if rerr := p.SetUp(context.WithoutCancel(ctx), a); rerr != nil {
			s.o.Logger.ErrorContext(ctx, "the new verification secret could not be stored and the old one not restored at the platform; reconnect the channel",
				"channel_id", string(id), "err", rerr)
		}
		return View{}, err
	}
	ch, err := s.o.Store.GetChannel(ctx, c.Scope, id)
	if err != nil {
		return View{}, err
	}
	audit.Best(ctx, s.o.Audit, s.o.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: audit.ActionSecretChanged, Target: string(id),
		Outcome: audit.OutcomeSuccess, ClientIP: c.ClientIP, RequestID: c.RequestID,
		Detail: map[string]string{"channel": ch.Kind, "bot_id": string(bot), "what": "webhook verification"}})
	return s.view(ch), nil
}

func (s *Service) record(ctx context.Context, c palisade.Caller, action audit.Action, ch palisade.Channel, outcome audit.Outcome, extra map[string]string) {
	detail := map[string]string{"channel": ch.Kind, "bot_id": string(ch.BotID)}
	for k, v := range extra {
		detail[k] = v
	}
	audit.Best(ctx, s.o.Audit, s.o.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: action, Target: string(ch.ID), Outcome: outcome,
		ClientIP: c.ClientIP, RequestID: c.RequestID, Detail: detail})
}
