package admin

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The workspace's conversations: a list filtered by bot, channel and
// activity window, newest first, a page at a time, and one conversation's
// transcript as stored (placeholders where the bot's PII mode redacted
// before storage).

// conversationsPageSize is how many conversations one page lists.
const conversationsPageSize = 50

type conversationsView struct {
	Rows     []conversationRow
	Bots     []palisade.Bot
	Channels []string
	// The filters as the form shows them.
	Bot, Channel, Days string
	// Next continues the listing after the last row (url.Values.Encode
	// output, so a query part as it stands); empty on the last page.
	Next template.URL
}

func (conversationsView) template() string { return "conversations" }

type conversationRow struct {
	palisade.Conversation
	BotName string
}

type transcriptView struct {
	Conversation palisade.Conversation
	BotName      string
	Messages     []palisade.Message
	PIIMode      palisade.PIIMode
}

func (transcriptView) template() string { return "transcript" }

// conversationChannels are the channels the filter offers.
func conversationChannels() []string {
	return []string{ChannelPreview, conversation.ChannelAPI, "widget", "telegram", "whatsapp", "slack", "discord"}
}

func (u *UI) conversationsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Chats == nil {
		return palisade.ErrNotFound
	}
	ctx := r.Context()
	bots, err := u.o.Bots.List(ctx, q.actor.Scope)
	if err != nil {
		return err
	}
	names := map[palisade.BotID]string{}
	for _, b := range bots {
		names[b.ID] = b.Name
	}
	qs := r.URL.Query()
	v := conversationsView{Bots: bots, Channels: conversationChannels(), Bot: qs.Get("bot"), Channel: qs.Get("channel"), Days: qs.Get("days")}
	p := conversation.ListParams{Limit: conversationsPageSize + 1}
	if v.Bot != "" {
		if _, err := palisade.ParseBotID(v.Bot); err != nil {
			return palisade.FieldError("bot", "bot must be one of this workspace's bots")
		}
		p.BotID = palisade.BotID(v.Bot)
	}
	if v.Channel != "" {
		known := false
		for _, c := range conversationChannels() {
			known = known || c == v.Channel
		}
		if !known {
			return palisade.FieldError("channel", "channel must be one of the listed channels")
		}
		p.Channel = v.Channel
	}
	switch v.Days {
	case "", "all":
	case "1", "7", "30":
		n := map[string]int{"1": 1, "7": 7, "30": 30}[v.Days]
		p.Since = u.o.Account.Now().Add(-time.Duration(n) * 24 * time.Hour)
	default:
		return palisade.FieldError("days", "days must be 1, 7, 30 or all")
	}
	if after := qs.Get("after"); after != "" {
		id, err := palisade.ParseConversationID(after)
		if err != nil {
			return palisade.FieldError("after", "after must be a conversation of this listing")
		}
		c, err := u.o.Chats.Conversation(ctx, q.actor.Scope, id)
		if err != nil {
			return err
		}
		p.After = &conversation.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}
	}
	list, err := u.o.Chats.Conversations(ctx, q.actor.Scope, p)
	if err != nil {
		return err
	}
	if len(list) > conversationsPageSize {
		list = list[:conversationsPageSize]
		next := url.Values{"after": {string(list[len(list)-1].ID)}}
		for k, val := range map[string]string{"bot": v.Bot, "channel": v.Channel, "days": v.Days} {
			if val != "" {
				next.Set(k, val)
			}
		}
		v.Next = template.URL(next.Encode())
	}
	for _, c := range list {
		v.Rows = append(v.Rows, conversationRow{Conversation: c, BotName: names[c.BotID]})
	}
	return u.render(w, http.StatusOK, newPage(q, "Conversations", v))
}

func (u *UI) transcriptPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Chats == nil {
		return palisade.ErrNotFound
	}
	ctx := r.Context()
	id := palisade.ConversationID(r.PathValue("conversationId"))
	c, err := u.o.Chats.Conversation(ctx, q.actor.Scope, id)
	if err != nil {
		return err
	}
	msgs, err := u.o.Chats.Transcript(ctx, q.actor.Scope, id, 0, 1000)
	if err != nil {
		return err
	}
	v := transcriptView{Conversation: c, Messages: msgs}
	b, err := u.o.Bots.Get(ctx, q.actor.Scope, c.BotID)
	if err != nil {
		return err
	}
	v.BotName, v.PIIMode = b.Name, b.PIIMode
	return u.render(w, http.StatusOK, newPage(q, "Conversation", v))
}
