package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// testChannels covers what chat channels need beyond sealing: one channel
// of each kind per bot, updates and deletion in the scope only, and the
// webhook lookup by bot id and kind, which sees exactly that channel with
// its secret opened, in one query.
func testChannels(t *testing.T, open Opener) {
	var queries atomic.Int64
	s := open(t, store.Options{Sealer: newKeyring(t), QueryHook: func(string) { queries.Add(1) }})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot, botB := mustBot(t, s, a, "a"), mustBot(t, s, b, "b")
	const token, sec = "7012345678:AAHchannelsTestToken_0123456789abc", "secret-token-of-channel-A"

	c, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Credentials: secret.New(token),
		Secret: secret.New(sec), Status: "pending", Now: t0})
	if err != nil || c.Status != "pending" {
		t.Fatalf("CreateChannel = %+v, %v", c, err)
	}
	_, err = s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Now: t0})
	wantErr(t, err, store.ErrConflict, "a second telegram channel on the same bot")
	if _, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "slack", Now: t0}); err != nil {
		t.Fatalf("a channel of another kind on the same bot: %v", err)
	}
	if d, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "widget", Now: t0}); err != nil || d.Status != "active" {
		t.Fatalf("a channel without a status = %+v, %v; want active", d, err)
	}

	// Updates change the fields given, in the scope only.
	name, cfg, status := "@helper_bot", `{"username":"helper_bot"}`, "active"
	_, err = s.UpdateChannel(ctx(t), b, c.ID, store.UpdateChannelParams{Status: &status, Now: t0})
	wantErr(t, err, store.ErrNotFound, "UpdateChannel from another workspace")
	later := t0.Add(time.Minute)
	u, err := s.UpdateChannel(ctx(t), a, c.ID, store.UpdateChannelParams{Name: &name, Config: &cfg, Status: &status, Now: later})
	if err != nil || u.Name != name || u.Config != cfg || u.Status != status || u.ExternalID != "" || !u.UpdatedAt.Equal(later) || !u.HasSecret {
		t.Fatalf("UpdateChannel = %+v, %v", u, err)
	}
	ext := "7012345678"
	if u, err := s.UpdateChannel(ctx(t), a, c.ID, store.UpdateChannelParams{ExternalID: &ext, Now: later}); err != nil || u.ExternalID != ext || u.Name != name || u.Status != status {
		t.Fatalf("UpdateChannel of one field = %+v, %v", u, err)
	}

	// The webhook lookup: by bot and kind alone, one query, the secret
	// opened, nothing of other kinds or bots.
	before := queries.Load()
	w, err := s.LookupWebhookChannel(ctx(t), bot.ID, "telegram")
	if err != nil || w.Channel.ID != c.ID || w.Channel.WorkspaceID != a.Workspace() || w.Channel.ExternalID != ext || w.Secret.Reveal() != sec {
		t.Fatalf("LookupWebhookChannel = %+v, %v", w.Channel, err)
	}
	if n := queries.Load() - before; n != 1 {
		t.Fatalf("LookupWebhookChannel ran %d queries, want 1", n)
	}
	if w, err := s.LookupWebhookChannel(ctx(t), bot.ID, "slack"); err != nil || !w.Secret.IsZero() || w.Channel.Kind != "slack" {
		t.Fatalf("lookup of a channel without a secret = %+v, %v", w, err)
	}
	for _, miss := range []struct {
		bot  palisade.BotID
		kind string
	}{{bot.ID, "discord"}, {botB.ID, "telegram"}, {palisade.NewBotID(), "telegram"}} {
		if _, err := s.LookupWebhookChannel(ctx(t), miss.bot, miss.kind); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lookup of %s %s: %v, want not found", miss.kind, miss.bot, err)
		}
	}

	wantErr(t, s.DeleteChannel(ctx(t), b, c.ID), store.ErrNotFound, "DeleteChannel from another workspace")
	if err := s.DeleteChannel(ctx(t), a, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteChannel(ctx(t), a, c.ID), store.ErrNotFound, "a second DeleteChannel")
	if _, err := s.LookupWebhookChannel(ctx(t), bot.ID, "telegram"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
	// Deleted, the kind is free again.
	if _, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Now: t0}); err != nil {
		t.Fatalf("reconnecting after delete: %v", err)
	}
}

// testReplies: a reply part is pending after BeginReply, sent after
// FinishReply and then never begins again; an aborted part starts clean;
// another workspace shares nothing; old records are pruned.
func testReplies(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "a")
	p := store.ReplyPart{BotID: bot.ID, Source: "telegram", Ref: "100000001", Part: 0}

	st, err := s.BeginReply(ctx(t), a, p, t0)
	if err != nil || st != store.ReplyNew {
		t.Fatalf("first BeginReply = %q, %v", st, err)
	}
	if st, err := s.BeginReply(ctx(t), a, p, t0); err != nil || st != store.ReplyPending {
		t.Fatalf("BeginReply of a pending part = %q, %v", st, err)
	}
	if st, err := s.BeginReply(ctx(t), b, p, t0); err != nil || st != store.ReplyNew {
		t.Fatalf("the same part in another workspace = %q, %v", st, err)
	}
	wantErr(t, s.FinishReply(ctx(t), a, store.ReplyPart{BotID: bot.ID, Source: "telegram", Ref: "other", Part: 0}, t0), store.ErrNotFound,
		"FinishReply of a part never begun")
	if err := s.FinishReply(ctx(t), a, p, t0); err != nil {
		t.Fatal(err)
	}
	if st, err := s.BeginReply(ctx(t), a, p, t0); err != nil || st != store.ReplySent {
		t.Fatalf("BeginReply of a sent part = %q, %v", st, err)
	}
	// A sent part is not forgotten by an abort.
	if err := s.AbortReply(ctx(t), a, p); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.BeginReply(ctx(t), a, p, t0); st != store.ReplySent {
		t.Fatalf("an abort forgot a sent part: %q", st)
	}
	// A pending part the platform refused starts clean.
	p1 := p
	p1.Part = 1
	if st, _ := s.BeginReply(ctx(t), a, p1, t0); st != store.ReplyNew {
		t.Fatalf("part 1 = %q", st)
	}
	if err := s.AbortReply(ctx(t), a, p1); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.BeginReply(ctx(t), a, p1, t0); st != store.ReplyNew {
		t.Fatalf("part 1 after an abort = %q, want new", st)
	}

	// Records older than the dedupe TTL go with the dedupe records.
	old := store.ReplyPart{BotID: bot.ID, Source: "telegram", Ref: "old", Part: 0}
	if _, err := s.BeginReply(ctx(t), a, old, t0.Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneExpired(ctx(t), t0, 48*time.Hour); err != nil || n != 1 {
		t.Fatalf("PruneExpired = %d, %v; want the one old reply record", n, err)
	}
	if st, _ := s.BeginReply(ctx(t), a, old, t0); st != store.ReplyNew {
		t.Fatalf("the old record survived pruning: %q", st)
	}
	if st, _ := s.BeginReply(ctx(t), a, p, t0); st != store.ReplySent {
		t.Fatalf("a recent record was pruned: %q", st)
	}
}

// orderArgs are queued job arguments naming a conversation the way inbound
// jobs do.
type orderArgs struct {
	Workspace string `json:"workspace"`
	BotID     string `json:"bot_id"`
	Channel   string `json:"channel"`
	UserID    string `json:"user_id"`
	ChatID    string `json:"chat_id,omitempty"`
	Ref       string `json:"ref"`
}

func (orderArgs) Kind() string { return "storetest_reply_order" }

// testReplyOrdering: a queued job of the same conversation (the same user
// in a direct chat, anyone in the same group) inserted earlier holds a
// reply back; a later one, another conversation, bot, channel or
// workspace does not.
func testReplyOrdering(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "a")
	other := mustBot(t, s, a, "other")
	for _, args := range []orderArgs{
		{Workspace: string(a.Workspace()), BotID: string(bot.ID), Channel: "telegram", UserID: "u1", Ref: "1"},
		{Workspace: string(a.Workspace()), BotID: string(bot.ID), Channel: "telegram", UserID: "u2", ChatID: "g1", Ref: "2"},
	} {
		if err := s.Jobs().Enqueue(ctx(t), args); err != nil {
			t.Fatal(err)
		}
	}
	const later, earliest = int64(1) << 62, int64(0)
	kind := orderArgs{}.Kind()
	for _, c := range []struct {
		name  string
		scope palisade.Scope
		o     store.ReplyOrder
		want  bool
	}{
		{"same user, direct chat", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u1"}, true},
		{"nothing earlier", a, store.ReplyOrder{Kind: kind, JobID: earliest, BotID: bot.ID, Channel: "telegram", UserID: "u1"}, false},
		{"another user", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u9"}, false},
		{"another user in the same group", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u3", ChatID: "g1"}, true},
		{"another group", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u2", ChatID: "g2"}, false},
		{"the group member in a direct chat", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u2"}, false},
		{"another bot", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: other.ID, Channel: "telegram", UserID: "u1"}, false},
		{"another channel", a, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "slack", UserID: "u1"}, false},
		{"another workspace", b, store.ReplyOrder{Kind: kind, JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u1"}, false},
		{"another kind", a, store.ReplyOrder{Kind: "other_kind", JobID: later, BotID: bot.ID, Channel: "telegram", UserID: "u1"}, false},
	} {
		got, err := s.EarlierReplyPending(ctx(t), c.scope, c.o)
		if err != nil || got != c.want {
			t.Errorf("%s: EarlierReplyPending = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := s.EarlierReplyPending(ctx(t), palisade.Scope{}, store.ReplyOrder{Kind: kind, JobID: later}); err == nil {
		t.Error("EarlierReplyPending without a scope: no error")
	}
}
