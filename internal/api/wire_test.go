package api_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/idempotency"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// botConfig is what the tests vary in how bots are configured and answer.
type botConfig struct {
	// Models is the operator's allowlist; nil means the default.
	Models []string
	// Generator answers with a model; nil answers in retrieval-only mode.
	Generator conversation.Generator
	// Audit records the services' changes; nil records nothing.
	Audit audit.Recorder
	// Telegram is the fake the channels connect to; nil starts one.
	Telegram *channeltest.Telegram
	// Fetch are the egress options of fetching documents from URLs.
	Fetch egress.Options
}

// wire builds the API over s with its services, as the server does.
func wire(t *testing.T, s store.Store, cfg botConfig) *api.API {
	t.Helper()
	ks := &knowledge.Service{Store: s, Now: time.Now, FetchOptions: cfg.Fetch}
	models := cfg.Models
	if models == nil {
		models = llm.DefaultModels("")
	}
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bots, err := bot.New(bot.Options{Store: s, Knowledge: ks, Models: models, Audit: cfg.Audit, Tokens: tokens, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	conv := &conversation.Service{Store: s, Knowledge: ks, Generator: cfg.Generator, Now: time.Now, Audit: cfg.Audit}
	fake := cfg.Telegram
	if fake == nil {
		fake = channeltest.NewTelegram(t, channeltest.TelegramOptions{})
	}
	rule, err := egress.RuleForURL(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := telegram.New(telegram.Options{BaseURL: fake.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	argsKey, err := job.NewArgsKey(bytes.Repeat([]byte{7}, job.ArgsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	chans, err := channel.New(channel.Options{Store: s, Sealer: sealtest.NewKeyring(t), ArgsKey: argsKey, Platforms: []channel.Platform{tg}, PublicURL: "https://chat.example",
		Audit: cfg.Audit, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(events.Options{Store: s, ArgsKey: argsKey})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := billing.ParsePlans([]byte("products:\n  prod-pro: {name: pro, bots: 0, messages_per_month: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	bill, err := billing.New(billing.Options{Store: s, Plans: plans, Secret: secret.New("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		CheckoutURL: "https://buy.polar.sh/polar_cl_example", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &api.API{Keys: accounts, Bots: bots, Conversations: conv, Channels: chans, KeyAdmin: accounts,
		ProviderKeys: &gateway.ProviderKeys{Store: s, Audit: cfg.Audit, Now: time.Now}, Audit: audit.NewHistory(s), Idempotency: &idempotency.Keeper{Store: s},
		Events: ev, Billing: bill, Export: export.New(export.Options{Store: s, Audit: cfg.Audit, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
			Policy: exportPolicy})}
}

// exportPolicy is the default rate of exports.
var exportPolicy, _ = ratelimit.Defaults().Policy(ratelimit.ClassExport)

// discardMail is a mail.Sender that drops every message: the API sends
// none.
type discardMail struct{}

func (discardMail) Send(context.Context, mail.Message) error { return nil }

// testTokenKey keys the stored hashes of session and one-time tokens.
func testTokenKey(t *testing.T) *auth.TokenKey {
	t.Helper()
	k, err := auth.NewTokenKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
