package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/palisade"
)

// itemRoute is the documented route of one item of the collection at
// pattern, for method: pattern + "/{someId}".
func itemRoute(docs map[string]api.Op, method, pattern string) (string, bool) {
	for key := range docs {
		m, p, _ := strings.Cut(key, " ")
		rest, ok := strings.CutPrefix(p, pattern+"/{")
		if m == method && ok && strings.HasSuffix(rest, "}") && !strings.Contains(rest, "/") {
			return p, true
		}
	}
	return "", false
}

// TestCreatedAnswersLocateTheNewResource: every route documented as
// answering 201 Created names the new resource in a Location header, the
// collection's URL and the new id; where the resource can be read, GET at
// that URL answers 200 with the same resource. A replay of the request
// under its Idempotency-Key names the same Location.
func TestCreatedAnswersLocateTheNewResource(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	w.fake.AddBot("123456789:AAExampleExampleExampleExampleExample", "example_bot")
	docs := api.Docs()
	checked := 0
	for _, rt := range (&api.API{}).Routes() {
		meta := docs[rt.Method+" "+rt.Pattern]
		if meta.Status != http.StatusCreated {
			continue
		}
		checked++
		name := rt.Method + " " + rt.Pattern
		tn := w.tenant(t)
		path := tn.fill(t, rt.Method, rt.Pattern, meta.Status)
		code, h, raw := w.raw(t, rt.Method, path, tn.key, meta.Example, map[string]string{"Idempotency-Key": "locate-" + rt.Pattern})
		if code != http.StatusCreated {
			t.Errorf("%s: %d %s, want 201", name, code, raw)
			continue
		}
		var created map[string]any
		if err := json.Unmarshal(raw, &created); err != nil {
			t.Errorf("%s: answer %q: %v", name, raw, err)
			continue
		}
		id, _ := created["id"].(string)
		location := h.Get("Location")
		if id == "" || location != path+"/"+id {
			t.Errorf("%s: Location %q, want %q (id %q)", name, location, path+"/"+id, id)
			continue
		}
		if code, h, _ := w.raw(t, rt.Method, path, tn.key, meta.Example, map[string]string{"Idempotency-Key": "locate-" + rt.Pattern}); code != http.StatusCreated ||
			h.Get("Idempotent-Replayed") != "true" || h.Get("Location") != location {
			t.Errorf("%s: replay answered %d, replayed %q, Location %q; want 201 and %q", name, code, h.Get("Idempotent-Replayed"), h.Get("Location"), location)
		}
		item, readable := itemRoute(docs, http.MethodGet, rt.Pattern)
		if !readable {
			// Not readable one by one (a key, a webhook endpoint): the
			// Location still names a route of the item.
			found := false
			for _, m := range []string{http.MethodDelete, http.MethodPatch, http.MethodPut} {
				if _, ok := itemRoute(docs, m, rt.Pattern); ok {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: Location %s names no route", name, location)
			}
			continue
		}
		if len(palisade.PathWildcards(item)) != len(palisade.PathWildcards(rt.Pattern))+1 {
			t.Fatalf("%s: item route %s", name, item)
		}
		code, got := w.call(t, http.MethodGet, location, tn.key, "")
		if code != http.StatusOK || got["id"] != id {
			t.Errorf("%s: GET %s answered %d %v, want 200 with id %s", name, location, code, got, id)
		}
	}
	if checked < 6 {
		t.Fatalf("checked %d creating routes; bots, documents, channels, keys, provider keys and webhooks answer 201", checked)
	}
}

// TestOpenAPIDocumentsLocation: the document names the Location header on
// every 201 answer.
func TestOpenAPIDocumentsLocation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	code, _, raw := w.raw(t, http.MethodGet, "/api/v1/openapi.json", "", "", nil)
	if code != http.StatusOK {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			if r, ok := op.Responses["201"]; ok {
				n++
				if _, ok := r.Headers["Location"]; !ok {
					t.Errorf("%s %s: the 201 answer documents no Location header", method, path)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no 201 answer in the document")
	}
}
