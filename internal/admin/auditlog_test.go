package admin_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
)

var auditSeqRE = regexp.MustCompile(`<tr><td>(\d+)</td>`)

// seqs returns the entry numbers an audit page shows, in order.
func seqs(t *testing.T, body string) []int {
	t.Helper()
	var out []int
	for _, m := range auditSeqRE.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func recordAudit(t *testing.T, e *env, ws palisade.WorkspaceID, entries ...audit.Entry) {
	t.Helper()
	l := audit.New(e.store, audit.Options{Now: e.clock.Now})
	for _, en := range entries {
		if err := l.Record(t.Context(), palisade.ScopeFor(ws), en); err != nil {
			t.Fatal(err)
		}
	}
}

// The audit log shows owners and admins every field, escaped; editors and
// viewers are refused, non-members see no workspace at all.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	owner := mustUserID(t, e, emails["owner"])
	const evilTarget = `<script>alert("pwned")</script>`
	recordAudit(t, e, ws,
		audit.Entry{Actor: string(owner), Action: audit.ActionAPIKeyCreated, Target: "key_first", Outcome: audit.OutcomeSuccess,
			ClientIP: netip.MustParseAddr("198.51.100.7"), RequestID: "req-abc-123"},
		audit.Entry{Actor: audit.ActorAnonymous, Action: audit.ActionLoginFailure, Target: evilTarget, Outcome: audit.OutcomeFailure,
			ClientIP: netip.MustParseAddr("2001:db8::9"), RequestID: "req-def-456", Detail: map[string]string{"reason": `<img src=x onerror=alert(1)>`}},
	)
	path := "/w/" + string(ws) + "/audit"
	for _, who := range []string{"owner", "admin"} {
		b := e.browser()
		b.login(emails[who])
		w := b.get(path)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", who, w.Code)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", who, w.Header().Get("Cache-Control"))
		}
		for _, want := range []string{"apikey.created", "key_first", "success", "198.51.100.7", "req-abc-123", emails["owner"],
			string(owner), "login.failure", "failure", "2001:db8::9", "req-def-456", "anonymous",
			"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", "reason=&lt;img src=x onerror=alert(1)&gt;"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", who, want)
			}
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img") {
			t.Errorf("%s: audit fields rendered as markup: %s", who, body)
		}
		if got := seqs(t, body); len(got) != 2 || got[0] != 2 || got[1] != 1 {
			t.Errorf("%s: entries %v, want newest first [2 1]", who, got)
		}
		if !strings.Contains(body, `href="`+path+`"`) {
			t.Errorf("%s: no navigation link to the audit log", who)
		}
	}
	for who, want := range map[string]int{"editor": http.StatusForbidden, "viewer": http.StatusForbidden, "non-member": http.StatusNotFound} {
		b := e.browser()
		b.login(emails[who])
		w := b.get(path)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", who, w.Code, want)
		}
		if strings.Contains(w.Body.String(), "req-abc-123") {
			t.Errorf("%s: saw the log", who)
		}
		if who == "editor" {
			if ws := b.get("/w/" + string(ws)); ws.Code != http.StatusOK || strings.Contains(ws.Body.String(), path) {
				t.Errorf("editor's workspace page (%d) links to the audit log", ws.Code)
			}
		}
	}
	// Another workspace's entries never show here.
	otherWS := func() palisade.WorkspaceID {
		ms, _ := e.store.ListUserMemberships(t.Context(), mustUserID(t, e, emails["non-member"]))
		return ms[0].WorkspaceID
	}()
	recordAudit(t, e, otherWS, audit.Entry{Actor: "cli", Action: audit.ActionWorkspaceChanged, Target: "their-secret-target", Outcome: audit.OutcomeSuccess})
	b := e.browser()
	b.login(emails["owner"])
	if strings.Contains(b.get(path).Body.String(), "their-secret-target") {
		t.Fatal("another workspace's audit entry is shown")
	}
}

// The log pages newest first, 50 at a time, through ?before=.
func TestAuditPaging(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	var entries []audit.Entry
	for i := 1; i <= 101; i++ {
		entries = append(entries, audit.Entry{Actor: "cli", Action: audit.ActionWorkspaceChanged, Target: fmt.Sprintf("t-%d", i), Outcome: audit.OutcomeSuccess})
	}
	recordAudit(t, e, ws, entries...)
	b := e.browser()
	b.login(emails["admin"])
	path := "/w/" + string(ws) + "/audit"
	want := func(from, to int) []int {
		var out []int
		for i := from; i >= to; i-- {
			out = append(out, i)
		}
		return out
	}
	pages := []struct {
		url      string
		from, to int
		next     string
	}{
		{path, 101, 52, "?before=52"},
		{path + "?before=52", 51, 2, "?before=2"},
		{path + "?before=2", 1, 1, ""},
	}
	for _, p := range pages {
		w := b.get(p.url)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", p.url, w.Code)
		}
		got := seqs(t, w.Body.String())
		if fmt.Sprint(got) != fmt.Sprint(want(p.from, p.to)) {
			t.Fatalf("%s: entries %v, want %d..%d", p.url, got, p.from, p.to)
		}
		hasNext := strings.Contains(w.Body.String(), "Older entries")
		if (p.next != "") != hasNext || (p.next != "" && !strings.Contains(w.Body.String(), `href="`+path+p.next+`"`)) {
			t.Fatalf("%s: next link wrong (want %q): %s", p.url, p.next, w.Body.String())
		}
	}
	for _, bad := range []string{"?before=abc", "?before=0", "?before=-5", "?before=99999999999999999999"} {
		if w := b.get(path + bad); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, w.Code)
		}
	}
}

// An API key's actions name the key, not only its id, with the address
// it was used from.
func TestAuditNamesAPIKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	keys := "/w/" + string(ws) + "/keys"
	b := e.browser()
	b.login(emails["owner"])
	if w := b.post(keys, keys, url.Values{"name": {"deploy-bot"}, "scope": {"bots:read"}}); w.Code != http.StatusOK && w.Code != http.StatusSeeOther {
		t.Fatalf("create key: %d %s", w.Code, w.Body.String())
	}
	list, err := e.store.ListAPIKeys(t.Context(), palisade.ScopeFor(ws))
	if err != nil || len(list) != 1 {
		t.Fatalf("keys: %v %v", list, err)
	}
	recordAudit(t, e, ws, audit.Entry{Actor: string(list[0].ID), Action: audit.ActionBotCreated, Target: "bot_x", Outcome: audit.OutcomeSuccess,
		ClientIP: netip.MustParseAddr("203.0.113.5")})
	body := b.get("/w/" + string(ws) + "/audit").Body.String()
	for _, want := range []string{"API key “deploy-bot”", string(list[0].ID), "203.0.113.5"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}

// The audit log filters by action, actor and time, and its page links keep
// the filters.
func TestAuditFiltersPage(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	ws, emails := roleUsers(t, e)
	owner := mustUserID(t, e, emails["owner"])
	var entries []audit.Entry
	for i := range 60 {
		action := audit.ActionBotChanged
		if i%2 == 0 {
			action = audit.ActionDocumentAdded
		}
		entries = append(entries, audit.Entry{Actor: string(owner), Action: action, Target: fmt.Sprint("t", i), Outcome: audit.OutcomeSuccess})
	}
	entries = append(entries, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionBotChanged, Target: "by-cli", Outcome: audit.OutcomeSuccess})
	recordAudit(t, e, ws, entries...)
	path := "/w/" + string(ws) + "/audit"
	b := e.browser()
	b.login(emails["admin"])
	body := b.get(path + "?action=bot.changed").Body.String()
	if strings.Contains(body, "<td>document.added</td>") || !strings.Contains(body, "<td>by-cli</td>") {
		t.Fatalf("action filter:\n%s", body)
	}
	if got := len(seqs(t, body)); got != 31 {
		t.Fatalf("action filter: %d entries, want 31", got)
	}
	body = b.get(path + "?action=bot.changed&actor=" + string(owner) + "&days=7").Body.String()
	if strings.Contains(body, "<td>by-cli</td>") || len(seqs(t, body)) != 30 {
		t.Fatalf("actor filter: %d entries", len(seqs(t, body)))
	}
	body = b.get(path + "?action=document.added").Body.String()
	m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(path) + `\?before=\d+&amp;action=document.added)"`).FindStringSubmatch(body)
	if len(seqs(t, body)) != 30 || m != nil {
		t.Fatalf("30 document entries fit one page; next link %v", m)
	}
	body = b.get(path + "?days=7").Body.String()
	m = regexp.MustCompile(`href="(` + regexp.QuoteMeta(path) + `\?before=\d+&amp;days=7)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the next page's link drops the filter:\n%s", body)
	}
	if w := b.get(path + "?days=365"); w.Code != http.StatusBadRequest {
		t.Fatalf("unknown span: %d", w.Code)
	}
}
