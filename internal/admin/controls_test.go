package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/palisadehq/palisade/internal/admin"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

// routePerms resolves a method and path to the permission its route
// declares, through a mux built from the route table, so the test matches
// paths exactly as the UI does.
type routePerms struct {
	mux   *http.ServeMux
	perms map[string]auth.Permission
}

func newRoutePerms(routes []admin.Route) routePerms {
	rp := routePerms{mux: http.NewServeMux(), perms: map[string]auth.Permission{}}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		rp.perms[key] = rt.Perm
		rp.mux.Handle(key, http.NotFoundHandler())
	}
	return rp
}

// perm returns the permission of the route serving method and target, and
// whether there is one.
func (rp routePerms) perm(method, target string) (auth.Permission, bool) {
	r := httptest.NewRequest(method, target, nil)
	_, pattern := rp.mux.Handler(r)
	p, ok := rp.perms[pattern]
	return p, ok
}

// control is a link or form a page offers.
type control struct {
	method, target, what string
}

// pageControls lists the page's same-site links and forms, and reports
// form fields no label names.
func pageControls(t *testing.T, body string) (controls []control, unlabelled []string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	labelFor := map[string]bool{}
	var fields []*html.Node
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "a":
				if href, ok := attr(n, "href"); ok && strings.HasPrefix(href, "/") && !strings.HasPrefix(href, "/static/") {
					controls = append(controls, control{http.MethodGet, href, "link " + href})
				}
			case "form":
				method, _ := attr(n, "method")
				action, ok := attr(n, "action")
				if !ok {
					action = "" // posts to the page itself; judged by the page's own route
				}
				if action != "" {
					controls = append(controls, control{strings.ToUpper(method), action, "form " + action})
				}
			case "label":
				if f, ok := attr(n, "for"); ok {
					labelFor[f] = true
				}
				inLabel = true
			case "input", "select", "textarea":
				typ, _ := attr(n, "type")
				if typ != "hidden" && typ != "submit" {
					if _, ok := attr(n, "aria-label"); !ok && !inLabel {
						fields = append(fields, n)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(doc, false)
	for _, f := range fields {
		id, _ := attr(f, "id")
		if id == "" || !labelFor[id] {
			name, _ := attr(f, "name")
			unlabelled = append(unlabelled, f.Data+" "+name)
		}
	}
	return controls, unlabelled
}

// checkControls fails when a page offers role a link or form whose route
// the role may not use, or has a field without a label.
func checkControls(t *testing.T, rp routePerms, role palisade.Role, page, body string) {
	t.Helper()
	controls, unlabelled := pageControls(t, body)
	for _, f := range unlabelled {
		t.Errorf("%s on %s: field %s has no label", role, page, f)
	}
	for _, c := range controls {
		u, err := url.Parse(c.target)
		if err != nil {
			t.Errorf("%s on %s: %s does not parse", role, page, c.what)
			continue
		}
		if u.Path == "/" {
			continue // the home redirect
		}
		perm, ok := rp.perm(c.method, u.Path)
		if !ok {
			t.Errorf("%s on %s: %s leads to no route", role, page, c.what)
			continue
		}
		if perm != auth.PermPublic && perm != auth.PermAccount && !auth.Allows(role, perm) {
			t.Errorf("%s on %s: %s needs %s, which the role lacks", role, page, c.what, perm)
		}
	}
}

// reachable follows the same-site links of every page b can open, from
// start, and returns the route patterns it reached.
func reachable(t *testing.T, b *browser, rp routePerms, start string) map[string]bool {
	t.Helper()
	seen := map[string]bool{start: true}
	patterns := map[string]bool{}
	queue := []string{start}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		w := b.get(path)
		if w.Code != http.StatusOK {
			continue
		}
		_, pattern := rp.mux.Handler(httptest.NewRequest(http.MethodGet, path, nil))
		patterns[pattern] = true
		controls, _ := pageControls(t, w.Body.String())
		for _, c := range controls {
			u, err := url.Parse(c.target)
			if err != nil || c.method != http.MethodGet || u.Path == "/" || seen[u.Path] {
				continue
			}
			seen[u.Path] = true
			queue = append(queue, u.Path)
		}
	}
	return patterns
}

// Every page is reachable by following links from the sign-in page or,
// signed in, from the account page: none is left for a user to guess.
// Only pages opened from a link in an e-mail or the server's output, and
// the second sign-in step, are not linked.
func TestEveryPageIsLinked(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{signup: true, sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	owner, bot := previewBot(t, e, ws, emails["owner"])
	if w := owner.post(bot+"/try", bot+"/try", url.Values{"message": {"Hours?"}}); w.Code != http.StatusOK {
		t.Fatalf("try: %d", w.Code)
	}
	routes := newUI(t, e.svc, e.store, e.audit, e.clock.Now, testModels, nil, e.limiter, e.limits).Routes()
	rp := newRoutePerms(routes)
	reached := reachable(t, owner, rp, "/account")
	for p := range reachable(t, e.browser(), rp, "/login") {
		reached[p] = true
	}
	unlinked := map[string]bool{"GET /{$}": true, "GET /login/mfa": true, "GET /setup/{token}": true, "GET /invite/{token}": true,
		"GET /reset/{token}": true, "GET /verify/{token}": true}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		if rt.Method == http.MethodGet && !unlinked[key] && !reached[key] {
			t.Errorf("no link leads to %s", key)
		}
	}
}
