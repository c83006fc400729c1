package admin

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/palisadehq/palisade/internal/bot"
	chwidget "github.com/palisadehq/palisade/internal/channel/widget"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Bot pages: list, create, edit and delete a workspace's bots, and list and
// upload their knowledge documents, through the bot service the REST API
// uses too. Every read goes through the actor's workspace scope, so another
// workspace's bot id reads as not found.

type botsView struct {
	Bots []palisade.Bot
}

func (botsView) template() string { return "bots" }

// botView is the bot page: a bot with its settings form, or, with New,
// the empty form that creates one.
type botView struct {
	Bot             palisade.Bot
	New             bool
	Form            botForm
	Models          []string
	PIIModes        []string
	MaxName         int
	MaxRetention    int
	MaxSystemPrompt int
	MaxTokens       int
	MaxTemperature  float64
	HasToken        bool
	// WidgetSnippet is the HTML a site pastes to show the bot's widget;
	// WidgetOrigins are the origins that may show it (none: it loads
	// nowhere).
	WidgetSnippet string
	WidgetOrigins []string
	// RetrievalOnly: no language model is configured, so the one choice
	// is the retrieval-only mode, which the form preselects and explains.
	RetrievalOnly bool
}

func (botView) template() string { return "bot" }

// retrievalOnly reports whether models offers only the retrieval-only
// mode: the server has no language model provider.
func retrievalOnly(models []string) bool {
	return len(models) == 1 && models[0] == llm.RetrievalOnly
}

type botDeleteView struct {
	Bot palisade.Bot
}

func (botDeleteView) template() string { return "botdelete" }

type documentsView struct {
	Bot          palisade.Bot
	Docs         []palisade.Document
	Form         documentForm
	ContentTypes []string
	MaxTitle     int
}

func (documentsView) template() string { return "documents" }

func (u *UI) botsURL(q *req) string { return "/w/" + string(q.ws.ID) + "/bots" }

func (u *UI) botURL(q *req, id palisade.BotID) string { return u.botsURL(q) + "/" + string(id) }

// botForm is what the bot form shows: the values as typed, so a refused
// form comes back as the user left it.
type botForm struct {
	Name, SystemPrompt, Model, Temperature, MaxOutputTokens, PIIMode, AllowedDomains, RetentionDays string
}

func formOf(b palisade.Bot) botForm {
	return botForm{Name: b.Name, SystemPrompt: b.SystemPrompt, Model: b.Model,
		Temperature: strconv.FormatFloat(b.Temperature, 'f', -1, 64), MaxOutputTokens: strconv.Itoa(b.MaxOutputTokens),
		PIIMode: string(b.PIIMode), AllowedDomains: strings.Join(b.AllowedDomains, "\n"), RetentionDays: retentionField(b.RetentionDays)}
}

// retentionField shows a bot's own retention, empty when it follows the
// workspace's.
func retentionField(days int) string {
	if days == 0 {
		return ""
	}
	return strconv.Itoa(days)
}

func botFormFrom(r *http.Request) botForm {
	return botForm{Name: r.PostFormValue("name"), SystemPrompt: r.PostFormValue("system_prompt"), Model: r.PostFormValue("model"),
		Temperature: r.PostFormValue("temperature"), MaxOutputTokens: r.PostFormValue("max_output_tokens"),
		PIIMode: r.PostFormValue("pii_mode"), AllowedDomains: r.PostFormValue("allowed_domains"), RetentionDays: r.PostFormValue("retention_days")}
}

// input turns the form into a bot.Input. Every field of the form is
// always sent, so every field is set: the form replaces the whole
// configuration. Numbers that do not parse are refused here, with the
// same field names the API uses; everything else is left to Apply.
func (f botForm) input() (bot.Input, error) {
	in := bot.Input{Name: &f.Name, SystemPrompt: &f.SystemPrompt, Model: &f.Model, PIIMode: &f.PIIMode}
	t, err := strconv.ParseFloat(strings.TrimSpace(f.Temperature), 64)
	if err != nil {
		return in, palisade.FieldError("temperature", "temperature must be a number between 0 and %g", bot.MaxTemperature)
	}
	in.Temperature = &t
	n, err := strconv.Atoi(strings.TrimSpace(f.MaxOutputTokens))
	if err != nil {
		return in, palisade.FieldError("max_output_tokens", "max_output_tokens must be a whole number between 1 and %d", bot.MaxOutputTokensCap)
	}
	in.MaxOutputTokens = &n
	days := 0
	if d := strings.TrimSpace(f.RetentionDays); d != "" {
		if days, err = strconv.Atoi(d); err != nil {
			return in, palisade.FieldError("retention_days", "retention_days must be a whole number of days between %d and %d, or empty", bot.MinRetentionDays, bot.MaxRetentionDays)
		}
	}
	in.RetentionDays = &days
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
	bots, err := u.o.Bots.List(r.Context(), q.actor.Scope)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, newPage(q, "Bots", botsView{Bots: bots}))
}

// botPageOf is the bot page of b, with the form showing f.
func (u *UI) botPageOf(r *http.Request, q *req, b palisade.Bot, f botForm, isNew bool) (page[botView], error) {
	models, err := u.o.Bots.Models(r.Context(), q.actor.Scope)
	if err != nil {
		return page[botView]{}, err
	}
	title := "Bot: " + b.Name
	if isNew {
		title = "Create a bot"
	}
	v := botView{Bot: b, New: isNew, Form: f, Models: models, PIIModes: bot.PIIModes(),
		MaxName: bot.MaxName, MaxRetention: bot.MaxRetentionDays, MaxSystemPrompt: bot.MaxSystemPrompt, MaxTokens: bot.MaxOutputTokensCap,
		MaxTemperature: bot.MaxTemperature, HasToken: len(b.GatewayTokenHash) > 0, RetrievalOnly: retrievalOnly(models)}
	if v.RetrievalOnly && isNew && v.Form.Model == "" {
		v.Form.Model = llm.RetrievalOnly
	}
	if !isNew {
		v.WidgetSnippet = `<script src="` + u.publicOrigin(r) + `/widget.js" data-bot="` + string(b.ID) + `" async></script>`
		v.WidgetOrigins = chwidget.Origins(b)
	}
	return newPage(q, title, v), nil
}

// renderBot renders the bot page, or, with err, the form as the user left
// it with err's message.
func (u *UI) renderBot(w http.ResponseWriter, r *http.Request, q *req, b palisade.Bot, f botForm, isNew bool, err error) error {
	p, perr := u.botPageOf(r, q, b, f, isNew)
	if perr != nil {
		return perr
	}
	if err != nil {
		return u.formError(w, p, err)
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) newBotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	draft, err := u.o.Bots.Draft(r.Context(), q.actor.Scope)
	if err != nil {
		return err
	}
	return u.renderBot(w, r, q, palisade.Bot{}, formOf(draft), true, nil)
}

func (u *UI) createBot(w http.ResponseWriter, r *http.Request, q *req) error {
	f := botFormFrom(r)
	in, err := f.input()
	var b palisade.Bot
	if err == nil {
		b, err = u.o.Bots.Create(r.Context(), q.caller(), in)
	}
	if err != nil {
		return u.renderBot(w, r, q, palisade.Bot{}, f, true, err)
	}
	return redirect(w, r, doneURL(u.botURL(q, b.ID), "bot-created"))
}

func (u *UI) getBot(r *http.Request, q *req) (palisade.Bot, error) {
	return u.o.Bots.Get(r.Context(), q.actor.Scope, palisade.BotID(r.PathValue("botId")))
}

func (u *UI) botPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	return u.renderBot(w, r, q, b, formOf(b), false, nil)
}

func (u *UI) updateBot(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	f := botFormFrom(r)
	in, err := f.input()
	if err == nil {
		_, err = u.o.Bots.Update(r.Context(), q.caller(), b.ID, in)
	}
	if err != nil {
		// The page shows the bot as stored, the form as the user left it.
		return u.renderBot(w, r, q, b, f, false, err)
	}
	return redirect(w, r, doneURL(u.botURL(q, b.ID), "bot-saved"))
}

func (u *UI) deleteBotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, newPage(q, "Delete bot: "+b.Name, botDeleteView{Bot: b}))
}

func (u *UI) deleteBot(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Bots.Delete(r.Context(), q.caller(), palisade.BotID(r.PathValue("botId"))); err != nil {
		return err
	}
	return redirect(w, r, doneURL(u.botsURL(q), "bot-deleted"))
}

// ---- knowledge documents ----

type documentForm struct{ Title, Content, ContentType string }

func (u *UI) documentsPageOf(r *http.Request, q *req, b palisade.Bot, f documentForm) (page[documentsView], error) {
	docs, err := u.o.Bots.Documents(r.Context(), q.actor.Scope, b.ID)
	if err != nil {
		return page[documentsView]{}, err
	}
	return newPage(q, "Documents: "+b.Name, documentsView{Bot: b, Docs: docs, Form: f,
		ContentTypes: knowledge.ContentTypes(), MaxTitle: knowledge.MaxTitle}), nil
}

func (u *UI) documentsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	p, err := u.documentsPageOf(r, q, b, documentForm{ContentType: knowledge.TypePlain})
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) uploadDocument(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	f := documentForm{Title: r.PostFormValue("title"), Content: r.PostFormValue("content"), ContentType: r.PostFormValue("content_type")}
	d := knowledge.NewDocument{Title: f.Title, Content: f.Content, ContentType: f.ContentType}
	if r.MultipartForm != nil && len(r.MultipartForm.File["file"]) > 0 {
		d, err = uploadedFile(r, f.Title)
		f = documentForm{ContentType: knowledge.TypePlain}
	}
	if err == nil {
		_, err = u.o.Bots.AddDocument(r.Context(), q.caller(), b.ID, d)
	}
	if err != nil {
		p, perr := u.documentsPageOf(r, q, b, f)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	return redirect(w, r, doneURL(u.botURL(q, b.ID)+"/documents", "doc-added"))
}

// DocumentsRoute is the UI's upload route, the one route whose body may be
// larger than the UI's body limit.
const DocumentsRoute = "POST /w/{workspaceId}/bots/{botId}/documents"

// UploadBodyLimits returns the body limits, by route pattern, that the
// edge must allow for uploads of files of at most maxFile bytes.
func UploadBodyLimits(maxFile int64) map[string]int64 {
	return map[string]int64{DocumentsRoute: maxFile + 64<<10}
}

// uploadedFile reads the form's file part (already parsed, in memory: the
// edge caps the body far below the form parser's memory threshold). The
// title is the form's, else the file's name, else the document's own.
func uploadedFile(r *http.Request, title string) (knowledge.NewDocument, error) {
	fh := r.MultipartForm.File["file"][0]
	f, err := fh.Open()
	if err != nil {
		return knowledge.NewDocument{}, palisade.WrapError(err, palisade.CodeInvalid, "the file could not be read")
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return knowledge.NewDocument{}, palisade.WrapError(err, palisade.CodeInvalid, "the file could not be read")
	}
	mt := knowledge.FileType(fh.Header.Get("Content-Type"), fh.Filename)
	if mt == "" {
		return knowledge.NewDocument{}, palisade.FieldError("file", "the file must be a PDF, DOCX, HTML, Markdown or text file")
	}
	if title == "" {
		title = knowledge.TitleFromFilename(fh.Filename)
	}
	return knowledge.NewDocument{Title: title, ContentType: mt, File: append([]byte{}, data...)}, nil
}

func (u *UI) deleteDocument(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if err := u.o.Bots.DeleteDocument(r.Context(), q.caller(), b.ID, palisade.DocumentID(r.PathValue("documentId"))); err != nil {
		return err
	}
	return redirect(w, r, doneURL(u.botURL(q, b.ID)+"/documents", "doc-deleted"))
}

// publicOrigin is the origin this request reached, which serves the widget
// too: https when it came over TLS (or through a trusted proxy that says
// so).
func (u *UI) publicOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || u.o.Proxies.ForwardedTLS(r) {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}
