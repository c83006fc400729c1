package probe_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/probe"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	keyA = "pal_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	keyB = "pal_bbbbbbbbbbbb_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
)

// fakeTenants is an API with two workspaces, each owning one object of
// every kind; leak names a kind whose reads ignore the owner, and
// sameKeys makes both keys list one workspace's keys.
type fakeTenants struct {
	leak     string
	sameKeys bool
}

// owned is every object, by workspace: id -> kind.
var owned = map[string]map[string]string{
	"A": {"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa": "bots", "doc_aaaaaaaaaaaaaaaaaaaaaaaaaa": "documents", "chn_aaaaaaaaaaaaaaaaaaaaaaaaaa": "channels",
		"cnv_aaaaaaaaaaaaaaaaaaaaaaaaaa": "conversations", "key_aaaaaaaaaaaaaaaaaaaaaaaaaa": "keys", "whk_aaaaaaaaaaaaaaaaaaaaaaaaaa": "webhooks",
		"pvk_aaaaaaaaaaaaaaaaaaaaaaaaaa": "provider-keys"},
	"B": {"bot_bbbbbbbbbbbbbbbbbbbbbbbbbb": "bots", "doc_bbbbbbbbbbbbbbbbbbbbbbbbbb": "documents", "chn_bbbbbbbbbbbbbbbbbbbbbbbbbb": "channels",
		"cnv_bbbbbbbbbbbbbbbbbbbbbbbbbb": "conversations", "key_bbbbbbbbbbbbbbbbbbbbbbbbbb": "keys", "whk_bbbbbbbbbbbbbbbbbbbbbbbbbb": "webhooks",
		"pvk_bbbbbbbbbbbbbbbbbbbbbbbbbb": "provider-keys"},
}

func idsOf(ws, kind string) []string {
	var out []string
	for id, k := range owned[ws] {
		if k == kind {
			out = append(out, id)
		}
	}
	return out
}

func ownerOf(id string) (ws, kind string) {
	for w, m := range owned {
		if k, ok := m[id]; ok {
			return w, k
		}
	}
	return "", ""
}

func (f fakeTenants) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws := map[string]string{"Bearer " + keyA: "A", "Bearer " + keyB: "B"}[r.Header.Get("Authorization")]
	if ws == "" {
		http.Error(w, `{"error":{"code":"unauthenticated"}}`, http.StatusUnauthorized)
		return
	}
	list := func(kind string, of string) {
		var data []map[string]string
		for _, id := range idsOf(of, kind) {
			data = append(data, map[string]string{"id": id})
		}
		if f.leak == kind {
			other := map[string]string{"A": "B", "B": "A"}[of]
			for _, id := range idsOf(other, kind) {
				data = append(data, map[string]string{"id": id})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	switch {
	case len(parts) == 1:
		of := ws
		if parts[0] == "keys" && f.sameKeys {
			of = "A"
		}
		list(parts[0], of)
		return
	case parts[0] == "bots" && len(parts) == 3 && (parts[2] == "documents" || parts[2] == "channels"):
		if o, _ := ownerOf(parts[1]); o != ws && f.leak != "bots" {
			http.NotFound(w, r)
			return
		}
		o, _ := ownerOf(parts[1])
		list(parts[2], o)
		return
	}
	// A read of one object (or of something about it): the last id in
	// the path decides.
	id := ""
	for _, p := range parts {
		if strings.Contains(p, "_") {
			id = p
		}
	}
	o, kind := ownerOf(id)
	if o == "" || (o != ws && f.leak != kind) {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(`{"id":"` + id + `","data":[]}`))
}

func twoKeys() probe.Options {
	return probe.Options{APIKey: secret.New(keyA), APIKeyB: secret.New(keyB)}
}

// TestIDORChecks: against an API that keeps each workspace's objects to
// its keys every IDOR check passes; an API that lets one kind through to
// the other workspace fails that kind's checks in both directions.
func TestIDORChecks(t *testing.T) {
	t.Parallel()
	good := serveHTTP(t, fakeTenants{})
	var mu sync.Mutex
	tested := map[string]bool{}
	for _, kind := range []string{"bots", "documents", "channels", "conversations", "keys", "webhooks", "provider-keys"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			bad := serveHTTP(t, fakeTenants{leak: kind})
			for _, dir := range []string{"a-to-b", "b-to-a"} {
				expect(t, check(t, probe.CatIDOR, kind+" "+dir), good, bad, twoKeys())
				mu.Lock()
				tested[kind+" "+dir] = true
				mu.Unlock()
			}
		})
	}
	t.Cleanup(func() {
		for _, c := range category(t, probe.CatIDOR) {
			if !tested[c.Name] && c.Name != "keys-are-different-workspaces" {
				t.Errorf("no API breaks %s", c.Name)
			}
		}
	})
	t.Run("keys-are-different-workspaces", func(t *testing.T) {
		t.Parallel()
		expect(t, check(t, probe.CatIDOR, "keys-are-different-workspaces"), good, serveHTTP(t, fakeTenants{sameKeys: true}), twoKeys())
	})
	t.Run("one key skips", func(t *testing.T) {
		t.Parallel()
		for _, c := range category(t, probe.CatIDOR) {
			r := one(t, good, c, probe.Options{APIKey: secret.New(keyA)})
			if r.Status != probe.Skip || !strings.Contains(r.Evidence, "two API keys") {
				t.Errorf("%s with one key = %s (%s)", c.Name, r.Status, r.Evidence)
			}
		}
	})
}

// fakeHooks is the outgoing webhook API: an endpoint at any URL is
// registered, and its test delivery is refused by the egress policy,
// unless reach says the deployment dials it (or refuse says it refuses the
// URL when it is registered).
type fakeHooks struct {
	reach, dial, refuse bool
	mu                  sync.Mutex
	deleted             int
}

func (f *fakeHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const id = "whk_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/webhooks":
		if f.refuse {
			http.Error(w, `{"error":{"code":"invalid","field":"url"}}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"` + id + `"}`))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/webhooks/"+id+"/test":
		w.WriteHeader(http.StatusAccepted)
	case r.URL.Path == "/api/v1/webhooks/"+id+"/deliveries":
		d := `{"status":0,"error":"refused by the egress policy: private_address"}`
		switch {
		case f.reach:
			d = `{"status":200,"error":""}`
		case f.dial:
			d = `{"status":0,"error":"no answer from the endpoint"}`
		}
		_, _ = w.Write([]byte(`{"data":[` + d + `]}`))
	case r.Method == http.MethodDelete && r.URL.Path == "/api/v1/webhooks/"+id:
		f.mu.Lock()
		f.deleted++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// TestSSRFChecks: each SSRF check passes when the deployment refuses the
// private address when registering or dialling, fails when it reaches or
// dials it, and deletes the endpoint it created either way.
func TestSSRFChecks(t *testing.T) {
	t.Parallel()
	opts := probe.Options{APIKey: secret.New(keyA)}
	for _, c := range category(t, probe.CatSSRF) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			good, reached, dialled := &fakeHooks{}, &fakeHooks{reach: true}, &fakeHooks{dial: true}
			expect(t, c, serveHTTP(t, good), serveHTTP(t, reached), opts)
			if r := one(t, serveHTTP(t, dialled), c, opts); r.Status != probe.Fail {
				t.Errorf("a deployment that dials it = %s (%s)", r.Status, r.Evidence)
			}
			if r := one(t, serveHTTP(t, &fakeHooks{refuse: true}), c, opts); r.Status != probe.Pass {
				t.Errorf("a deployment that refuses the URL = %s (%s)", r.Status, r.Evidence)
			}
			for _, f := range []*fakeHooks{good, reached, dialled} {
				if f.deleted != 1 {
					t.Errorf("the endpoint was deleted %d times, want once", f.deleted)
				}
			}
			if r := one(t, serveHTTP(t, good), c, probe.Options{}); r.Status != probe.Skip {
				t.Errorf("without a key = %s", r.Status)
			}
		})
	}
}
