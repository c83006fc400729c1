package admin

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The workspace's home: where a newcomer stands on the way from an empty
// workspace to a bot answering visitors, and the one thing to do next.

// homeBots is how many bots the home page looks into for knowledge and
// channels: enough to judge progress, bounded so the page stays cheap.
const homeBots = 10

type workspaceView struct {
	Bots  []palisade.Bot
	Steps []homeStep
	// Next is the first step not done; nil when every step is.
	Next *homeStep
}

func (workspaceView) template() string { return "workspace" }

// homeStep is one step of the way, with the page that does it. Href is
// empty when the member's role cannot do it.
type homeStep struct {
	ID, Title, Detail, Href, Action string
	Done                            bool
}

func (u *UI) workspacePage(w http.ResponseWriter, r *http.Request, q *req) error {
	ctx := r.Context()
	c := canFor(q.actor.Role)
	bots, err := u.o.Bots.List(ctx, q.actor.Scope)
	if err != nil {
		return err
	}
	base := "/w/" + string(q.ws.ID)
	var (
		first                    *palisade.Bot
		knowledge, live, tried   bool
		knowBot, liveBot, tryBot = "", "", ""
	)
	if len(bots) > 0 {
		first = &bots[0]
		knowBot, liveBot, tryBot = string(first.ID), string(first.ID), string(first.ID)
	}
	for i := range bots[:min(len(bots), homeBots)] {
		b := &bots[i]
		if !knowledge {
			docs, err := u.o.Bots.Documents(ctx, q.actor.Scope, b.ID)
			if err != nil {
				return err
			}
			if len(docs) > 0 {
				knowledge, knowBot, tryBot = true, string(b.ID), string(b.ID)
			}
		}
		if !live && len(b.AllowedDomains) > 0 {
			live, liveBot = true, string(b.ID)
		}
		if !live && u.o.Channels != nil {
			chs, err := u.o.Channels.List(ctx, q.actor.Scope, b.ID)
			if err != nil {
				return err
			}
			if len(chs) > 0 {
				live, liveBot = true, string(b.ID)
			}
		}
	}
	if u.o.Chats != nil && len(bots) > 0 {
		list, err := u.o.Chats.Conversations(ctx, q.actor.Scope, conversation.ListParams{Limit: 1})
		if err != nil {
			return err
		}
		tried = len(list) > 0
	}
	steps := []homeStep{
		{ID: "bot", Title: "Create a bot", Done: first != nil,
			Detail: "Give it a name and, if you like, a system prompt saying how it should answer."},
		{ID: "knowledge", Title: "Give it knowledge", Done: knowledge,
			Detail: "Paste or upload your FAQ, policies or product pages. The bot answers only from these, and cites them."},
		{ID: "try", Title: "Try it", Done: tried,
			Detail: "Ask it a question in the preview and check the answer and its sources."},
		{ID: "live", Title: "Put it where your visitors are", Done: live,
			Detail: "Allow your website's domain and paste the widget snippet into your pages, or connect Telegram or WhatsApp."},
	}
	if c.BotsWrite {
		steps[0].Href, steps[0].Action = base+"/bots/new", "Create a bot"
	}
	if first != nil {
		if c.DocumentsWrite {
			steps[1].Href, steps[1].Action = base+"/bots/"+knowBot+"/documents", "Add knowledge"
		}
		if c.MessagesSend && u.o.Chats != nil {
			steps[2].Href, steps[2].Action = base+"/bots/"+tryBot+"/try", "Open the preview"
		}
		if c.BotsWrite {
			steps[3].Href, steps[3].Action = base+"/bots/"+liveBot+"#widget", "Set up the widget"
		}
	}
	v := workspaceView{Bots: bots, Steps: steps}
	for i := range v.Steps {
		if !v.Steps[i].Done {
			v.Next = &v.Steps[i]
			break
		}
	}
	return u.render(w, http.StatusOK, newPage(q, q.ws.Name, v))
}
