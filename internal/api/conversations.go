package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sse"
	"github.com/palisadehq/palisade/internal/validate"
)

// conversationJSON is a conversation as the API shows it.
type conversationJSON struct {
	ID            palisade.ConversationID `json:"id"`
	BotID         palisade.BotID          `json:"bot_id"`
	Channel       string                  `json:"channel"`
	UserID        string                  `json:"user_id"`
	CreatedAt     time.Time               `json:"created_at"`
	LastMessageAt time.Time               `json:"last_message_at"`
}

func toConversationJSON(c palisade.Conversation) conversationJSON {
	return conversationJSON{ID: c.ID, BotID: c.BotID, Channel: c.Channel, UserID: c.ExternalUser, CreatedAt: c.CreatedAt, LastMessageAt: c.LastMessageAt}
}

// messageJSON is one message of a transcript.
type messageJSON struct {
	ID   palisade.MessageID `json:"id"`
	Seq  int64              `json:"seq"`
	Role string             `json:"role"`
	Text string             `json:"text"`
	// Sources are the passages an answer cited, as stored with it; empty
	// for a question.
	Sources   []sourceJSON `json:"sources"`
	CreatedAt time.Time    `json:"created_at"`
}

func toMessageJSON(m palisade.Message) messageJSON {
	out := messageJSON{ID: m.ID, Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: make([]sourceJSON, 0, len(m.Sources)), CreatedAt: m.CreatedAt}
	for _, s := range m.Sources {
		out.Sources = append(out.Sources, sourceJSON{Title: s.Title, Excerpt: s.Excerpt})
	}
	return out
}

func conversationID(r *http.Request) palisade.ConversationID {
	return palisade.ConversationID(r.PathValue("conversationId"))
}

// listConversations lists the workspace's conversations newest first,
// filtered by bot_id, channel, and since/until (the last message's time),
// checking every parameter before any query.
func (a *API) listConversations(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "conversations", palisade.PrefixConversation)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := conversation.ListParams{Limit: page.Limit + 1, Channel: q.Get("channel")}
	if v := q.Get("bot_id"); v != "" {
		if !palisade.ValidID(palisade.PrefixBot, v) {
			return palisade.FieldError("bot_id", "bot_id is not a bot id")
		}
		p.BotID = palisade.BotID(v)
	}
	if p.Channel != "" {
		if err := validate.Slug("channel", p.Channel, 32); err != nil {
			return err
		}
	}
	if p.Since, err = timeParam(r, "since"); err != nil {
		return err
	}
	if p.Until, err = timeParam(r, "until"); err != nil {
		return err
	}
	if page.After != nil {
		p.After = &conversation.Cursor{CreatedAt: page.After.Time, ID: palisade.ConversationID(page.After.ID)}
	}
	list, err := a.Conversations.Conversations(r.Context(), scope(r), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, storePage(page, list, func(c palisade.Conversation) cursor {
		return cursor{List: "conversations", Time: c.CreatedAt, ID: string(c.ID)}
	}, toConversationJSON))
}

func (a *API) getConversation(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Conversations.Conversation(r.Context(), scope(r), conversationID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toConversationJSON(c))
}

// listMessages is a conversation's transcript, oldest first.
func (a *API) listMessages(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "messages", "")
	if err != nil {
		return err
	}
	after := int64(0)
	if page.After != nil {
		after = page.After.Seq
	}
	list, err := a.Conversations.Transcript(r.Context(), scope(r), conversationID(r), after, page.Limit+1)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, storePage(page, list, func(m palisade.Message) cursor {
		return cursor{List: "messages", Seq: m.Seq}
	}, toMessageJSON))
}

func (a *API) deleteConversation(w http.ResponseWriter, r *http.Request) error {
	if err := a.Conversations.DeleteConversation(r.Context(), caller(r), conversationID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// messageInput is the body of POST /api/v1/conversations/{id}/messages.
type messageInput struct {
	Message string `json:"message"`
	// Stream answers as server-sent events, as /chat does.
	Stream bool `json:"stream"`
}

// sendMessage sends a message into an existing conversation of the API
// channel and answers it: the same turn as POST /bots/{botId}/chat with
// that conversation's user_id, addressed by the conversation's id. /chat
// starts or continues the conversation of a user id the client chooses;
// this route continues one the client has listed or was given.
func (a *API) sendMessage(w http.ResponseWriter, r *http.Request) error {
	var in messageInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	if !in.Stream {
		reply, err := a.Conversations.Continue(r.Context(), scope(r), conversationID(r), in.Message, nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, toChatJSON(reply))
	}
	events := sse.NewWriter(w)
	reply, err := a.Conversations.Continue(r.Context(), scope(r), conversationID(r), in.Message, func(d string) error {
		return events.Send("delta", map[string]string{"text": d})
	})
	if err != nil && !events.Started() {
		return err
	}
	if err != nil {
		return events.Send("error", httpx.PublicError(r.Context(), err))
	}
	return events.Send("done", toChatJSON(reply))
}
