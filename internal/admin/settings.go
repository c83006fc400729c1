package admin

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/httpx"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Exports writes workspace and account exports (*export.Service).
type Exports interface {
	Start(ctx context.Context, c palisade.Caller) error
	Workspace(ctx context.Context, c palisade.Caller, w io.Writer) error
	StartUser(ctx context.Context, user palisade.UserID, c palisade.Caller) error
	User(ctx context.Context, user palisade.UserID, w io.Writer) error
}

var _ Exports = (*export.Service)(nil)

// The workspace's home page and its security settings: whether members
// need two-factor authentication (owners only) and the workspace's own
// model allowlist.

type settingsView struct {
	RequireMFA bool
	// Models is the workspace's allowlist, one per line, as the form
	// shows it.
	Models         string
	OperatorModels []string
	// RetrievalOnly: the server has no language model provider.
	RetrievalOnly bool
	// CanExport says the server offers exports.
	CanExport bool
	// RetentionDays is how long the workspace keeps messages, as the form
	// shows it.
	RetentionDays    string
	MinRetentionDays int
	MaxRetentionDays int
}

func (settingsView) template() string { return "settings" }

// settingsPageOf shows the workspace as the guard read it for this
// request.
func (u *UI) settingsPageOf(q *req) page[settingsView] {
	return newPage(q, "Settings", settingsView{RequireMFA: q.ws.RequireMFA, Models: strings.Join(q.ws.AllowedModels, "\n"),
		OperatorModels: u.o.Bots.OperatorModels(), RetrievalOnly: retrievalOnly(u.o.Bots.OperatorModels()), CanExport: u.o.Export != nil, RetentionDays: strconv.Itoa(q.ws.RetentionDays),
		MinRetentionDays: bot.MinRetentionDays, MaxRetentionDays: bot.MaxRetentionDays})
}

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, http.StatusOK, u.settingsPageOf(q))
}

// modelsView is the workspace's model allowlist, on a page of its own.
type modelsView struct{ settingsView }

func (modelsView) template() string { return "models" }

func (u *UI) modelsPageOf(q *req) page[modelsView] {
	p := u.settingsPageOf(q)
	return newPage(q, "Models", modelsView{p.D})
}

func (u *UI) modelsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, http.StatusOK, u.modelsPageOf(q))
}

func (u *UI) settingsURL(q *req) string { return "/w/" + string(q.ws.ID) + "/settings" }

// setModels sets the workspace's own model allowlist: each model must be
// one the operator allows; empty allows them all.
func (u *UI) setModels(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Bots.SetAllowedModels(r.Context(), q.caller(), strings.Split(r.PostFormValue("models"), "\n")); err != nil {
		p := u.modelsPageOf(q)
		p.D.Models = r.PostFormValue("models")
		return u.formError(w, p, err)
	}
	return redirect(w, r, doneURL(u.settingsURL(q)+"/models", "models"))
}

// setRetention sets how many days the workspace keeps messages.
func (u *UI) setRetention(w http.ResponseWriter, r *http.Request, q *req) error {
	raw := strings.TrimSpace(r.PostFormValue("retention_days"))
	days, err := strconv.Atoi(raw)
	if err != nil {
		err = palisade.FieldError("retention_days", "retention_days must be a whole number of days between %d and %d", bot.MinRetentionDays, bot.MaxRetentionDays)
	} else {
		err = u.o.Bots.SetRetention(r.Context(), q.caller(), days)
	}
	if err != nil {
		p := u.settingsPageOf(q)
		p.D.RetentionDays = raw
		return u.formError(w, p, err)
	}
	return redirect(w, r, doneURL(u.settingsURL(q), "retention"))
}

func (u *UI) setRequireMFA(w http.ResponseWriter, r *http.Request, q *req) error {
	on := r.PostFormValue("require") == "on"
	if err := u.o.Account.SetRequireMFA(r.Context(), *q.actor, on, q.client); err != nil {
		return u.formError(w, u.settingsPageOf(q), err)
	}
	return redirect(w, r, doneURL(u.settingsURL(q), "mfa"))
}

// exportWorkspace downloads the whole workspace (owners only): the export
// is rate-limited and recorded before its first byte, and a refusal shows
// on the settings page.
func (u *UI) exportWorkspace(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Export == nil {
		return palisade.ErrNotFound
	}
	c := q.caller()
	if err := u.o.Export.Start(r.Context(), c); err != nil {
		return u.formError(w, u.settingsPageOf(q), err)
	}
	return httpx.Download(w, r, export.Filename(q.ws.ID, time.Now()), func(out io.Writer) error {
		return u.o.Export.Workspace(r.Context(), c, out)
	})
}
