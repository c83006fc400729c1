package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Conversations stores conversations, keyed per bot, channel and user or
// group (agent:{botId}:{channel}:dm:{userId}), and their messages in order.
// Message bodies arrive here already sealed: the store never sees plaintext
// by contract and never interprets the bytes.
type Conversations interface {
	// OpenConversation returns the conversation of the key, creating it on
	// first use. It returns ErrNotFound when the bot is not in the scope.
	OpenConversation(ctx context.Context, scope palisade.Scope, p OpenConversationParams) (palisade.Conversation, error)
	GetConversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error)
	// AppendMessage adds a message at the end of its conversation and moves
	// the conversation's last-message time. A second message of the same
	// role with the same non-empty inbound reference in one conversation is
	// ErrConflict, so a retried delivery is never stored twice.
	AppendMessage(ctx context.Context, scope palisade.Scope, p AppendMessageParams) (palisade.Message, error)
	// ListMessages returns the last limit messages of a conversation,
	// oldest first.
	ListMessages(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, limit int) ([]palisade.Message, error)
	// FindMessageByRef returns the message of a role stored for an inbound
	// reference, or ErrNotFound: how a retried delivery learns it was
	// already answered.
	FindMessageByRef(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, role, ref string) (palisade.Message, error)
	// PlaceholderNumber returns the number of a redacted value of kind in
	// the conversation, known by mac (a keyed hash of the value; the
	// value itself is never given), assigning the next number of the
	// kind to a mac not seen before.
	PlaceholderNumber(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, kind string, mac []byte) (int, error)
}

type OpenConversationParams struct {
	BotID        palisade.BotID
	Key          string
	Channel      string
	ExternalUser string
	Now          time.Time
}

type AppendMessageParams struct {
	// ID is the message id; empty picks a fresh one. Callers that seal the
	// body with the id bound in choose it first.
	ID             palisade.MessageID
	ConversationID palisade.ConversationID
	Role           string
	Body           string
	InboundRef     string
	TokensIn       int64
	TokensOut      int64
	// Sources are sealed like the body; none stores NULL.
	Sources []palisade.MessageSource
	Now     time.Time
}
