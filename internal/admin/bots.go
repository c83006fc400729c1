package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/botspec"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Bot pages: list, create, edit and delete a workspace's bots, and list and
// upload their knowledge documents. Every read goes through the actor's
// workspace scope, so another workspace's bot id reads as not found. The
// fields are validated by botspec, the same code the REST API uses.

func (u *UI) models(q *req) []string {
	models := u.o.Bots.Models
	if models == nil {
		models = botspec.DefaultModels()
	}
	// The workspace's own allowlist narrows the operator's.
	return botspec.Narrow(models, q.ws)
}

func (u *UI) now() time.Time {
	if u.o.Now != nil {
		return u.o.Now()
	}
	return time.Now()
}

func (u *UI) botsURL(q *req) string { return "/w/" + string(q.ws.ID) + "/bots" }

func (u *UI) botURL(q *req, id palisade.BotID) string { return u.botsURL(q) + "/" + string(id) }

// botForm is what the bot form shows: the values as typed, so a refused
// form comes back as the user left it.
type botForm struct {
	Name, SystemPrompt, Model, Temperature, MaxOutputTokens, PIIMode, AllowedDomains string
}

func formOf(b palisade.Bot) botForm {
	return botForm{Name: b.Name, SystemPrompt: b.SystemPrompt, Model: b.Model,
		Temperature: strconv.FormatFloat(b.Temperature, 'f', -1, 64), MaxOutputTokens: strconv.Itoa(b.MaxOutputTokens),
		PIIMode: string(b.PIIMode), AllowedDomains: strings.Join(b.AllowedDomains, "\n")}
}

func botFormFrom(r *http.Request) botForm {
	return botForm{Name: r.PostFormValue("name"), SystemPrompt: r.PostFormValue("system_prompt"), Model: r.PostFormValue("model"),
		Temperature: r.PostFormValue("temperature"), MaxOutputTokens: r.PostFormValue("max_output_tokens"),
		PIIMode: r.PostFormValue("pii_mode"), AllowedDomains: r.PostFormValue("allowed_domains")}
}

// input turns the form into a botspec.Input. Every field of the form is
// always sent, so every field is set: the form replaces the whole
// configuration. Numbers that do not parse are refused here, with the
// same field names the API uses; everything else is left to Apply.
func (f botForm) input() (botspec.Input, error) {
	in := botspec.Input{Name: &f.Name, SystemPrompt: &f.SystemPrompt, Model: &f.Model, PIIMode: &f.PIIMode}
	t, err := strconv.ParseFloat(strings.TrimSpace(f.Temperature), 64)
	if err != nil {
		return in, palisade.FieldError("temperature", "temperature must be a number between 0 and %g", botspec.MaxTemperature)
	}
	in.Temperature = &t
	n, err := strconv.Atoi(strings.TrimSpace(f.MaxOutputTokens))
	if err != nil {
		return in, palisade.FieldError("max_output_tokens", "max_output_tokens must be a whole number between 1 and %d", botspec.MaxOutputTokensCap)
	}
	in.MaxOutputTokens = &n
	domains := []string{}
	for line := range strings.Lines(f.AllowedDomains) {
		if d := strings.TrimSpace(line); d != "" {
			domains = append(domains, d)
		}
	}
	in.AllowedDomains = &domains
	return in, nil
}

func (u *UI) botsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	bots, err := u.o.Store.ListBots(r.Context(), q.actor.Scope)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "bots", u.newPage(q, "Bots", map[string]any{"Bots": bots}))
}

// botPageOf is the bot page: the bot and its settings form, or with New
// the empty form that creates one.
func (u *UI) botPageOf(q *req, b palisade.Bot, f botForm, isNew bool) page {
	title := "Bot: " + b.Name
	if isNew {
		title = "Create a bot"
	}
	return u.newPage(q, title, map[string]any{"Bot": b, "New": isNew, "Form": f, "Models": u.models(q), "PIIModes": botspec.PIIModes(),
		"MaxName": botspec.MaxName, "MaxSystemPrompt": botspec.MaxSystemPrompt, "MaxTokens": botspec.MaxOutputTokensCap,
		"MaxTemperature": botspec.MaxTemperature, "HasToken": len(b.GatewayTokenHash) > 0})
}

func (u *UI) newBotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "bot", u.botPageOf(q, palisade.Bot{}, formOf(botspec.New(u.models(q))), true))
}

func (u *UI) createBot(w http.ResponseWriter, r *http.Request, q *req) error {
	f := botFormFrom(r)
	b, err := u.newBot(q, f)
	if err == nil {
		b, err = u.o.Store.CreateBot(r.Context(), q.actor.Scope, b)
	}
	if err != nil {
		return u.formError(w, r, "bot", u.botPageOf(q, palisade.Bot{}, f, true), err)
	}
	u.audit(r.Context(), q, audit.ActionBotCreated, string(b.ID))
	return redirect(w, r, u.botURL(q, b.ID))
}

// newBot validates the form into a new bot with its gateway token, issued
// exactly as the API does: only the salt and hash are kept.
func (u *UI) newBot(q *req, f botForm) (palisade.Bot, error) {
	in, err := f.input()
	if err != nil {
		return palisade.Bot{}, err
	}
	models := u.models(q)
	b := botspec.New(models)
	b.CreatedAt = u.now()
	if err := in.Apply(&b, models); err != nil {
		return palisade.Bot{}, err
	}
	b.ID = palisade.NewBotID()
	if u.o.Bots.IssueToken != nil {
		b.GatewayTokenSalt, b.GatewayTokenHash = u.o.Bots.IssueToken(b.ID)
	}
	return b, nil
}

func (u *UI) getBot(r *http.Request, q *req) (palisade.Bot, error) {
	return u.o.Store.GetBot(r.Context(), q.actor.Scope, palisade.BotID(r.PathValue("botId")))
}

func (u *UI) botPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "bot", u.botPageOf(q, b, formOf(b), false))
}

func (u *UI) updateBot(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	f := botFormFrom(r)
	// Apply to a copy: a refused form must not half-change what is shown.
	changed := b
	changed.AllowedDomains = append([]string(nil), b.AllowedDomains...)
	in, err := f.input()
	if err == nil {
		err = in.Apply(&changed, u.models(q))
	}
	if err == nil {
		changed.UpdatedAt = u.now()
		changed, err = u.o.Store.UpdateBot(r.Context(), q.actor.Scope, changed)
	}
	if err != nil {
		return u.formError(w, r, "bot", u.botPageOf(q, b, f, false), err)
	}
	u.audit(r.Context(), q, audit.ActionBotChanged, string(b.ID))
	return redirect(w, r, u.botURL(q, b.ID))
}

func (u *UI) deleteBotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "botdelete", u.newPage(q, "Delete bot: "+b.Name, map[string]any{"Bot": b}))
}

func (u *UI) deleteBot(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.BotID(r.PathValue("botId"))
	if err := u.o.Store.DeleteBot(r.Context(), q.actor.Scope, id); err != nil {
		return err
	}
	u.audit(r.Context(), q, audit.ActionBotDeleted, string(id))
	return redirect(w, r, u.botsURL(q))
}

// ---- knowledge documents ----

type documentForm struct{ Title, Content, ContentType string }

func (u *UI) documentsData(r *http.Request, q *req, b palisade.Bot, f documentForm) (page, error) {
	docs, err := u.o.Store.ListDocuments(r.Context(), q.actor.Scope, b.ID)
	if err != nil {
		return page{}, err
	}
	return u.newPage(q, "Documents: "+b.Name, map[string]any{"Bot": b, "Docs": docs, "Form": f,
		"ContentTypes": knowledge.ContentTypes(), "MaxTitle": knowledge.MaxTitle}), nil
}

func (u *UI) documentsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	p, err := u.documentsData(r, q, b, documentForm{ContentType: knowledge.TypePlain})
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "documents", p)
}

func (u *UI) uploadDocument(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	f := documentForm{Title: r.PostFormValue("title"), Content: r.PostFormValue("content"), ContentType: r.PostFormValue("content_type")}
	ks := &knowledge.Service{Store: u.o.Store, Now: u.now}
	d, err := ks.Add(r.Context(), q.actor.Scope, b.ID, knowledge.NewDocument(f))
	if err != nil {
		p, derr := u.documentsData(r, q, b, f)
		if derr != nil {
			return derr
		}
		return u.formError(w, r, "documents", p, err)
	}
	u.audit(r.Context(), q, audit.ActionDocumentAdded, string(d.ID))
	return redirect(w, r, u.botURL(q, b.ID)+"/documents")
}

func (u *UI) deleteDocument(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if err := u.o.Store.DeleteDocument(r.Context(), q.actor.Scope, b.ID, palisade.DocumentID(r.PathValue("documentId"))); err != nil {
		return err
	}
	u.audit(r.Context(), q, audit.ActionDocumentDeleted, r.PathValue("documentId"))
	return redirect(w, r, u.botURL(q, b.ID)+"/documents")
}

// audit records one of the UI's own actions; a failure is logged by the
// recorder and does not undo what the user did, as in package account.
func (u *UI) audit(ctx context.Context, q *req, action audit.Action, target string) {
	if u.o.Audit == nil {
		return
	}
	e := account.AuditEvent{Workspace: q.ws.ID, Actor: string(q.cur.User.ID), Action: string(action), Target: target,
		Outcome: string(audit.OutcomeSuccess), IP: q.client.IP, RequestID: q.client.RequestID}
	if err := u.o.Audit.Record(ctx, e); err != nil {
		u.o.Logger.ErrorContext(ctx, "audit record failed", "action", string(action), "err", err)
	}
}
