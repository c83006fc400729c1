package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// TestKeyCreationNarrows: a key creates keys only within its own scopes
// and expiry, and they belong to its creator: they act with at most the
// creator's role and die when the creator leaves. A key made by the
// operator makes keys of the workspace.
func TestKeyCreationNarrows(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, w *world) {
		tn := w.tenant(t)
		b := bundle{srv: w.srv, store: w.store, scope: tn.scope}
		u, m := b.member(t, "admin@example.com", palisade.RoleAdmin)
		plain, prefix, hash := auth.NewAPIKey()
		exp := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
		if _, err := w.store.CreateAPIKey(t.Context(), tn.scope, store.CreateAPIKeyParams{Name: "parent", Prefix: prefix, Hash: hash,
			Scopes: []string{"bots:read", "keys:write"}, CreatedBy: u.ID, Now: time.Now(), ExpiresAt: &exp}); err != nil {
			t.Fatal(err)
		}
		parent := plain.Reveal()

		code, child := w.call(t, http.MethodPost, "/api/v1/keys", parent, `{"name":"child","scopes":["bots:read"]}`)
		if code != http.StatusCreated || child["created_by"] != string(u.ID) || child["expires_at"] == nil {
			t.Fatalf("narrower key: %d %v", code, child)
		}
		if got := timeOf(t, child, "expires_at"); !got.Equal(exp) {
			t.Fatalf("child expires %v, want the parent's %v", got, exp)
		}
		for _, body := range []string{
			`{"name":"wider","scopes":["bots:write"]}`,
			`{"name":"wider","scopes":["bots:read","audit:read"]}`,
			`{"name":"later","scopes":["bots:read"],"expires_at":"` + exp.Add(time.Hour).Format(time.RFC3339) + `"}`,
		} {
			if code, out := w.call(t, http.MethodPost, "/api/v1/keys", parent, body); code != http.StatusForbidden {
				t.Errorf("%s: %d %v, want 403", body, code, out)
			}
		}
		if code, out := w.call(t, http.MethodPost, "/api/v1/keys", parent,
			`{"name":"past","scopes":["bots:read"],"expires_at":"2020-01-01T00:00:00Z"}`); code != http.StatusBadRequest {
			t.Errorf("expiry in the past: %d %v", code, out)
		}
		sooner := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		code, short := w.call(t, http.MethodPost, "/api/v1/keys", parent, `{"name":"short","scopes":["keys:read"],"expires_at":"`+sooner.Format(time.RFC3339)+`"}`)
		if code != http.StatusCreated || !timeOf(t, short, "expires_at").Equal(sooner) {
			t.Fatalf("sooner expiry: %d %v", code, short)
		}
		// The child works within its scopes only.
		childKey := child["key"].(string)
		if code, _ := w.call(t, http.MethodGet, "/api/v1/bots", childKey, ""); code != http.StatusOK {
			t.Fatalf("child reads bots: %d", code)
		}
		if code, _ := w.call(t, http.MethodGet, "/api/v1/keys", childKey, ""); code != http.StatusForbidden {
			t.Fatalf("child lists keys: %d", code)
		}
		// The creator's role bounds the children too: demoted to viewer,
		// the parent can no longer make keys.
		changeRole(t, b, m, palisade.RoleViewer)
		if code, _ := w.call(t, http.MethodPost, "/api/v1/keys", parent, `{"name":"x","scopes":["bots:read"]}`); code != http.StatusForbidden {
			t.Fatalf("a viewer's key creates keys: %d", code)
		}
		// When the creator leaves, parent and children die together.
		removeMember(t, b, m)
		for _, k := range []string{parent, childKey} {
			if code, _ := w.call(t, http.MethodGet, "/api/v1/bots", k, ""); code != http.StatusUnauthorized {
				t.Fatalf("a key of a creator who left: %d", code)
			}
		}
		// The operator's key makes keys of the workspace, without expiry
		// unless asked; a key it revokes stops at once.
		code, ws := w.call(t, http.MethodPost, "/api/v1/keys", tn.key, `{"name":"ops","scopes":["bots:read","audit:read"]}`)
		if code != http.StatusCreated || ws["created_by"] != "" || ws["expires_at"] != nil {
			t.Fatalf("operator's key makes: %d %v", code, ws)
		}
		if code, _ := w.call(t, http.MethodDelete, "/api/v1/keys/"+ws["id"].(string), tn.key, ""); code != http.StatusNoContent {
			t.Fatalf("revoke: %d", code)
		}
		if code, _ := w.call(t, http.MethodGet, "/api/v1/bots", ws["key"].(string), ""); code != http.StatusUnauthorized {
			t.Fatalf("revoked key: %d", code)
		}
		if code, _ := w.call(t, http.MethodDelete, "/api/v1/keys/"+ws["id"].(string), tn.key, ""); code != http.StatusNotFound {
			t.Fatalf("second revoke: %d", code)
		}
		// No listing shows a key's secret or hash.
		for _, k := range w.walk(t, tn.key, "/api/v1/keys", 200) {
			if k["key"] != nil || k["hash"] != nil {
				t.Fatalf("listed key shows its secret: %v", k)
			}
		}
	})
}
