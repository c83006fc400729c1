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
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/ratelimit"
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
}

// wire builds the API over s with its services, as the server does.
func wire(t *testing.T, s store.Store, cfg botConfig) *api.API {
	t.Helper()
	ks := &knowledge.Service{Store: s, Now: time.Now}
	models := cfg.Models
	if models == nil {
		models = llm.DefaultModels("")
	}
	bots, err := bot.New(bot.Options{Store: s, Knowledge: ks, Models: models, Audit: cfg.Audit, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	conv := &conversation.Service{Store: s, Knowledge: ks, Generator: cfg.Generator, Now: time.Now}
	accounts, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &api.API{Keys: accounts, Bots: bots, Conversations: conv}
}

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
