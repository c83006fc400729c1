package admin

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// The view layer: every page is a page[V], the layout's common parts with
// D, a struct of the page's own type V. The type names its template, so a
// handler cannot pair one page's data with another's template, and a
// template that asks for a field its view lacks fails when it runs instead
// of rendering nothing.

// view is the data of one page. template names the file under templates/
// (without .html) that shows it; each view type has exactly one.
type view interface{ template() string }

// page is what every template gets.
type page[V view] struct {
	Title  string
	CSRF   string
	User   *palisade.User
	WS     *wsView
	Error  string
	Field  string
	Notice string
	// Insecure: served over plain HTTP to a host that is not localhost,
	// where signing in cannot work; every page says why.
	Insecure        bool
	InsecureMessage string
	// Nav is the workspace's navigation, the current section marked.
	Nav []navItem
	D   V
}

// navItem is one link of the workspace navigation.
type navItem struct {
	Href, Label string
	Current     bool
}

// flash is the message a redirect after a successful action can ask for
// (?done=KEY): a fixed table, so a link cannot make the page say anything
// else; "" for a key it does not know.
func flash(key string) string {
	switch key {
	case "password":
		return "Your password is changed. Your other sessions were signed out."
	case "verify-sent":
		return "A new verification link is on its way."
	case "verify-printed":
		return "A new verification link was printed in the server's output."
	case "session-revoked":
		return "That session is signed out."
	case "2fa-started":
		return "Scan the code below with your authenticator app."
	case "2fa-off":
		return "Two-factor authentication is off."
	case "invited":
		return "Invitation sent. It works for 7 days."
	case "role":
		return "Role changed."
	case "removed":
		return "Member removed."
	case "invite-revoked":
		return "Invitation revoked."
	case "key-revoked":
		return "API key revoked. Requests with it are refused from now on."
	case "mfa":
		return "Two-factor requirement saved."
	case "models":
		return "Model allowlist saved."
	case "retention":
		return "Retention saved."
	case "bot-created":
		return "Bot created. Next, give it some knowledge."
	case "bot-saved":
		return "Bot settings saved."
	case "bot-deleted":
		return "Bot deleted."
	case "doc-added":
		return "Document added. The bot can now answer from it."
	case "doc-deleted":
		return "Document deleted."
	case "channel-added":
		return "Channel connected."
	case "channel-rotated":
		return "New webhook secret set."
	case "channel-removed":
		return "Channel disconnected."
	case "ws-deleted":
		return "The workspace is deleted."
	case "welcome":
		return "Welcome! Your account and workspace are ready."
	case "signed-in":
		return "You are signed in."
	}
	return ""
}

// doneURL is to with the flash message key asks for.
func doneURL(to, key string) string {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	return to + sep + "done=" + key
}

// workspaceNav lists the sections of ws the role may open, marking the one
// path belongs to.
func workspaceNav(ws *wsView, path string, dashboard bool) []navItem {
	base := "/w/" + string(ws.ID)
	items := []navItem{{Href: base, Label: "Overview"}}
	add := func(ok bool, sub, label string) {
		if ok {
			items = append(items, navItem{Href: base + sub, Label: label})
		}
	}
	add(ws.Can.BotsRead, "/bots", "Bots")
	add(ws.Can.ConversationsRead, "/conversations", "Conversations")
	add(dashboard && ws.Can.WorkspaceRead, "/dashboard", "Dashboard")
	add(ws.Can.MembersRead, "/members", "Members")
	add(ws.Can.KeysRead, "/keys", "API keys")
	add(ws.Can.AuditRead, "/audit", "Audit log")
	add(ws.Can.SettingsRead, "/settings", "Settings")
	best := -1
	for i, it := range items {
		if path == it.Href || strings.HasPrefix(path, it.Href+"/") {
			if best < 0 || len(it.Href) > len(items[best].Href) {
				best = i
			}
		}
	}
	if best >= 0 {
		items[best].Current = true
	}
	return items
}

// wsView is the workspace the page belongs to, and what the member may do
// there.
type wsView struct {
	ID   palisade.WorkspaceID
	Name string
	Role palisade.Role
	Can  can
	// Suspended is set while the operator has the workspace suspended;
	// every page of it then says so, with the operator's reason.
	Suspended       bool
	SuspendedReason string
}

// can holds one field per permission a page asks about (`.WS.Can.KeysWrite`),
// so a misspelt permission fails when the template runs, where a map
// lookup would silently hide a link or form.
type can struct {
	WorkspaceRead  bool
	BotsRead       bool
	BotsWrite      bool
	DocumentsRead  bool
	DocumentsWrite bool
	ChannelsRead   bool
	ChannelsWrite  bool
	// ConversationsRead: the conversations list and transcripts;
	// MessagesSend: the preview chat.
	ConversationsRead bool
	MessagesSend      bool
	MembersRead       bool
	MembersWrite      bool
	KeysRead          bool
	KeysWrite         bool
	AuditRead         bool
	SettingsRead      bool
	SettingsWrite     bool
	Ownership         bool
	DataExport        bool
	// WorkspaceDelete: the owner may delete the whole workspace.
	WorkspaceDelete bool
}

// flag returns c's field for perm, or nil when no page asks about perm.
// Every permission the UI's routes declare has one (tested).
func (c *can) flag(perm auth.Permission) *bool {
	switch perm {
	case auth.PermWorkspaceRead:
		return &c.WorkspaceRead
	case auth.PermBotsRead:
		return &c.BotsRead
	case auth.PermBotsWrite:
		return &c.BotsWrite
	case auth.PermDocumentsRead:
		return &c.DocumentsRead
	case auth.PermDocumentsWrite:
		return &c.DocumentsWrite
	case auth.PermChannelsRead:
		return &c.ChannelsRead
	case auth.PermChannelsWrite:
		return &c.ChannelsWrite
	case auth.PermConversationsRead:
		return &c.ConversationsRead
	case auth.PermMessagesSend:
		return &c.MessagesSend
	case auth.PermMembersRead:
		return &c.MembersRead
	case auth.PermMembersWrite:
		return &c.MembersWrite
	case auth.PermKeysRead:
		return &c.KeysRead
	case auth.PermKeysWrite:
		return &c.KeysWrite
	case auth.PermAuditRead:
		return &c.AuditRead
	case auth.PermSettingsRead:
		return &c.SettingsRead
	case auth.PermSettingsWrite:
		return &c.SettingsWrite
	case auth.PermOwnership:
		return &c.Ownership
	case auth.PermDataExport:
		return &c.DataExport
	case auth.PermWorkspaceDelete:
		return &c.WorkspaceDelete
	}
	return nil
}

// canFor fills can from the one permission table.
func canFor(role palisade.Role) can {
	var c can
	for _, perm := range auth.RolePermissions(role) {
		if f := c.flag(perm); f != nil {
			*f = true
		}
	}
	return c
}

func newPage[V view](q *req, title string, d V) page[V] {
	p := page[V]{Title: title, CSRF: q.csrf, D: d, Insecure: q.insecure}
	if q.insecure {
		p.InsecureMessage = insecureMessage
	}
	if q.cur != nil {
		p.User = &q.cur.User
	}
	if q.actor != nil {
		p.WS = &wsView{ID: q.ws.ID, Name: q.ws.Name, Role: q.actor.Role, Can: canFor(q.actor.Role),
			Suspended: q.ws.Suspended(), SuspendedReason: q.ws.SuspendedReason}
		p.Nav = workspaceNav(p.WS, q.path, q.dashboard)
	}
	p.Notice = flash(q.done)
	return p
}

// rendering is a page of any view, ready to render.
type rendering interface {
	templateName() string
	withError(message, field string) rendering
}

func (p page[V]) templateName() string { return p.D.template() }

func (p page[V]) withError(message, field string) rendering {
	p.Error, p.Field = message, field
	return p
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"fmtTime": func(t any) string {
			switch v := t.(type) {
			case interface{ Format(string) string }:
				return v.Format("2006-01-02 15:04 UTC")
			}
			return ""
		},
	}
}

// render executes the page's template into a buffer first, so a failing
// template is an error response, never half a page.
func (u *UI) render(w http.ResponseWriter, status int, p rendering) error {
	name := p.templateName()
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("admin: no template %q", name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		return fmt.Errorf("admin: rendering %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write([]byte(b.String()))
	return err
}

// formError re-renders a form with a client error's public message; other
// errors go to WriteError.
func (u *UI) formError(w http.ResponseWriter, p rendering, err error) error {
	var pe *palisade.Error
	if !errors.As(err, &pe) || httpx.Status(pe.Code) >= 500 {
		return err
	}
	var rl *account.RateLimitError
	if errors.As(err, &rl) {
		ratelimit.WriteHeaders(w.Header(), rl.Decision)
	}
	return u.render(w, httpx.Status(pe.Code), p.withError(palisade.ErrorMessage(err), pe.Field))
}
