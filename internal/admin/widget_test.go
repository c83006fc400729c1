package admin_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The bot page shows the widget snippet with a copy button (a script
// loaded from the UI's own origin, never inline) and the sites that may
// show it; with no allowed domains it says why the widget loads nowhere.
func TestBotWidgetSnippet(t *testing.T) {
	t.Parallel()
	e, ws, emails, _ := botsSetup(t)
	b := e.browser()
	b.login(emails["editor"])
	base := "/w/" + string(ws) + "/bots"
	if w := b.post(base+"/new", base, botForm("Shop helper")); w.Code != http.StatusSeeOther {
		t.Fatalf("create: %d: %s", w.Code, w.Body.String())
	}
	bot := listBots(t, e, ws)[0]
	page := base + "/" + string(bot.ID)
	w := b.get(page)
	body := w.Body.String()
	snippet := regexp.MustCompile(`<code id="widget-snippet">([^<]*)</code>`).FindStringSubmatch(body)
	want := `&lt;script src=&#34;https://ui.example/widget.js&#34; data-bot=&#34;` + string(bot.ID) + `&#34; async&gt;&lt;/script&gt;`
	if w.Code != http.StatusOK || snippet == nil || snippet[1] != want {
		t.Fatalf("bot page: %d, snippet %q, want %q", w.Code, snippet, want)
	}
	if !strings.Contains(body, `<button type="button" class="secondary" data-copy="widget-snippet">`) || !strings.Contains(body, `<script src="/static/admin.js" defer></script>`) {
		t.Fatalf("no copy button or its script:\n%s", body)
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(m, ` src="/static/`) {
			t.Fatalf("inline script on the bot page: %s", m)
		}
	}
	origins := regexp.MustCompile(`(?s)<ul id="widget-origins">(.*?)</ul>`).FindStringSubmatch(body)
	if origins == nil || !strings.Contains(origins[1], "<code>https://shop.example.com</code>") || !strings.Contains(origins[1], "<code>https://help.example.org</code>") ||
		strings.Contains(body, `id="widget-none"`) {
		t.Fatalf("allowed origins not shown:\n%s", body)
	}
	if w := b.get("/static/admin.js"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "navigator.clipboard") {
		t.Fatalf("admin.js: %d", w.Code)
	}

	// No domains: the page says the widget loads nowhere, and why.
	f := botForm("Shop helper")
	f.Set("allowed_domains", "")
	if w := b.post(page, page, f); w.Code != http.StatusSeeOther {
		t.Fatalf("edit: %d: %s", w.Code, w.Body.String())
	}
	body = b.get(page).Body.String()
	if !strings.Contains(body, `id="widget-none"`) || !strings.Contains(body, "will not load anywhere") || strings.Contains(body, `id="widget-origins"`) {
		t.Fatalf("no explanation without domains:\n%s", body)
	}
}
