package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// postWith submits form to path with an already fetched form token, so
// the page that carries the token is read once, not before every post.
func (b *browser) postWith(token, path string, form url.Values) *httptest.ResponseRecorder {
	form.Set("csrf", token)
	return b.send(b.request(http.MethodPost, path, form))
}

// wantLimited checks a refusal by the management limits: 429 through the
// HTML error page, with Retry-After and the RateLimit headers of class.
func wantLimited(t *testing.T, what string, w *httptest.ResponseRecorder, class ratelimit.Class) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429", what, w.Code)
	}
	if w.Header().Get("Retry-After") == "" || !strings.HasPrefix(w.Header().Get("RateLimit-Policy"), `"`+string(class)+`"`) ||
		!strings.HasPrefix(w.Header().Get("RateLimit"), `"`+string(class)+`";r=0`) {
		t.Fatalf("%s: Retry-After %q, RateLimit-Policy %q, RateLimit %q", what, w.Header().Get("Retry-After"),
			w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("%s: Content-Type %q, want the HTML error page", what, ct)
	}
}

// The admin UI applies the API's management limits to each signed-in user
// (SPEC R4, mgmt_write 5/min and mgmt_read 20/min by default): the sixth
// change to a workspace in a minute and the twenty-first read of its pages
// are refused with 429, Retry-After and RateLimit headers on the HTML
// error page, while another user, the user's own account pages and the
// static assets are not limited, and a minute later the user may go on.
func TestManagementLimitsPerUser(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	ws, emails := roleUsers(t, e)
	base := "/w/" + string(ws)

	writer := e.browser()
	writer.login(emails["editor"])
	token := writer.csrf(base + "/bots/new")
	for i := range 5 {
		if w := writer.postWith(token, base+"/bots", botForm("bot "+string(rune('a'+i)))); w.Code != http.StatusSeeOther {
			t.Fatalf("bot creation %d: status %d", i+1, w.Code)
		}
	}
	wantLimited(t, "sixth bot creation", writer.postWith(token, base+"/bots", botForm("one too many")), ratelimit.ClassMgmtWrite)
	if n := len(listBots(t, e, ws)); n != 5 {
		t.Fatalf("%d bots created, want 5", n)
	}

	// Another user's quota is their own.
	other := e.browser()
	other.login(emails["admin"])
	if w := other.post(base+"/bots/new", base+"/bots", botForm("admin's bot")); w.Code != http.StatusSeeOther {
		t.Fatalf("another user's bot creation: status %d", w.Code)
	}

	reader := e.browser()
	reader.login(emails["viewer"])
	pages := []string{base, base + "/bots", base + "/members"}
	for i := range 20 {
		if w := reader.get(pages[i%len(pages)]); w.Code != http.StatusOK || w.Header().Get("RateLimit") == "" {
			t.Fatalf("read %d: status %d, RateLimit %q", i+1, w.Code, w.Header().Get("RateLimit"))
		}
	}
	wantLimited(t, "21st read", reader.get(base+"/bots"), ratelimit.ClassMgmtRead)
	// Account self-service and static assets are not management.
	for _, path := range []string{"/account", "/account/sessions", "/static/admin.css"} {
		if w := reader.get(path); w.Code != http.StatusOK {
			t.Errorf("GET %s while management reads are limited: status %d", path, w.Code)
		}
	}

	e.clock.Advance(61 * time.Second)
	if w := reader.get(base + "/bots"); w.Code != http.StatusOK {
		t.Fatalf("read a minute later: status %d", w.Code)
	}
	if w := writer.postWith(token, base+"/bots", botForm("a minute later")); w.Code != http.StatusSeeOther {
		t.Fatalf("bot creation a minute later: status %d", w.Code)
	}
}

// Invitations are management writes: a member cannot send more than the
// write limit's worth of invitation mail in a minute.
func TestInvitationsLimited(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults()})
	_, ws := e.owner("owner@example.com")
	members := "/w/" + string(ws.ID) + "/members"
	owner := e.browser()
	owner.login("owner@example.com")
	token := owner.csrf(members)
	invite := func(i int) *httptest.ResponseRecorder {
		return owner.postWith(token, members+"/invite", url.Values{"email": {"guest" + string(rune('a'+i)) + "@example.com"}, "role": {string(palisade.RoleViewer)}})
	}
	for i := range 5 {
		if w := invite(i); w.Code != http.StatusSeeOther {
			t.Fatalf("invitation %d: status %d", i+1, w.Code)
		}
	}
	wantLimited(t, "sixth invitation", invite(5), ratelimit.ClassMgmtWrite)
	e.mail.mu.Lock()
	sent := len(e.mail.msgs)
	e.mail.mu.Unlock()
	if sent != 5 {
		t.Fatalf("%d invitation mails sent, want 5", sent)
	}
}

// Adding documents spends the ingestion budget, not the five management
// writes a minute: a batch of uploads goes through, the upload past the
// ingestion limit is refused with that class, and the user can still make
// management changes.
func TestDocumentUploadsHaveTheirOwnBudget(t *testing.T) {
	t.Parallel()
	limits := ratelimit.Defaults()
	if err := limits.Set(ratelimit.ClassIngest, "12/min"); err != nil {
		t.Fatal(err)
	}
	e := setup(t, setupOpts{limits: limits})
	ws, emails := roleUsers(t, e)
	base := "/w/" + string(ws)
	editor := e.browser()
	editor.login(emails["editor"])
	token := editor.csrf(base + "/bots/new")
	if w := editor.postWith(token, base+"/bots", botForm("Handbook")); w.Code != http.StatusSeeOther {
		t.Fatalf("bot creation: status %d", w.Code)
	}
	bots := listBots(t, e, ws)
	if len(bots) != 1 {
		t.Fatalf("%d bots", len(bots))
	}
	docs := base + "/bots/" + string(bots[0].ID) + "/documents"
	upload := func(i int) *httptest.ResponseRecorder {
		return editor.postWith(token, docs, url.Values{"title": {"Page " + string(rune('A'+i))}, "content_type": {"text/plain"}, "content": {"Chapter text."}})
	}
	for i := range 12 {
		if w := upload(i); w.Code != http.StatusSeeOther {
			t.Fatalf("upload %d: status %d: %s", i+1, w.Code, w.Body.String())
		}
	}
	wantLimited(t, "13th upload", upload(12), ratelimit.ClassIngest)
	for i := range 4 {
		if w := editor.postWith(token, base+"/bots", botForm("after uploads "+string(rune('a'+i)))); w.Code != http.StatusSeeOther {
			t.Fatalf("management write %d after the uploads: status %d", i+1, w.Code)
		}
	}
}
