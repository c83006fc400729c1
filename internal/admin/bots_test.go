package admin_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
)

var testModels = []string{"model-small", "model-large"}

// botsSetup is setup with the bot options wired: a short model allowlist,
// a real gateway-token issuer and the fake audit recorder.
func botsSetup(t *testing.T) (*env, palisade.WorkspaceID, map[string]string, *gateway.Tokens) {
	t.Helper()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.mount(t, testModels, tokens)
	return e, ws, emails, tokens
}

func botForm(name string) url.Values {
	return url.Values{"name": {name}, "system_prompt": {"You answer questions about returns.\r\nBe brief."},
		"model": {"model-large"}, "temperature": {"0.3"}, "max_output_tokens": {"1000"}, "pii_mode": {"before_llm"},
		"allowed_domains": {"Shop.Example.com\r\n\r\n  help.example.org  \nshop.example.com\n"}}
}

func listBots(t *testing.T, e *env, ws palisade.WorkspaceID) []palisade.Bot {
	t.Helper()
	bots, err := e.store.ListBots(t.Context(), palisade.ScopeFor(ws))
	if err != nil {
		t.Fatal(err)
	}
	return bots
}

// An editor creates, edits and deletes a bot and uploads a document, all
// through the forms with their CSRF token.
func TestBotFlow(t *testing.T) {
	t.Parallel()
	e, ws, emails, tokens := botsSetup(t)
	b := e.browser()
	b.login(emails["editor"])
	base := "/w/" + string(ws) + "/bots"

	if w := b.get(base); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `href="`+base+`/new"`) {
		t.Fatalf("bots page: %d, create link missing: %s", w.Code, w.Body.String())
	}
	if w := b.get(base); w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q", w.Header().Get("Cache-Control"))
	}

	w := b.post(base+"/new", base, botForm("Returns helper"))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d: %s", w.Code, w.Body.String())
	}
	bots := listBots(t, e, ws)
	if len(bots) != 1 {
		t.Fatalf("%d bots after create", len(bots))
	}
	bot := bots[0]
	if location(w) != base+"/"+string(bot.ID) {
		t.Fatalf("redirect to %q", location(w))
	}
	if bot.Name != "Returns helper" || bot.Model != "model-large" || bot.Temperature != 0.3 || bot.MaxOutputTokens != 1000 ||
		bot.PIIMode != palisade.PIIBeforeLLM || !slices.Equal(bot.AllowedDomains, []string{"shop.example.com", "help.example.org"}) ||
		!strings.Contains(bot.SystemPrompt, "Be brief.") {
		t.Fatalf("stored bot = %+v", bot)
	}
	// The gateway token is issued as the API issues it: the stored hash is
	// that of the token derived from the stored salt.
	if len(bot.GatewayTokenSalt) == 0 || !bytes.Equal(bot.GatewayTokenHash, gateway.HashToken(tokens.Token(bot.ID, bot.GatewayTokenSalt))) {
		t.Fatal("gateway token not issued, or its hash does not match")
	}
	if !e.audit.has(audit.ActionBotCreated, audit.OutcomeSuccess) {
		t.Fatal("bot creation not audited")
	}
	page := base + "/" + string(bot.ID)
	if w := b.get(page); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Returns helper") ||
		!strings.Contains(w.Body.String(), "help.example.org") {
		t.Fatalf("bot page: %d: %s", w.Code, w.Body.String())
	}

	// Edit.
	f := botForm("Returns helper v2")
	f.Set("max_output_tokens", "4096")
	f.Set("pii_mode", "off")
	f.Set("allowed_domains", "")
	if w := b.post(page, page, f); w.Code != http.StatusSeeOther {
		t.Fatalf("edit: %d: %s", w.Code, w.Body.String())
	}
	got, err := e.store.GetBot(t.Context(), palisade.ScopeFor(ws), bot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Returns helper v2" || got.MaxOutputTokens != 4096 || got.PIIMode != palisade.PIIOff || len(got.AllowedDomains) != 0 {
		t.Fatalf("edited bot = %+v", got)
	}
	if !bytes.Equal(got.GatewayTokenHash, bot.GatewayTokenHash) {
		t.Fatal("editing changed the gateway token")
	}
	if !e.audit.has(audit.ActionBotChanged, audit.OutcomeSuccess) {
		t.Fatal("bot change not audited")
	}

	// Upload a document, then see it listed.
	docs := page + "/documents"
	w = b.post(docs, docs, url.Values{"title": {"Returns policy"}, "content_type": {"text/markdown"},
		"content": {"# Returns\n\nYou may return any item within **30 days** of delivery."}})
	if w.Code != http.StatusSeeOther || location(w) != docs {
		t.Fatalf("upload: %d %q: %s", w.Code, location(w), w.Body.String())
	}
	stored, err := e.store.ListDocuments(t.Context(), palisade.ScopeFor(ws), bot.ID)
	if err != nil || len(stored) != 1 || stored[0].Title != "Returns policy" || stored[0].ContentType != "text/markdown" || stored[0].Chunks < 1 {
		t.Fatalf("documents = %+v, %v", stored, err)
	}
	if w := b.get(docs); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Returns policy") {
		t.Fatalf("documents page: %d: %s", w.Code, w.Body.String())
	}
	// A refused upload comes back with the message and stores nothing.
	w = b.post(docs, docs, url.Values{"title": {"Bad"}, "content_type": {"application/pdf"}, "content": {"x"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "content_type") {
		t.Fatalf("bad content type: %d: %s", w.Code, w.Body.String())
	}
	if stored, _ := e.store.ListDocuments(t.Context(), palisade.ScopeFor(ws), bot.ID); len(stored) != 1 {
		t.Fatalf("%d documents after a refused upload", len(stored))
	}
	// The file picker: a plain multipart form, no script needed.
	if body := b.get(docs).Body.String(); !strings.Contains(body, `enctype="multipart/form-data"`) || !strings.Contains(body, `type="file" name="file"`) {
		t.Fatalf("documents page has no file picker: %s", body)
	}
	docx := docparsetest.DOCX("Core title", []string{"Exchanges are possible within 60 days."}, docparsetest.DOCXOptions{})
	w = b.postFile(docs, docs, "exchange-policy.docx", "application/octet-stream", docx, "")
	if w.Code != http.StatusSeeOther || location(w) != docs {
		t.Fatalf("file upload: %d %q: %s", w.Code, location(w), w.Body.String())
	}
	stored, _ = e.store.ListDocuments(t.Context(), palisade.ScopeFor(ws), bot.ID)
	if len(stored) != 2 || !slices.ContainsFunc(stored, func(d palisade.Document) bool {
		return d.Title == "exchange-policy" && d.ContentType == knowledge.TypeDOCX && d.Chunks == 1
	}) {
		t.Fatalf("documents after a file upload = %+v", stored)
	}
	w = b.postFile(docs, docs, "tool.exe", "application/octet-stream", []byte("MZ"), "Tool")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "PDF, DOCX, HTML, Markdown or text") {
		t.Fatalf("executable upload: %d: %s", w.Code, w.Body.String())
	}
	// Without the form token the upload is refused like any post.
	w = b.postFileWithToken("", docs, "a.txt", "text/plain", []byte("text"), "t")
	if w.Code != http.StatusForbidden {
		t.Fatalf("file upload without the form token: %d", w.Code)
	}
	if stored, _ := e.store.ListDocuments(t.Context(), palisade.ScopeFor(ws), bot.ID); len(stored) != 2 {
		t.Fatalf("%d documents after refused file uploads", len(stored))
	}

	// Delete, through the confirm page.
	if w := b.get(page + "/delete"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `action="`+page+`/delete"`) {
		t.Fatalf("confirm page: %d: %s", w.Code, w.Body.String())
	}
	w = b.post(page+"/delete", page+"/delete", nil)
	if w.Code != http.StatusSeeOther || location(w) != base {
		t.Fatalf("delete: %d %q", w.Code, location(w))
	}
	if _, err := e.store.GetBot(t.Context(), palisade.ScopeFor(ws), bot.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("bot still there after delete: %v", err)
	}
	if !e.audit.has(audit.ActionBotDeleted, audit.OutcomeSuccess) {
		t.Fatal("bot deletion not audited")
	}
	if w := b.get(page); w.Code != http.StatusNotFound {
		t.Fatalf("deleted bot page: %d", w.Code)
	}
}

// Every field is validated as the API validates it; a refused form comes
// back with the message and the values typed, and changes nothing.
func TestBotFormValidation(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	b := e.browser()
	b.login(emails["editor"])
	base := "/w/" + string(ws) + "/bots"
	tests := []struct {
		field, value, want string
	}{
		{"name", "", "name"},
		{"name", strings.Repeat("n", 101), "name"},
		{"model", "gpt-not-allowed", "allowlist"},
		{"temperature", "2.5", "temperature"},
		{"temperature", "NaN", "temperature"},
		{"temperature", "warm", "temperature"},
		{"max_output_tokens", "4097", "max_output_tokens"},
		{"max_output_tokens", "0", "max_output_tokens"},
		{"max_output_tokens", "lots", "max_output_tokens"},
		{"pii_mode", "sometimes", "pii_mode"},
		{"allowed_domains", "good.example.com\nhttp://evil.example/x", "allowed_domains"},
		{"allowed_domains", strings.Repeat("a.example.com\n", 21), "allowed_domains"},
		{"system_prompt", "hi\x00there", "system_prompt"},
	}
	for _, tt := range tests {
		f := botForm("Typed name 42")
		f.Set(tt.field, tt.value)
		w := b.post(base+"/new", base, f)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s=%q: %d, want 400 naming %q: %s", tt.field, tt.value, w.Code, tt.want, w.Body.String())
			continue
		}
		if tt.field != "name" && !strings.Contains(w.Body.String(), `value="Typed name 42"`) {
			t.Errorf("%s=%q: the form did not keep the typed name", tt.field, tt.value)
		}
	}
	if n := len(listBots(t, e, ws)); n != 0 {
		t.Fatalf("%d bots created by refused forms", n)
	}

	// A refused edit leaves the bot as it was.
	if w := b.post(base+"/new", base, botForm("Keeper")); w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d", w.Code)
	}
	before := listBots(t, e, ws)[0]
	page := base + "/" + string(before.ID)
	f := botForm("Changed name")
	f.Set("max_output_tokens", "5000")
	if w := b.post(page, page, f); w.Code != http.StatusBadRequest {
		t.Fatalf("bad edit: %d", w.Code)
	}
	after := listBots(t, e, ws)[0]
	if after.Name != "Keeper" || after.MaxOutputTokens != 1000 {
		t.Fatalf("a refused edit changed the bot: %+v", after)
	}
}

// A viewer sees bots but can change nothing, and is shown no forms.
func TestBotViewerCannotChange(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	editor := e.browser()
	editor.login(emails["editor"])
	base := "/w/" + string(ws) + "/bots"
	if w := editor.post(base+"/new", base, botForm("Existing")); w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d", w.Code)
	}
	bot := listBots(t, e, ws)[0]
	page := base + "/" + string(bot.ID)

	v := e.browser()
	v.login(emails["viewer"])
	w := v.get(base)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Existing") || strings.Contains(w.Body.String(), base+"/new") {
		t.Fatalf("viewer's bots page: %d: %s", w.Code, w.Body.String())
	}
	w = v.get(page)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `action="`+page+`"`) || strings.Contains(w.Body.String(), "/delete") {
		t.Fatalf("viewer's bot page shows change forms: %d: %s", w.Code, w.Body.String())
	}
	refused := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, base + "/new", nil},
		{http.MethodPost, base, botForm("Sneaky")},
		{http.MethodPost, page, botForm("Sneaky")},
		{http.MethodGet, page + "/delete", nil},
		{http.MethodPost, page + "/delete", url.Values{}},
		{http.MethodPost, page + "/documents", url.Values{"title": {"t"}, "content_type": {"text/plain"}, "content": {"c"}}},
	}
	for _, r := range refused {
		var w *httptest.ResponseRecorder
		if r.method == http.MethodGet {
			w = v.get(r.path)
		} else {
			w = v.post("/account", r.path, r.form)
		}
		if w.Code != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", r.method, r.path, w.Code)
		}
	}
	got := listBots(t, e, ws)
	if len(got) != 1 || got[0].Name != "Existing" {
		t.Fatalf("a viewer changed the bots: %+v", got)
	}
	if docs, _ := e.store.ListDocuments(t.Context(), palisade.ScopeFor(ws), bot.ID); len(docs) != 0 {
		t.Fatal("a viewer uploaded a document")
	}
}

// Another workspace's bot id reads as not found on every bot route, even
// for an owner of this workspace, and nothing happens to it.
func TestBotOtherWorkspaceIsNotFound(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	// The stranger owns a workspace of their own with a bot in it.
	stranger := e.browser()
	stranger.login(emails["non-member"])
	ms, err := e.store.ListUserMemberships(t.Context(), mustUserID(t, e, emails["non-member"]))
	if err != nil || len(ms) != 1 {
		t.Fatalf("stranger's memberships: %v %v", ms, err)
	}
	other := ms[0].WorkspaceID
	otherBase := "/w/" + string(other) + "/bots"
	if w := stranger.post(otherBase+"/new", otherBase, botForm("Theirs")); w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", w.Code, w.Body.String())
	}
	theirs := listBots(t, e, other)[0]

	b := e.browser()
	b.login(emails["owner"])
	mine := "/w/" + string(ws) + "/bots/" + string(theirs.ID)
	tries := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, mine, nil},
		{http.MethodPost, mine, botForm("Hijacked")},
		{http.MethodGet, mine + "/delete", nil},
		{http.MethodPost, mine + "/delete", url.Values{}},
		{http.MethodGet, mine + "/documents", nil},
		{http.MethodPost, mine + "/documents", url.Values{"title": {"t"}, "content_type": {"text/plain"}, "content": {"planted"}}},
		// And through the other workspace's own path: not a member there.
		{http.MethodGet, otherBase + "/" + string(theirs.ID), nil},
		{http.MethodPost, otherBase + "/" + string(theirs.ID) + "/delete", url.Values{}},
	}
	for _, tr := range tries {
		var w *httptest.ResponseRecorder
		if tr.method == http.MethodGet {
			w = b.get(tr.path)
		} else {
			w = b.post("/account", tr.path, tr.form)
		}
		if w.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tr.method, tr.path, w.Code)
		}
		if strings.Contains(w.Body.String(), "Theirs") {
			t.Errorf("%s %s: the other workspace's bot name leaked", tr.method, tr.path)
		}
	}
	got, err := e.store.GetBot(t.Context(), palisade.ScopeFor(other), theirs.ID)
	if err != nil || got.Name != "Theirs" {
		t.Fatalf("the other workspace's bot changed: %+v %v", got, err)
	}
	if docs, _ := e.store.ListDocuments(t.Context(), palisade.ScopeFor(other), theirs.ID); len(docs) != 0 {
		t.Fatal("a document was planted in another workspace's bot")
	}
}

// A bot name carrying markup renders as text on every page that shows it.
func TestBotNameXSSIsInert(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	b := e.browser()
	b.login(emails["editor"])
	base := "/w/" + string(ws) + "/bots"
	const evil = `"><img src=x onerror=alert(1)><script>alert(2)</script>`
	if w := b.post(base+"/new", base, botForm(evil)); w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d: %s", w.Code, w.Body.String())
	}
	bot := listBots(t, e, ws)[0]
	if bot.Name != evil {
		t.Fatalf("stored name %q", bot.Name)
	}
	page := base + "/" + string(bot.ID)
	for _, p := range []string{base, page, page + "/delete", page + "/documents"} {
		w := b.get(p)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		if strings.Contains(body, "<img") || strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s renders the name as markup: %s", p, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(2)&lt;/script&gt;") {
			t.Errorf("GET %s does not show the name escaped: %s", p, body)
		}
	}
}

// TestBotFormExplainsPIIModes: the bot form says what each PII mode does,
// next to the choice.
func TestBotFormExplainsPIIModes(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	_, ws := e.owner("owner@example.com")
	b := e.browser()
	b.login("owner@example.com")
	w := b.get("/w/" + string(ws.ID) + "/bots/new")
	if w.Code != http.StatusOK {
		t.Fatalf("bot form: %d", w.Code)
	}
	for _, mode := range []palisade.PIIMode{palisade.PIIOff, palisade.PIIBeforeLLM, palisade.PIIBeforeStorage} {
		if !strings.Contains(w.Body.String(), "<li><strong>"+string(mode)+"</strong>: ") {
			t.Errorf("the form does not explain %s", mode)
		}
	}
}
