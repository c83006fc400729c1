package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sse"
)

// ChatChannel is the channel name of messages sent through the API; their
// conversations are keyed agent:{botId}:api:dm:{user_id}.
const ChatChannel = "api"

// chatInput is the body of POST /api/v1/bots/{botId}/chat.
type chatInput struct {
	UserID  string `json:"user_id"`
	Message string `json:"message"`
	// Stream answers as server-sent events: "delta" events with the text
	// as it is generated, then "done" with the whole reply, or "error".
	Stream bool `json:"stream"`
}

type sourceJSON struct {
	Title   string `json:"title"`
	Excerpt string `json:"excerpt"`
}

type chatJSON struct {
	Reply          string                  `json:"reply"`
	Sources        []sourceJSON            `json:"sources"`
	ConversationID palisade.ConversationID `json:"conversation_id"`
	Mode           string                  `json:"mode"`
}

func (a *API) chat(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var in chatInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	inbound := conversation.Inbound{BotID: palisade.BotID(r.PathValue("botId")), Channel: ChatChannel, UserID: in.UserID, Text: in.Message}
	if in.Stream {
		return a.chatStream(w, r, p, inbound)
	}
	reply, err := a.Conversations.Handle(r.Context(), p.Scope, inbound)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toChatJSON(reply))
}

func toChatJSON(reply conversation.Reply) chatJSON {
	out := chatJSON{Reply: reply.Text, Sources: make([]sourceJSON, 0, len(reply.Sources)), ConversationID: reply.ConversationID, Mode: reply.Mode}
	for _, s := range reply.Sources {
		out.Sources = append(out.Sources, sourceJSON{Title: s.Title, Excerpt: s.Excerpt})
	}
	return out
}

// chatStream answers as server-sent events. Refusals before the first
// piece of text are ordinary error responses; a failure after it is an
// "error" event carrying only what httpx.PublicError leaves of it, and
// nothing of the partial answer is stored.
func (a *API) chatStream(w http.ResponseWriter, r *http.Request, p Principal, in conversation.Inbound) error {
	events := sse.NewWriter(w)
	in.OnDelta = func(d string) error {
		return events.Send("delta", map[string]string{"text": d})
	}
	reply, err := a.Conversations.Handle(r.Context(), p.Scope, in)
	if err != nil && !events.Started() {
		return err
	}
	if err != nil {
		return events.Send("error", httpx.PublicError(r.Context(), err))
	}
	return events.Send("done", toChatJSON(reply))
}
