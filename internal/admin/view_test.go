package admin

import (
	"html/template"
	"io"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Every permission a workspace route declares has its field in can, each
// field stands for exactly one permission, and canFor agrees with the
// permission table for every role.
func TestCanCoversRoutePermissions(t *testing.T) {
	t.Parallel()
	for _, rt := range (&UI{}).Routes() {
		if rt.Perm == auth.PermPublic || rt.Perm == auth.PermAccount {
			continue
		}
		if (&can{}).flag(rt.Perm) == nil {
			t.Errorf("%s %s: permission %s has no field in can", rt.Method, rt.Pattern, rt.Perm)
		}
	}
	var c can
	perms := map[*bool]auth.Permission{}
	for _, p := range auth.Permissions() {
		f := c.flag(p)
		if f == nil {
			continue
		}
		if other, dup := perms[f]; dup {
			t.Errorf("%s and %s share a field", other, p)
		}
		perms[f] = p
	}
	if n := reflect.TypeFor[can]().NumField(); len(perms) != n {
		t.Errorf("%d permissions fill can's %d fields", len(perms), n)
	}
	for _, role := range palisade.Roles {
		got := canFor(role)
		for _, p := range perms {
			if *got.flag(p) != auth.Allows(role, p) {
				t.Errorf("%s: can says %v for %s, the table %v", role, *got.flag(p), p, auth.Allows(role, p))
			}
		}
	}
}

// A template asking for a permission or a view field that does not exist
// fails when it runs, instead of rendering nothing.
func TestMisspeltFieldFails(t *testing.T) {
	t.Parallel()
	p := page[keysView]{WS: &wsView{Can: canFor(palisade.RoleOwner)}}
	for _, src := range []string{`{{if .WS.Can.KeysWirte}}x{{end}}`, `{{.D.Createdd}}`, `{{range .D.Keys}}{{.Statuss}}{{end}}`} {
		p := p
		p.D.Keys = []keyRow{{Status: "active"}}
		if err := template.Must(template.New("t").Parse(src)).Execute(io.Discard, p); err == nil {
			t.Errorf("%s executed without error", src)
		}
	}
}

// pageChrome is the layout's part of a page, varied across renderings.
type pageChrome struct {
	user               *palisade.User
	ws                 *wsView
	err, field, notice string
}

func sample[V view](d V) func(pageChrome) rendering {
	return func(c pageChrome) rendering {
		return page[V]{Title: "Title <x>", CSRF: "token", User: c.user, WS: c.ws, Error: c.err, Field: c.field, Notice: c.notice, D: d}
	}
}

// TestEveryTemplateRenders executes every template with views that take
// each of its branches (empty and full lists, each state of a page), for
// an anonymous visitor, a signed-in user and a member of every role, with
// and without an error and a notice: a field a template names that its
// view lacks fails here, whichever branch it is in.
func TestEveryTemplateRenders(t *testing.T) {
	t.Parallel()
	pages, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	u := &UI{pages: pages}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	ws := palisade.Workspace{ID: palisade.NewWorkspaceID(), Name: "Acme <inc>"}
	b := palisade.Bot{ID: palisade.NewBotID(), Name: "Helper", SystemPrompt: "be <kind>", Model: "m1", Temperature: 0.5, MaxOutputTokens: 100,
		PIIMode: palisade.PIIBeforeLLM, AllowedDomains: []string{"a.example"}, GatewayTokenHash: []byte{1}, CreatedAt: now}
	chID := palisade.NewChannelID()
	form := botForm{Name: "Helper", Model: "m1", PIIMode: "off", Temperature: "0.5", MaxOutputTokens: "100"}
	member := account.Member{Membership: palisade.Membership{ID: palisade.NewMembershipID(), Role: palisade.RoleAdmin}, Email: "a@example.com", Name: "A"}
	key := account.APIKey{APIKey: palisade.APIKey{ID: palisade.NewAPIKeyID(), Name: "ci", Prefix: "abc", Scopes: []string{"bots:read"}, CreatedAt: now, LastUsedAt: &later}}
	views := []func(pageChrome) rendering{
		sample(loginView{}), sample(loginView{Signup: true, Email: "a@example.com"}),
		sample(mfaView{}), sample(forgotView{}), sample(resetView{}), sample(verifyView{}), sample(messageView{}),
		sample(signupView{}), sample(signupView{newAccountForm{Email: "a@example.com", Name: "A", Workspace: "W"}}),
		sample(setupView{}), sample(setupView{newAccountForm: newAccountForm{Email: "a@example.com", Name: "A", Workspace: "W"}}), sample(setupView{Spent: true}),
		sample(inviteView{Email: "a@example.com", Role: palisade.RoleEditor, Workspace: "W"}),
	}
	// The user's own pages are only ever shown signed in.
	accountViews := []func(pageChrome) rendering{
		sample(accountView{}), sample(accountView{MailToConsole: true}), sample(accountView{Workspaces: []account.UserWorkspace{{Workspace: ws, Role: palisade.RoleOwner}}}),
		sample(sessionsView{}), sample(sessionsView{Sessions: []sessionRow{{Session: palisade.Session{ID: palisade.NewSessionID(), IP: "192.0.2.1",
			UserAgent: "UA", CreatedAt: now, LastSeenAt: now}, Current: true}, {Session: palisade.Session{ID: palisade.NewSessionID()}}}}),
		sample(twoFAView{}), sample(twoFAView{Secret: "ABCDEFGH", URI: "otpauth://totp/x", Link: "otpauth://totp/x", QR: "<svg></svg>"}), sample(twoFAView{Enabled: true}),
		sample(codesView{}), sample(codesView{Codes: []string{"abcd-efgh"}}),
		sample(accountDeleteView{}), sample(accountDeleteView{Sole: []string{"Mine <alone>"}}),
	}
	// Workspace pages are only ever shown inside their workspace.
	wsViews := []func(pageChrome) rendering{
		sample(workspaceView{}),
		sample(workspaceView{Bots: []palisade.Bot{b}, Steps: []homeStep{{ID: "bot", Title: "T", Done: true}, {ID: "knowledge", Title: "K", Href: "/x", Action: "Go"}},
			Next: &homeStep{ID: "knowledge", Title: "K", Href: "/x", Action: "Go"}}),
		sample(workspaceView{Steps: []homeStep{{ID: "bot", Title: "T"}}, Next: &homeStep{ID: "bot", Title: "T"}}),
		sample(modelsView{}), sample(modelsView{settingsView{RetrievalOnly: true}}), sample(modelsView{settingsView{Models: "m1", OperatorModels: []string{"m1"}}}),
		sample(dashboardView{}), sample(dashboardView{Span: 7, Spans: []int{7, 30}, Questions: 3, Charts: []chart{
			newChart("m", "Messages <x>", "c", []conversation.DayActivity{{Day: "2026-11-23", Questions: 2, Answers: 1}, {Day: "2026-11-24"}},
				[]string{"Questions", "Answers"}, [][2]int64{{2, 1}, {0, 0}})}}),
		sample(conversationsView{}), sample(conversationsView{Bots: []palisade.Bot{b}, Channels: []string{"preview"}, Bot: string(b.ID), Channel: "preview", Days: "7",
			Rows: []conversationRow{{Conversation: palisade.Conversation{ID: palisade.NewConversationID(), BotID: b.ID, Channel: "preview", ExternalUser: "u<1>"}, BotName: "B"}}, Next: "after=x"}),
		sample(conversationsView{Channel: "widget"}),
		sample(transcriptView{}), sample(transcriptView{BotName: "B", PIIMode: palisade.PIIBeforeStorage,
			Messages: []palisade.Message{{Role: "user", Body: "[EMAIL_1] <b>"}, {Role: "assistant", Body: "ok", TokensIn: 3, TokensOut: 4}}}),
		sample(tryView{Bot: b}), sample(tryView{Bot: b, RetrievalOnly: true, Documents: 1, Question: "q <x>",
			Messages: []palisade.Message{{Role: "user", Body: "hi"}, {Role: "assistant", Body: "hello"}}, Sources: []sourceView{{Title: "T", Excerpt: "e"}}}),
		sample(membersView{}), sample(membersView{Members: []memberRow{{Member: member, Self: true}, {Member: member}},
			Invitations: []palisade.Invitation{{ID: palisade.NewInvitationID(), Email: "i@example.com", Role: palisade.RoleViewer, ExpiresAt: later}},
			Roles:       palisade.Roles}),
		sample(keysView{}), sample(keysView{Keys: []keyRow{{APIKey: key, Masked: "pal_abc…", Status: "active", Creator: "a@example.com"},
			{APIKey: account.APIKey{APIKey: palisade.APIKey{ID: palisade.NewAPIKeyID()}}, Status: "revoked", Creator: operatorCreator}},
			Scopes: auth.AllScopes(), Created: "pal_new"}),
		sample(settingsView{}), sample(settingsView{RequireMFA: true, Models: "m1\nm2", OperatorModels: []string{"m1", "m2"}}),
		sample(botsView{}), sample(botsView{Bots: []palisade.Bot{b}}),
		sample(botView{New: true, Form: form, Models: []string{"m1"}, PIIModes: []string{"off"}}),
		sample(botView{Bot: b, Form: form, Models: []string{"m1"}, PIIModes: []string{"off"}, HasToken: true}),
		sample(botView{Bot: b}),
		sample(botDeleteView{Bot: b}),
		sample(workspaceDeleteView{}),
		sample(settingsView{RetentionDays: "30", MinRetentionDays: 1, MaxRetentionDays: 3650}),
		sample(documentsView{Bot: b}), sample(documentsView{Bot: b, Docs: []palisade.Document{{ID: palisade.NewDocumentID(), Title: "T",
			ContentType: "text/plain", SizeBytes: 3, Chunks: 1, CreatedAt: now}}, Form: documentForm{Title: "T"}, ContentTypes: []string{"text/plain"}}),
		sample(channelsView{Bot: b}), sample(channelsView{Bot: b, Enabled: true, Telegram: true}),
		sample(channelsView{Bot: b, Enabled: true, Telegram: true, Connected: true, Channels: []channel.View{
			{ID: chID, BotID: b.ID, Kind: "telegram", Name: "@helper_bot", Status: "active", WebhookURL: "https://x/hooks/telegram/" + string(b.ID),
				Masked: map[string]string{"bot_token": "••••abcd"}, HasSecret: true, CreatedAt: now},
			{ID: palisade.NewChannelID(), Kind: "slack", Status: "pending"}},
			Tested: &channel.TestResult{OK: false, Detail: "unreachable <x>"}, TestedID: chID}),
		sample(auditView{First: true}), sample(auditView{Rows: []auditRow{{Seq: 2, Time: now, Actor: "usr_x", ActorName: "a@example.com",
			Action: "bot.changed", Target: "<t>", Outcome: "success", Detail: []string{"a=1"}}, {Seq: 1, Actor: "cli"}}, Next: 1}),
	}
	user := palisade.User{ID: palisade.NewUserID(), Email: "me@example.com", Name: "Me"}
	verified := user
	verified.EmailVerifiedAt, verified.TOTPEnabled = &now, true
	// Anonymous, signed in, then a member of each role: workspace pages
	// take the last ones only.
	chromes := []pageChrome{{}, {user: &user, err: "wrong <input>", field: "name", notice: "done"}}
	for _, role := range palisade.Roles {
		chromes = append(chromes, pageChrome{user: &verified, ws: &wsView{ID: ws.ID, Name: ws.Name, Role: role, Can: canFor(role)},
			err: "refused", field: "role", notice: "saved"})
	}
	covered := map[string]bool{}
	check := func(v func(pageChrome) rendering, chromes []pageChrome) {
		for _, c := range chromes {
			p := v(c)
			covered[p.templateName()] = true
			if err := u.render(httptest.NewRecorder(), 200, p); err != nil {
				t.Errorf("%s with %+v: %v", p.templateName(), c, err)
			}
		}
	}
	for _, v := range views {
		check(v, chromes)
	}
	for _, v := range accountViews {
		check(v, chromes[1:])
	}
	for _, v := range wsViews {
		check(v, chromes[2:])
	}
	for name := range pages {
		if !covered[name] {
			t.Errorf("template %s is never rendered here", name)
		}
	}
}
