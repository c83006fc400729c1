package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
)

// openAPIDoc is the part of the served document the tests check.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Security    *[]any `json:"security"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Example json.RawMessage `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]json.RawMessage `json:"responses"`
}

func fetchDocument(t *testing.T, w *world) openAPIDoc {
	t.Helper()
	// No key: the document is public.
	code, h, raw := w.raw(t, http.MethodGet, "/api/v1/openapi.json", "", "", nil)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", code, h.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPIDocumentMatchesTheRouteTable walks the route table and the
// served document both ways: a route missing from the document, or a
// documented operation that is no route, fails; so does an operation whose
// path parameters, security or success status disagree with the table.
func TestOpenAPIDocumentMatchesTheRouteTable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	doc := fetchDocument(t, w)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	docs := api.Docs()
	routes := map[string]api.Route{}
	for _, rt := range (&api.API{}).Routes() {
		key := rt.Method + " " + rt.Pattern
		routes[key] = rt
		op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("route %s is missing from the document: describe it in Docs", key)
			continue
		}
		meta := docs[key]
		if meta.Summary == "" || meta.Tag == "" || meta.Status == 0 {
			t.Errorf("route %s: its description lacks a summary, tag or status", key)
		}
		if _, ok := op.Responses[strconv.Itoa(meta.Status)]; !ok {
			t.Errorf("route %s: no response for its status %d", key, meta.Status)
		}
		var inPath []string
		for _, p := range op.Parameters {
			if p.In == "path" {
				inPath = append(inPath, p.Name)
			}
		}
		if want := palisade.PathWildcards(rt.Pattern); !slices.Equal(inPath, want) {
			t.Errorf("route %s: documented path parameters %v, want %v", key, inPath, want)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != (rt.Perm == auth.PermPublic) {
			t.Errorf("route %s: documented public=%v, permission %s", key, public, rt.Perm)
		}
		if meta.Request != nil && (op.RequestBody == nil || len(op.RequestBody.Content["application/json"].Example) == 0) {
			t.Errorf("route %s: a body without an example", key)
		}
	}
	seen := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			if _, ok := routes[key]; !ok {
				t.Errorf("documented operation %s is no route", key)
			}
			if op.OperationID == "" || seen[op.OperationID] {
				t.Errorf("operation %s: operationId %q empty or repeated", key, op.OperationID)
			}
			seen[op.OperationID] = true
		}
	}
	for key := range docs {
		if _, ok := routes[key]; !ok {
			t.Errorf("Docs describes %s, which is no route", key)
		}
	}
}

// TestEveryDocumentedOperationAnswers calls every operation of the
// document, each on a fresh workspace holding one of everything, with its
// documented example body, and expects its documented success status and
// a JSON answer holding the documented fields.
func TestEveryDocumentedOperationAnswers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	w.fake.AddBot("123456789:AAExampleExampleExampleExampleExample", "example_bot")
	doc := fetchDocument(t, w)
	docs := api.Docs()
	called := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			meta := docs[key]
			tn := w.tenant(t)
			var body string
			if op.RequestBody != nil {
				body = string(op.RequestBody.Content["application/json"].Example)
			}
			code, _, raw := w.raw(t, strings.ToUpper(method), tn.fill(t, strings.ToUpper(method), path, meta.Status), tn.key, body, nil)
			called++
			if code != meta.Status {
				t.Errorf("%s: status %d, documented %d: %s", key, code, meta.Status, raw)
				continue
			}
			if meta.Response == nil {
				if len(raw) != 0 {
					t.Errorf("%s: documented without a body, answered %q", key, raw)
				}
				continue
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Errorf("%s: answer is not a JSON object: %q", key, raw)
				continue
			}
			if meta.List {
				if _, ok := got["data"].([]any); !ok {
					t.Errorf("%s: a list without data: %v", key, got)
				}
				if _, ok := got["next_cursor"]; !ok {
					t.Errorf("%s: a list without next_cursor: %v", key, got)
				}
			}
		}
	}
	if called != len((&api.API{}).Routes()) {
		t.Fatalf("called %d operations, the table has %d routes", called, len((&api.API{}).Routes()))
	}
}

// TestForeignIDsOnEveryRoute: workspace A's key, holding every scope, gets
// 404 on every route with workspace B's ids in its path, and no answer
// without ids ever names anything of B's; B's things are all still there
// afterwards.
func TestForeignIDsOnEveryRoute(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, w *world) {
		a, b := w.tenant(t), w.tenant(t)
		docs := api.Docs()
		for _, rt := range (&api.API{}).Routes() {
			if rt.Perm == auth.PermPublic {
				continue
			}
			meta := docs[rt.Method+" "+rt.Pattern]
			if len(palisade.PathWildcards(rt.Pattern)) > 0 {
				code, _, raw := w.raw(t, rt.Method, b.fill(t, rt.Method, rt.Pattern, meta.Status), a.key, meta.Example, nil)
				if code != http.StatusNotFound {
					t.Errorf("%s %s with B's ids and A's key: %d %s, want 404", rt.Method, rt.Pattern, code, raw)
				}
				continue
			}
			_, _, raw := w.raw(t, rt.Method, rt.Pattern, a.key, meta.Example, nil)
			for _, id := range b.ids() {
				if strings.Contains(string(raw), id) {
					t.Errorf("%s %s with A's key names B's %s", rt.Method, rt.Pattern, id)
				}
			}
		}
		for _, q := range []string{"bot_id=" + string(b.bot), "bot_id=" + string(b.bare)} {
			if code, _ := w.call(t, http.MethodGet, "/api/v1/conversations?"+q, a.key, ""); code != http.StatusNotFound {
				t.Errorf("A lists conversations of B's bot (%s): %d, want 404", q, code)
			}
		}
		for _, path := range []string{"/api/v1/bots/" + string(b.bot), "/api/v1/bots/" + string(b.bot) + "/documents/" + string(b.document),
			"/api/v1/conversations/" + string(b.conv), "/api/v1/bots/" + string(b.bot) + "/channels/" + string(b.channel)} {
			if code, out := w.call(t, http.MethodGet, path, b.key, ""); code != http.StatusOK {
				t.Errorf("B's %s after A's attempts: %d %v", path, code, out)
			}
		}
		code, out := w.call(t, http.MethodGet, "/api/v1/keys", b.key, "")
		if data, _ := out["data"].([]any); code != http.StatusOK || len(data) != 2 {
			t.Errorf("B's keys after A's attempts: %d %v", code, out)
		}
		for _, k := range out["data"].([]any) {
			if k.(map[string]any)["revoked_at"] != nil {
				t.Errorf("A revoked B's key: %v", k)
			}
		}
	})
}
