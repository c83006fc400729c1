package conversation

import (
	"context"
	"fmt"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ListParams filter and page a conversation listing.
type ListParams = store.ListConversationsParams

// Cursor is a position in a conversation listing.
type Cursor = store.ConversationCursor

// Conversations lists the workspace's conversations newest first, one
// keyset page at a time (store.ListConversations).
func (s *Service) Conversations(ctx context.Context, scope palisade.Scope, p store.ListConversationsParams) ([]palisade.Conversation, error) {
	return s.Store.ListConversations(ctx, scope, p)
}

// Conversation returns one conversation of the workspace.
func (s *Service) Conversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error) {
	return s.Store.GetConversation(ctx, scope, id)
}

// Transcript returns a page of a conversation's messages after the
// sequence number afterSeq, oldest first. A conversation not in the scope
// is not found, even when the page would be empty.
func (s *Service) Transcript(ctx context.Context, scope palisade.Scope, id palisade.ConversationID, afterSeq int64, limit int) ([]palisade.Message, error) {
	if _, err := s.Store.GetConversation(ctx, scope, id); err != nil {
		return nil, err
	}
	return s.Store.ListMessagesAfter(ctx, scope, id, afterSeq, limit)
}

// DeleteConversation removes a conversation and its messages.
func (s *Service) DeleteConversation(ctx context.Context, c palisade.Caller, id palisade.ConversationID) error {
	if err := s.Store.DeleteConversation(ctx, c.Scope, id); err != nil {
		return err
	}
	audit.Best(ctx, s.Audit, s.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: audit.ActionConversationDeleted, Target: string(id),
		Outcome: audit.OutcomeSuccess, ClientIP: c.ClientIP, RequestID: c.RequestID})
	return nil
}

// ErrNotAPIConversation refuses a message sent by id into a conversation
// that a chat platform's user holds: only the platform speaks for them.
var ErrNotAPIConversation = palisade.Errorf(palisade.CodeConflict, "messages can be sent only into conversations of the %q channel", ChannelAPI)

// ChannelAPI is the channel of conversations held through the REST API.
const ChannelAPI = "api"

// Continue answers a message sent into an existing conversation of the
// API channel, as its own user: the same turn Handle takes, found by the
// conversation's id rather than by its user id.
func (s *Service) Continue(ctx context.Context, scope palisade.Scope, id palisade.ConversationID, text string, onDelta func(string) error) (Reply, error) {
	c, err := s.Store.GetConversation(ctx, scope, id)
	if err != nil {
		return Reply{}, err
	}
	in := Inbound{BotID: c.BotID, Channel: c.Channel, UserID: c.ExternalUser, Text: text, OnDelta: onDelta}
	if c.Channel != ChannelAPI || in.Key() != c.Key {
		return Reply{}, ErrNotAPIConversation
	}
	r, err := s.Handle(ctx, scope, in)
	if err != nil {
		return Reply{}, err
	}
	if r.ConversationID != id {
		return Reply{}, fmt.Errorf("conversation %s answered in %s", id, r.ConversationID)
	}
	return r, nil
}
