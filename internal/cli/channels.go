package cli

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/channel/slack"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/discordgateway"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// channels is the chat channels as the process runs them.
type channels struct {
	service    *channel.Service
	rejections *channel.Rejections
	metrics    channelMetrics
	// discord is the Discord adapter, nil when disabled; its bots'
	// Gateway sessions run beside the job workers.
	discord *discord.Platform
}

// channelMetrics count webhook refusals by channel kind and reason,
// accepted messages, and reply outcomes: bounded labels only, never a bot
// id.
type channelMetrics struct {
	refused  func(kind string, reason channel.Reason)
	accepted func(kind string, accepted, duplicates int)
	replied  func(kind, outcome string)
}

// newChannels builds every platform adapter the egress policy lets
// through and the channel service over them. A platform API URL the
// operator set explicitly must be allowed by the policy, or start-up
// fails; the official URL, when a custom policy leaves it out, only
// disables that platform, loudly.
func newChannels(cfg config.Config, env *Env, logger *slog.Logger, s store.Store, sealer store.Sealer, jobKey *job.ArgsKey, out *egress.Client,
	policy *egress.Policy, rec audit.Recorder, reg *prometheus.Registry, ev palisade.EventSink) (channels, error) {
	m, err := newChannelMetrics(reg)
	if err != nil {
		return channels{}, err
	}
	var platforms []channel.Platform
	for _, pl := range []struct {
		flag, url, official, name, api string
		check                          func(*egress.Policy, string) error
		build                          func() (channel.Platform, error)
	}{
		{"telegram-api-url", cfg.TelegramAPIURL, config.DefaultTelegramAPIURL, "Telegram", "the Bot API", telegram.CheckPolicy, func() (channel.Platform, error) {
			return telegram.New(telegram.Options{BaseURL: cfg.TelegramAPIURL, Client: out})
		}},
		{"whatsapp-api-url", cfg.WhatsAppAPIURL, config.DefaultWhatsAppAPIURL, "WhatsApp", "the Graph API", whatsapp.CheckPolicy, func() (channel.Platform, error) {
			return whatsapp.New(whatsapp.Options{BaseURL: cfg.WhatsAppAPIURL, Client: out, Now: env.Now})
		}},
		{"slack-api-url", cfg.SlackAPIURL, config.DefaultSlackAPIURL, "Slack", "the Web API", slack.CheckPolicy, func() (channel.Platform, error) {
			return slack.New(slack.Options{BaseURL: cfg.SlackAPIURL, Client: out})
		}},
	} {
		p, err := platformAllowed(logger, policy, pl.flag, pl.url, pl.official, pl.name, pl.api, pl.check, pl.build)
		if err != nil {
			return channels{}, err
		}
		if p != nil {
			platforms = append(platforms, p)
		}
	}
	dc, err := newDiscord(cfg, logger, out, policy, env)
	if err != nil {
		return channels{}, err
	}
	if dc != nil {
		platforms = append(platforms, dc)
	}
	rej := channel.NewRejections(rec, logger, env.Now)
	svc, err := channel.New(channel.Options{Store: s, Sealer: sealer, ArgsKey: jobKey, Platforms: platforms, PublicURL: cfg.BaseURL(), Audit: rec,
		Logger: logger, Now: env.Now, Rejections: rej, OnReply: m.replied, Events: ev})
	if err != nil {
		return channels{}, err
	}
	return channels{service: svc, rejections: rej, metrics: m, discord: dc}, nil
}

// platformAllowed builds one platform's adapter when the egress policy
// allows the calls it makes at url. A URL the operator set that the policy
// refuses stops the start, naming its flag; the official one left out of a
// custom policy only disables the platform, with a warning.
func platformAllowed(logger *slog.Logger, policy *egress.Policy, flag, url, official, name, api string, check func(*egress.Policy, string) error,
	build func() (channel.Platform, error)) (channel.Platform, error) {
	if err := check(policy, url); err != nil {
		if url != official {
			return nil, fmt.Errorf("%w: --%s: %v", ErrUsage, flag, err)
		}
		logger.Warn(name+" channels are disabled: the egress policy does not allow "+api, "err", err)
		return nil, nil
	}
	p, err := build()
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: %v", ErrUsage, flag, err)
	}
	return p, nil
}

// newDiscord builds the Discord adapter when the egress policy allows its
// REST API (and a configured Gateway URL); nil when a custom policy
// leaves the official API out.
func newDiscord(cfg config.Config, logger *slog.Logger, out *egress.Client, policy *egress.Policy, env *Env) (*discord.Platform, error) {
	if err := discord.CheckPolicy(policy, cfg.DiscordAPIURL); err != nil {
		if cfg.DiscordAPIURL != config.DefaultDiscordAPIURL {
			return nil, fmt.Errorf("%w: --discord-api-url: %v", ErrUsage, err)
		}
		logger.Warn("Discord channels are disabled: the egress policy does not allow its REST API", "err", err)
		return nil, nil
	}
	if cfg.DiscordGatewayURL != "" {
		if err := discordgateway.CheckPolicy(policy, cfg.DiscordGatewayURL); err != nil {
			return nil, fmt.Errorf("%w: --discord-gateway-url: %v", ErrUsage, err)
		}
	}
	dc, err := discord.New(discord.Options{BaseURL: cfg.DiscordAPIURL, Client: out, Now: env.Now})
	if err != nil {
		return nil, fmt.Errorf("%w: --discord-api-url: %v", ErrUsage, err)
	}
	return dc, nil
}

func newChannelMetrics(reg *prometheus.Registry) (channelMetrics, error) {
	kinds := []string{channel.KindTelegram, channel.KindWhatsApp, channel.KindSlack, channel.KindDiscord}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_webhook_refusals_total",
		Help: "Inbound webhook requests refused, by channel kind and reason."}, []string{"channel", "reason"})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_webhook_messages_total",
		Help: "Inbound messages accepted by webhooks, by channel kind and whether they were new or duplicates."}, []string{"channel", "outcome"})
	replies := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_channel_replies_total",
		Help: "Reply parts sent to chat platforms, by channel kind and outcome."}, []string{"channel", "outcome"})
	for _, k := range kinds {
		for _, r := range channel.Reasons() {
			refused.WithLabelValues(k, string(r))
		}
		messages.WithLabelValues(k, "new")
		messages.WithLabelValues(k, "duplicate")
		for _, o := range []string{"sent", "resent", "retried", "rate_limited", "failed", "refused"} {
			replies.WithLabelValues(k, o)
		}
	}
	for _, c := range []prometheus.Collector{refused, messages, replies} {
		if err := reg.Register(c); err != nil {
			return channelMetrics{}, fmt.Errorf("registering channel metrics: %w", err)
		}
	}
	known := map[string]bool{}
	for _, k := range kinds {
		known[k] = true
	}
	// Only known kinds become label values; the webhook routes are made
	// from them, so nothing else can arrive, but the set stays bounded
	// whatever a caller passes.
	label := func(kind string) string {
		if known[kind] {
			return kind
		}
		return "other"
	}
	return channelMetrics{
		refused: func(kind string, reason channel.Reason) { refused.WithLabelValues(label(kind), string(reason)).Inc() },
		accepted: func(kind string, n, dup int) {
			messages.WithLabelValues(label(kind), "new").Add(float64(n))
			messages.WithLabelValues(label(kind), "duplicate").Add(float64(dup))
		},
		replied: func(kind, outcome string) { replies.WithLabelValues(label(kind), outcome).Inc() },
	}, nil
}

// newDiscordGateway builds the runner of the Discord bots' Gateway
// sessions, for a process that runs jobs; nil when Discord is disabled.
func newDiscordGateway(cfg config.Config, logger *slog.Logger, s store.Store, ch channels, out *egress.Client, env *Env) (*discordgateway.Runner, error) {
	if ch.discord == nil {
		return nil, nil
	}
	return discordgateway.New(discordgateway.Options{Store: s, Channels: ch.service, REST: ch.discord, Client: out, GatewayURL: cfg.DiscordGatewayURL,
		OnMessage: func(fresh bool) {
			if fresh {
				ch.metrics.accepted(channel.KindDiscord, 1, 0)
			} else {
				ch.metrics.accepted(channel.KindDiscord, 0, 1)
			}
		},
		Logger: logger.With("component", "discord-gateway"), Now: env.Now})
}
