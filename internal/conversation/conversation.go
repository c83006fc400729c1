package conversation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// Limits and defaults.
const (
	// MaxMessage is the cap on an inbound message, in characters (R5).
	MaxMessage = 4000
	// MaxExternalID bounds a channel's user or chat id.
	MaxExternalID          = 128
	DefaultHistoryMessages = 20
	// DefaultHistoryTokens is the history budget, estimated at four
	// characters a token.
	DefaultHistoryTokens = 3000
)

// Answer modes.
const (
	ModeRetrievalOnly = "retrieval_only"
	ModeGenerated     = "generated"
)

// ExternalIDCharset is what a channel's user or chat id may contain: enough
// for every supported platform's ids (numbers, Slack's U0123ABC, e-mail-like
// handles), nothing that could break the conversation key apart.
const ExternalIDCharset validate.Charset = validate.Alphanumeric + "-_.@+"

// Turn is one earlier message of the conversation.
type Turn struct {
	Role    string // palisade.MessageUser or palisade.MessageAssistant
	Content string
}

// Request is what a Generator gets: the bot (its system prompt, model and
// limits), the history, the new message and the retrieved passages. Build
// the provider's prompt with BuildPrompt, which keeps user and retrieved
// text out of the system prompt.
type Request struct {
	Bot     palisade.Bot
	History []Turn
	Message string
	Sources []knowledge.Source
	// OnDelta, when set, asks for the answer as a stream: it gets each
	// piece as it arrives. An error after some pieces means no answer;
	// nothing of it is stored.
	OnDelta func(string) error
}

// Generated is a generator's answer.
type Generated struct {
	Text      string
	TokensIn  int64
	TokensOut int64
}

// Generator writes the answer to a message; the LLM gateway implements it.
// An error means no answer: nothing of it is stored.
type Generator interface {
	Generate(ctx context.Context, req Request) (Generated, error)
}

// GeneratorFunc adapts a function to Generator.
type GeneratorFunc func(ctx context.Context, req Request) (Generated, error)

func (f GeneratorFunc) Generate(ctx context.Context, req Request) (Generated, error) {
	return f(ctx, req)
}

// Retriever finds a bot's passages for a question; *knowledge.Service is
// one.
type Retriever interface {
	Retrieve(ctx context.Context, scope palisade.Scope, bot palisade.BotID, question string, k int) ([]knowledge.Source, error)
}

// Store is what the service needs of the store.
type Store interface {
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	OpenConversation(ctx context.Context, scope palisade.Scope, p store.OpenConversationParams) (palisade.Conversation, error)
	AppendMessage(ctx context.Context, scope palisade.Scope, p store.AppendMessageParams) (palisade.Message, error)
	ListMessages(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, limit int) ([]palisade.Message, error)
	FindMessageByRef(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, role, ref string) (palisade.Message, error)
	PlaceholderNumber(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, kind string, mac []byte) (int, error)
	GetConversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error)
	store.ConversationListing
}

// Service answers inbound messages.
type Service struct {
	Store     Store
	Knowledge Retriever
	// Generator answers with a language model; nil answers in
	// retrieval-only mode.
	Generator Generator
	Now       func() time.Time
	// HistoryMessages and HistoryTokens bound the history handed to the
	// generator; zero means the defaults.
	HistoryMessages, HistoryTokens int
	// TopK is how many passages are retrieved; zero means
	// knowledge.DefaultTopK.
	TopK int
	// Audit records deletions; nil records nothing. Logger reports a
	// record that could not be written; nil discards.
	Audit  audit.Recorder
	Logger *slog.Logger
	// Quota, when set, may refuse a new message beyond the workspace's
	// plan (*billing.Service; nil allows every message). A retried
	// delivery already stored is not counted again.
	Quota Quota
	// Events, when set, is told of each message received and reply
	// stored; what it does with them never fails the answer.
	Events palisade.EventSink
	// PIIKey (a key derived from the master key) keys, for bots that
	// redact before storage, the hashes that stand in for personal data:
	// each redacted value's hash, by which the store numbers its
	// placeholder alike in every message of a conversation, and the user
	// and chat ids that carry a phone number or e-mail address. Without
	// it, placeholders are numbered per request and ids stored as given.
	PIIKey []byte
}

// Quota says whether the workspace's plan allows one more message.
type Quota interface {
	AllowMessage(ctx context.Context, scope palisade.Scope) error
}

// Inbound is one message from a user.
type Inbound struct {
	BotID   palisade.BotID
	Channel string // "api", "telegram", "widget", …
	UserID  string // the channel's id of the sender
	// ChatID is set for a group chat: the conversation is the group's.
	ChatID string
	Text   string
	// InboundRef is the channel's delivery id, stored with the user's
	// message and the reply, so a retried delivery is stored once and,
	// once answered, never answered (nor sent to the provider) again; may
	// be empty.
	InboundRef string
	// OnDelta, when set, streams the answer (see Request.OnDelta).
	OnDelta func(string) error
	// ClientHistory says the client holds the conversation, as a stateless
	// API's client does: History, oldest first, is what the generator gets
	// as the earlier turns (bounded by the same budgets as a stored
	// history), and the stored history is not read. The exchange is still
	// stored.
	ClientHistory bool
	History       []Turn
}

// Validate checks an inbound message: field names are the API's.
func (in Inbound) Validate() error {
	if err := validate.Slug("channel", in.Channel, 32); err != nil {
		return err
	}
	if err := validate.Token("user_id", in.UserID, ExternalIDCharset, 1, MaxExternalID); err != nil {
		return err
	}
	if in.ChatID != "" {
		if err := validate.Token("chat_id", in.ChatID, ExternalIDCharset, 1, MaxExternalID); err != nil {
			return err
		}
	}
	if strings.TrimSpace(in.Text) == "" {
		return palisade.FieldError("message", "message must not be empty")
	}
	if utf8.RuneCountInString(in.Text) > MaxMessage {
		return palisade.FieldError("message", "message must be at most %d characters", MaxMessage)
	}
	return validate.Text("message", in.Text, MaxMessage)
}

// Key returns the conversation key of an inbound message: one per bot,
// channel and user, or per bot, channel and group. Its parts are validated
// first and cannot contain ':', so no key can be made to look like another.
func (in Inbound) Key() string {
	if in.ChatID != "" {
		return "agent:" + string(in.BotID) + ":" + in.Channel + ":group:" + in.ChatID
	}
	return "agent:" + string(in.BotID) + ":" + in.Channel + ":dm:" + in.UserID
}

// Reply is the stored answer to an inbound message.
type Reply struct {
	ConversationID palisade.ConversationID
	MessageID      palisade.MessageID
	Text           string
	Sources        []knowledge.Source
	Mode           string
	// Replayed is true when the inbound reference was already answered:
	// the stored reply is returned and nothing was generated.
	Replayed bool
	// TokensIn and TokensOut are the model's usage as the provider
	// reported it; zero in retrieval-only mode, where no model runs.
	TokensIn, TokensOut int64
}

// Handle answers one inbound message and stores both it and the reply.
func (s *Service) Handle(ctx context.Context, scope palisade.Scope, in Inbound) (Reply, error) {
	if err := in.Validate(); err != nil {
		return Reply{}, err
	}
	// Every surface answers through here (API, OpenAI-compatible endpoint,
	// widget, channel jobs), so this one check silences a suspended
	// workspace's bots everywhere, before anything is stored or generated.
	ws, err := s.Store.GetWorkspace(ctx, scope)
	if err != nil {
		return Reply{}, fmt.Errorf("reading workspace: %w", err)
	}
	if err := ws.CheckActive(); err != nil {
		return Reply{}, err
	}
	bot, err := s.Store.GetBot(ctx, scope, in.BotID)
	if err != nil {
		return Reply{}, fmt.Errorf("reading bot: %w", err)
	}
	stored := s.identity(in, bot.PIIMode)
	conv, err := s.Store.OpenConversation(ctx, scope, store.OpenConversationParams{BotID: bot.ID, Key: stored.Key(), Channel: in.Channel,
		ExternalUser: stored.UserID, Now: s.Now()})
	if err != nil {
		return Reply{}, fmt.Errorf("opening conversation: %w", err)
	}
	userStored := false
	if in.InboundRef != "" {
		// A retried delivery: answered already means done; stored but
		// unanswered (an earlier attempt failed) means answer it now
		// without storing the message twice.
		if m, err := s.Store.FindMessageByRef(ctx, scope, conv.ID, palisade.MessageAssistant, in.InboundRef); err == nil {
			return Reply{ConversationID: conv.ID, MessageID: m.ID, Text: m.Body, Sources: replayedSources(m.Sources), Mode: ModeGenerated, Replayed: true}, nil
		} else if palisade.ErrorCode(err) != palisade.CodeNotFound {
			return Reply{}, fmt.Errorf("checking for an earlier answer: %w", err)
		}
		if _, err := s.Store.FindMessageByRef(ctx, scope, conv.ID, palisade.MessageUser, in.InboundRef); err == nil {
			userStored = true
		} else if palisade.ErrorCode(err) != palisade.CodeNotFound {
			return Reply{}, fmt.Errorf("checking for an earlier delivery: %w", err)
		}
	}
	var history []Turn
	if in.ClientHistory {
		history = s.fit(in.History)
	} else if history, err = s.history(ctx, scope, conv.ID); err != nil {
		return Reply{}, err
	}
	if userStored && !in.ClientHistory && len(history) > 0 {
		// The stored message is the newest turn; it is this message.
		history = history[:len(history)-1]
	}
	// From here on, text is what the model and the retriever see, and
	// toStore what the store keeps of the message (see privacy).
	priv := newPrivacy(bot.PIIMode, s.numbers(ctx, scope, conv.ID))
	history, text := priv.prepare(history, in.Text)
	toStore := in.Text
	if priv.mode == palisade.PIIBeforeStorage {
		toStore = text
	}
	if !userStored && s.Quota != nil {
		if err := s.Quota.AllowMessage(ctx, scope); err != nil {
			return Reply{}, err
		}
	}
	if !userStored {
		id, err := s.append(ctx, scope, conv.ID, palisade.MessageUser, toStore, in.InboundRef, Generated{})
		if err != nil {
			return Reply{}, fmt.Errorf("storing message: %w", err)
		}
		s.emit(ctx, scope, palisade.EventMessageReceived, bot.ID, in.Channel, conv.ID, id)
	}
	var sources []knowledge.Source
	if s.Knowledge != nil {
		sources, err = s.Knowledge.Retrieve(ctx, scope, bot.ID, text, s.TopK)
		if err != nil {
			return Reply{}, fmt.Errorf("retrieving passages: %w", err)
		}
	}
	reply := Reply{ConversationID: conv.ID, Sources: sources, Mode: ModeRetrievalOnly}
	var gen Generated
	if s.Generator != nil {
		gen, err = s.Generator.Generate(ctx, Request{Bot: bot, History: history, Message: text, Sources: sources, OnDelta: in.OnDelta})
		if err != nil {
			return Reply{}, fmt.Errorf("generating answer: %w", err)
		}
		reply.Mode = ModeGenerated
	} else {
		gen.Text = RetrievalAnswer(sources)
	}
	// With before_storage the reply is redacted too: a passage or the
	// model may have brought personal data into it.
	gen.Text = priv.stored(gen.Text)
	cited := make([]palisade.MessageSource, 0, len(sources))
	for _, src := range sources {
		// Excerpts are document text, which may hold personal data too.
		cited = append(cited, palisade.MessageSource{DocumentID: src.DocumentID, Title: priv.stored(src.Title), Excerpt: priv.stored(src.Excerpt)})
	}
	if err := priv.err(); err != nil {
		// Every value was still replaced; only its number is missing.
		s.logger().WarnContext(ctx, "a placeholder could not be numbered", "conversation_id", string(conv.ID), "error", err)
	}
	reply.Text, reply.TokensIn, reply.TokensOut = gen.Text, gen.TokensIn, gen.TokensOut
	if reply.MessageID, err = s.appendCited(ctx, scope, conv.ID, gen.Text, in.InboundRef, gen, cited); err != nil {
		return Reply{}, fmt.Errorf("storing reply: %w", err)
	}
	s.emit(ctx, scope, palisade.EventReplySent, bot.ID, in.Channel, conv.ID, reply.MessageID)
	return reply, nil
}

// emit tells the event sink of a message; the event names it, never
// carries its text, which stays sealed in the store.
func (s *Service) emit(ctx context.Context, scope palisade.Scope, typ string, bot palisade.BotID, channel string, conv palisade.ConversationID, msg palisade.MessageID) {
	if s.Events == nil {
		return
	}
	s.Events.Emit(ctx, scope, typ, map[string]any{"bot_id": string(bot), "channel": channel, "conversation_id": string(conv), "message_id": string(msg)})
}

// append stores one message; the store seals its body.
func (s *Service) append(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, role, body, ref string, g Generated) (palisade.MessageID, error) {
	m, err := s.Store.AppendMessage(ctx, scope, store.AppendMessageParams{ConversationID: conv, Role: role, Body: body,
		InboundRef: ref, TokensIn: g.TokensIn, TokensOut: g.TokensOut, Now: s.Now()})
	return m.ID, err
}

// appendCited stores an answer with the sources it cited; the store seals
// both, so a transcript can show what the answer rested on.
func (s *Service) appendCited(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, body, ref string, g Generated, cited []palisade.MessageSource) (palisade.MessageID, error) {
	m, err := s.Store.AppendMessage(ctx, scope, store.AppendMessageParams{ConversationID: conv, Role: palisade.MessageAssistant, Body: body,
		InboundRef: ref, TokensIn: g.TokensIn, TokensOut: g.TokensOut, Sources: cited, Now: s.Now()})
	return m.ID, err
}

// replayedSources are a stored answer's sources as a reply carries them;
// the whole passage is not kept, only its excerpt.
func replayedSources(stored []palisade.MessageSource) []knowledge.Source {
	out := make([]knowledge.Source, 0, len(stored))
	for _, s := range stored {
		out = append(out, knowledge.Source{DocumentID: s.DocumentID, Title: s.Title, Excerpt: s.Excerpt})
	}
	return out
}

// history returns the latest turns of the conversation that fit both
// budgets, oldest first.
func (s *Service) history(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID) ([]Turn, error) {
	n, budget := s.HistoryMessages, s.HistoryTokens
	if n <= 0 {
		n = DefaultHistoryMessages
	}
	if budget <= 0 {
		budget = DefaultHistoryTokens
	}
	msgs, err := s.Store.ListMessages(ctx, scope, conv, n)
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	turns := make([]Turn, 0, len(msgs))
	for _, m := range msgs {
		turns = append(turns, Turn{Role: m.Role, Content: m.Body})
	}
	return fitBudget(turns, n, budget), nil
}

// fit bounds a client's history by the service's budgets.
func (s *Service) fit(turns []Turn) []Turn {
	n, budget := s.HistoryMessages, s.HistoryTokens
	if n <= 0 {
		n = DefaultHistoryMessages
	}
	if budget <= 0 {
		budget = DefaultHistoryTokens
	}
	return fitBudget(turns, n, budget)
}

// fitBudget keeps the latest of turns (oldest first) that fit both n
// messages and budget estimated tokens, oldest first: the newest turn that
// does not fit ends the history there.
func fitBudget(turns []Turn, n, budget int) []Turn {
	start, used := len(turns), 0
	for i := len(turns) - 1; i >= 0 && len(turns)-i <= n; i-- {
		cost := EstimateTokens(turns[i].Content)
		if used+cost > budget {
			break
		}
		used += cost
		start = i
	}
	return turns[start:]
}

// EstimateTokens is a provider-neutral estimate: about four characters a
// token, never zero for non-empty text.
func EstimateTokens(s string) int {
	return (utf8.RuneCountInString(s) + 3) / 4
}
