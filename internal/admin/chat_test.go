package admin_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

// previewBot creates, as the owner, a bot with one document and returns
// the owner's browser and the bot's path.
func previewBot(t *testing.T, e *env, ws palisade.WorkspaceID, owner string) (*browser, string) {
	t.Helper()
	b := e.browser()
	b.login(owner)
	base := "/w/" + string(ws)
	w := b.post(base+"/bots/new", base+"/bots", botForm("Helper"))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create bot: %d %s", w.Code, w.Body.String())
	}
	bot := location(w)
	if w := b.post(bot+"/documents", bot+"/documents", url.Values{"title": {"Opening hours"}, "content_type": {"text/plain"},
		"content": {"The shop opens at nine and closes at six, Monday to Saturday."}}); w.Code != http.StatusSeeOther {
		t.Fatalf("add document: %d", w.Code)
	}
	return b, bot
}

// The preview answers without JavaScript (the form posts and the page
// shows the exchange with the answer's sources) and streams as
// server-sent events for the script; the conversation stays on the page.
func TestPreviewChat(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	b, bot := previewBot(t, e, ws, emails["owner"])
	try := bot + "/try"
	w := b.post(try, try, url.Values{"message": {"When does the shop open?"}})
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "When does the shop open?") || !strings.Contains(body, "opens at nine") ||
		!strings.Contains(body, "Sources of the last answer") || !strings.Contains(body, "<strong>Opening hours</strong>") {
		t.Fatalf("preview without script: %d\n%s", w.Code, body)
	}

	w = b.post(try, try+"/stream", url.Values{"message": {"Are you open on Saturday?"}})
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	stream := w.Body.String()
	if !strings.Contains(stream, "event: delta\n") || !strings.Contains(stream, "Saturday") ||
		!strings.Contains(stream, "event: done\ndata: {\"mode\":") || !strings.Contains(stream, `"title":"Opening hours"`) {
		t.Fatalf("stream:\n%s", stream)
	}
	page := b.get(try).Body.String()
	if strings.Count(page, `class="msg user"`) != 2 || strings.Count(page, `class="msg assistant"`) != 2 {
		t.Fatalf("the preview page does not keep the conversation:\n%s", page)
	}
	// An empty question is refused before anything streams.
	if w := b.post(try, try+"/stream", url.Values{"message": {"  "}}); w.Code != http.StatusBadRequest {
		t.Fatalf("empty question: %d", w.Code)
	}
	// Each member has a preview of their own.
	editor := e.browser()
	editor.login(emails["editor"])
	if page := editor.get(try).Body.String(); strings.Contains(page, "Saturday") {
		t.Fatal("the editor sees the owner's preview")
	}
	// A viewer may not talk to the bot, and is offered no way to.
	viewer := e.browser()
	viewer.login(emails["viewer"])
	if w := viewer.get(try); w.Code != http.StatusForbidden {
		t.Fatalf("viewer opening the preview: %d", w.Code)
	}
	if page := viewer.get(bot).Body.String(); strings.Contains(page, `href="`+try+`"`) {
		t.Fatal("the bot page offers the viewer the preview")
	}
}

// The workspace home names the next step and marks each one done as the
// newcomer goes: bot, knowledge, a first try, then the widget or a
// channel.
func TestWorkspaceHomeShowsProgress(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	home := "/w/" + string(ws)
	owner := e.browser()
	owner.login(emails["owner"])
	done := func(body string) []string {
		var out []string
		for _, step := range []string{"bot", "knowledge", "try", "live"} {
			if strings.Contains(body, `<li class="done" data-step="`+step+`">`) {
				out = append(out, step)
			}
		}
		return out
	}
	body := owner.get(home).Body.String()
	if got := done(body); len(got) != 0 || !strings.Contains(body, "Next: Create a bot") || !strings.Contains(body, `href="`+home+`/bots/new"`) {
		t.Fatalf("empty workspace: done %v\n%s", got, body)
	}
	// A viewer is told who can do the step instead of getting a link.
	viewer := e.browser()
	viewer.login(emails["viewer"])
	if body := viewer.get(home).Body.String(); strings.Contains(body, `href="`+home+`/bots/new"`) || !strings.Contains(body, "Your role cannot do this step") {
		t.Fatalf("viewer's home:\n%s", body)
	}
	form := botForm("Helper")
	form.Del("allowed_domains")
	w := owner.post(home+"/bots/new", home+"/bots", form)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create bot: %d", w.Code)
	}
	bot := location(w)
	if body := owner.get(home).Body.String(); !strings.Contains(body, "Next: Give it knowledge") || strings.Join(done(body), ",") != "bot" {
		t.Fatalf("after the bot: %v\n%s", done(body), body)
	}
	if w := owner.post(bot+"/documents", bot+"/documents", url.Values{"title": {"Hours"}, "content_type": {"text/plain"}, "content": {"Open at nine."}}); w.Code != http.StatusSeeOther {
		t.Fatalf("add document: %d", w.Code)
	}
	if body := owner.get(home).Body.String(); !strings.Contains(body, "Next: Try it") || !strings.Contains(body, `href="`+bot+`/try"`) {
		t.Fatalf("after knowledge: %v\n%s", done(body), body)
	}
	if w := owner.post(bot+"/try", bot+"/try", url.Values{"message": {"When do you open?"}}); w.Code != http.StatusOK {
		t.Fatalf("try: %d", w.Code)
	}
	if body := owner.get(home).Body.String(); !strings.Contains(body, "Next: Put it where your visitors are") {
		t.Fatalf("after trying: %v\n%s", done(body), body)
	}
	if w := owner.post(bot, bot, botForm("Helper")); w.Code != http.StatusSeeOther {
		t.Fatalf("allow a domain: %d %s", w.Code, w.Body.String())
	}
	if body := owner.get(home).Body.String(); len(done(body)) != 4 || !strings.Contains(body, `id="all-done"`) {
		t.Fatalf("after allowing a domain: %v\n%s", done(body), body)
	}
}

// The conversations page lists the workspace's conversations, filtered by
// bot, channel and time, and opens each transcript as stored; a viewer may
// read them, an id of another workspace reads as not found.
func TestConversationsPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	b, bot := previewBot(t, e, ws, emails["owner"])
	if w := b.post(bot+"/try", bot+"/try", url.Values{"message": {"When does the shop open?"}}); w.Code != http.StatusOK {
		t.Fatalf("try: %d", w.Code)
	}
	list := "/w/" + string(ws) + "/conversations"
	viewer := e.browser()
	viewer.login(emails["viewer"])
	body := viewer.get(list).Body.String()
	m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(list) + `/conv_[a-z2-7]{26})"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "<td>preview</td>") || !strings.Contains(body, "<td>Helper</td>") {
		t.Fatalf("conversation list:\n%s", body)
	}
	if body := viewer.get(list + "?channel=widget").Body.String(); strings.Contains(body, m[1]) || !strings.Contains(body, "No conversation matches these filters.") {
		t.Fatalf("the channel filter does not filter:\n%s", body)
	}
	if body := viewer.get(list + "?channel=preview&days=1&bot=" + bot[strings.LastIndex(bot, "/")+1:]).Body.String(); !strings.Contains(body, m[1]) {
		t.Fatalf("the matching filters hide the conversation:\n%s", body)
	}
	if w := viewer.get(list + "?channel=nope"); w.Code != http.StatusBadRequest {
		t.Fatalf("unknown channel filter: %d", w.Code)
	}
	body = viewer.get(m[1]).Body.String()
	if !strings.Contains(body, "When does the shop open?") || !strings.Contains(body, "opens at nine") {
		t.Fatalf("transcript:\n%s", body)
	}
	// The answer lists the sources it cited, stored with it.
	sources := regexp.MustCompile(`(?s)<details class="msg-sources"><summary>Sources \(1\)</summary>.*?</details>`).FindString(body)
	if !strings.Contains(sources, "<strong>Opening hours</strong>: ") || !strings.Contains(sources, "opens at nine") {
		t.Fatalf("the transcript does not show the answer's sources:\n%s", body)
	}
	if w := viewer.get(list + "/" + string(palisade.NewConversationID())); w.Code != http.StatusNotFound {
		t.Fatalf("unknown conversation: %d", w.Code)
	}
}

// The dashboard draws today's preview exchange in its message chart, as a
// bar of a server-rendered SVG with the numbers in a table beside it, for
// every role; a span it does not offer is refused.
func TestDashboard(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	b, bot := previewBot(t, e, ws, emails["owner"])
	for _, q := range []string{"When does the shop open?", "And on Saturday?"} {
		if w := b.post(bot+"/try", bot+"/try", url.Values{"message": {q}}); w.Code != http.StatusOK {
			t.Fatalf("try: %d", w.Code)
		}
	}
	dash := "/w/" + string(ws) + "/dashboard"
	viewer := e.browser()
	viewer.login(emails["viewer"])
	w := viewer.get(dash + "?days=7")
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("dashboard: %d", w.Code)
	}
	today := e.clock.Now().UTC().Format("2006-01-02")
	messages := regexp.MustCompile(`(?s)<section class="chart-box" id="chart-messages".*?</section>`).FindString(body)
	if !strings.Contains(messages, `<svg xmlns="http://www.w3.org/2000/svg" class="chart"`) ||
		!strings.Contains(messages, "<title>"+today+": 2</title>") || strings.Count(messages, "<rect ") != 2 ||
		!strings.Contains(messages, "<tr><td>"+today+`</td><td class="num">2</td><td class="num">2</td></tr>`) {
		t.Fatalf("the message chart does not show today's two questions and answers:\n%s", messages)
	}
	if strings.Count(body, "<tr><td>20") != 3*7 {
		t.Fatalf("want 7 days in each of the 3 tables:\n%s", body)
	}
	if !strings.Contains(body, `<b>2</b> questions`) || !strings.Contains(body, `<b>0</b> refusals`) {
		t.Fatalf("totals:\n%s", body)
	}
	if w := viewer.get(dash + "?days=1000"); w.Code != http.StatusBadRequest {
		t.Fatalf("a span not offered: %d", w.Code)
	}
	if !strings.Contains(viewer.get("/w/"+string(ws)).Body.String(), `href="`+dash+`"`) {
		t.Fatal("the navigation does not link the dashboard")
	}
}
