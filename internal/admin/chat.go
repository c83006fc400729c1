package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The preview chat: a member who may send messages asks a bot questions
// from its page, as a visitor would in the widget. Each member has one
// preview conversation per bot, on the channel "preview", so previews are
// stored, counted and listed like any other conversation and never mixed
// with visitors'. Without JavaScript the form posts and the page comes
// back with the answer; with it, admin.js streams the answer from the
// stream route as server-sent events.

// Chats is the conversation use cases the UI offers
// (*conversation.Service).
type Chats interface {
	Handle(ctx context.Context, scope palisade.Scope, in conversation.Inbound) (conversation.Reply, error)
	Conversations(ctx context.Context, scope palisade.Scope, p conversation.ListParams) ([]palisade.Conversation, error)
	Conversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error)
	Transcript(ctx context.Context, scope palisade.Scope, id palisade.ConversationID, afterSeq int64, limit int) ([]palisade.Message, error)
}

var _ Chats = (*conversation.Service)(nil)

// ChannelPreview is the channel of the admin UI's preview conversations.
const ChannelPreview = "preview"

// previewTurns is how many of the preview's last messages the page shows.
const previewTurns = 40

type tryView struct {
	Bot      palisade.Bot
	Messages []palisade.Message
	// Sources are the sources of the answer just given (no-script path).
	Sources       []sourceView
	Question      string
	RetrievalOnly bool
	Documents     int
}

func (tryView) template() string { return "try" }

// sourceView is one source of an answer, as the page and the stream show
// it.
type sourceView struct {
	Title   string `json:"title"`
	Excerpt string `json:"excerpt"`
}

func sourcesOf(r conversation.Reply) []sourceView {
	out := make([]sourceView, 0, len(r.Sources))
	for _, s := range r.Sources {
		out = append(out, sourceView{Title: s.Title, Excerpt: s.Excerpt})
	}
	return out
}

// previewInbound is the member's next message to the bot's preview.
func previewInbound(q *req, bot palisade.BotID, text string) conversation.Inbound {
	return conversation.Inbound{BotID: bot, Channel: ChannelPreview, UserID: string(q.cur.User.ID), Text: text}
}

// previewConversation finds the member's preview conversation of bot, if
// there is one yet.
func (u *UI) previewConversation(ctx context.Context, q *req, bot palisade.BotID) (palisade.Conversation, bool, error) {
	key := previewInbound(q, bot, "").Key()
	list, err := u.o.Chats.Conversations(ctx, q.actor.Scope, conversation.ListParams{BotID: bot, Channel: ChannelPreview, Limit: 100})
	if err != nil {
		return palisade.Conversation{}, false, err
	}
	for _, c := range list {
		if c.Key == key {
			return c, true, nil
		}
	}
	return palisade.Conversation{}, false, nil
}

func (u *UI) tryPageOf(r *http.Request, q *req) (page[tryView], error) {
	ctx := r.Context()
	b, err := u.getBot(r, q)
	if err != nil {
		return page[tryView]{}, err
	}
	docs, err := u.o.Bots.Documents(ctx, q.actor.Scope, b.ID)
	if err != nil {
		return page[tryView]{}, err
	}
	v := tryView{Bot: b, RetrievalOnly: retrievalOnly(u.o.Bots.OperatorModels()), Documents: len(docs)}
	c, ok, err := u.previewConversation(ctx, q, b.ID)
	if err != nil {
		return page[tryView]{}, err
	}
	if ok {
		msgs, err := u.o.Chats.Transcript(ctx, q.actor.Scope, c.ID, 0, 1000)
		if err != nil {
			return page[tryView]{}, err
		}
		if len(msgs) > previewTurns {
			msgs = msgs[len(msgs)-previewTurns:]
		}
		v.Messages = msgs
	}
	return newPage(q, "Try "+b.Name, v), nil
}

func (u *UI) tryPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Chats == nil {
		return palisade.ErrNotFound
	}
	p, err := u.tryPageOf(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

// tryAsk answers the form without JavaScript: the page comes back with
// the exchange and the answer's sources.
func (u *UI) tryAsk(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Chats == nil {
		return palisade.ErrNotFound
	}
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	text := r.PostFormValue("message")
	reply, herr := u.o.Chats.Handle(r.Context(), q.actor.Scope, previewInbound(q, b.ID, text))
	p, err := u.tryPageOf(r, q)
	if err != nil {
		return err
	}
	if herr != nil {
		p.D.Question = text
		return u.formError(w, p, herr)
	}
	p.D.Sources = sourcesOf(reply)
	return u.render(w, http.StatusOK, p)
}

// tryStream answers with server-sent events: "delta" events carry the
// answer's text as it is written, then "done" carries its sources, or
// "error" a message fit to show.
func (u *UI) tryStream(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Chats == nil {
		return palisade.ErrNotFound
	}
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	in := previewInbound(q, b.ID, r.PostFormValue("message"))
	if err := in.Validate(); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	started := false
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !started {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.Header().Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	in.OnDelta = func(s string) error { return send("delta", map[string]string{"t": s}) }
	reply, err := u.o.Chats.Handle(r.Context(), q.actor.Scope, in)
	if err != nil {
		if !started {
			return err
		}
		var pe *palisade.Error
		msg := "the answer failed; try again"
		if errors.As(err, &pe) && httpx.Status(pe.Code) < 500 {
			msg = palisade.ErrorMessage(err)
		}
		u.o.Logger.ErrorContext(r.Context(), "preview answer failed after streaming began", "err", err)
		return send("error", map[string]string{"message": msg})
	}
	if !started {
		// Nothing streamed (retrieval-only answers arrive whole).
		if err := send("delta", map[string]string{"t": reply.Text}); err != nil {
			return err
		}
	}
	return send("done", map[string]any{"sources": sourcesOf(reply), "mode": reply.Mode})
}
