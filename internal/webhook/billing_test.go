package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/stdwebhook"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/webhook"
)

const polarSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestBillingWebhook drives /hooks/billing/polar over HTTP: a signed
// subscription event sets the plan, its replay is 200 and changes
// nothing, a wrong or stale signature is 401 and records nothing, and a
// body over the cap is refused before it is read.
func TestBillingWebhook(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kr, err := seal.NewKeyring(ctx, testMaster, sealtest.NewMemoryKeyStore(), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plans, err := billing.ParsePlans([]byte("products: {prod-pro: {name: pro, bots: 3}}"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bill, err := billing.New(billing.Options{Store: s, Plans: plans, Secret: secret.New(polarSecret), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	chans, err := channel.New(channel.Options{Store: s, Sealer: kr, ArgsKey: testArgsKey, PublicURL: "https://palisade.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	hooks, err := webhook.New(webhook.Options{Channels: chans, Billing: bill, OnRefused: func(kind string, r channel.Reason) { refused = append(refused, kind+":"+string(r)) }})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rt := range hooks.Routes() {
		if rt.Kind == webhook.BillingKind {
			found = rt.Pattern == webhook.BillingPattern && rt.Method == http.MethodPost && rt.Perm == auth.PermPublic
		}
	}
	if !found {
		t.Fatal("no public POST billing route")
	}
	srv := httptest.NewServer(hooks.Handler())
	defer srv.Close()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	body, _ := json.Marshal(map[string]any{"type": "subscription.created", "data": map[string]any{"id": "sub-1", "status": "active",
		"product_id": "prod-pro", "modified_at": now, "metadata": map[string]any{"workspace_id": string(ws.ID)}}})
	post := func(id string, at time.Time, sig string, b []byte) int {
		t.Helper()
		if sig == "" {
			sig, err = stdwebhook.Sign(polarSecret, id, at, b)
			if err != nil {
				t.Fatal(err)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+webhook.BillingPattern, bytes.NewReader(b))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	subscribed := func() bool {
		c, err := bill.Current(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		return c.Subscribed
	}

	if code := post("evt-1", now, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", body); code != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d", code)
	}
	if code := post("evt-1", now.Add(-6*time.Minute), "", body); code != http.StatusUnauthorized {
		t.Fatalf("stale signature: %d", code)
	}
	if subscribed() {
		t.Fatal("a refused delivery set the plan")
	}
	if len(refused) != 2 || refused[0] != "billing:bad_signature" {
		t.Fatalf("refusals counted: %v", refused)
	}
	if code := post("evt-1", now, "", body); code != http.StatusOK || !subscribed() {
		t.Fatalf("genuine delivery: %d, subscribed %v", code, subscribed())
	}
	revoked := bytes.Replace(body, []byte(`"subscription.created"`), []byte(`"subscription.revoked"`), 1)
	if code := post("evt-1", now, "", revoked); code != http.StatusOK || !subscribed() {
		t.Fatalf("replayed id: %d, subscribed %v", code, subscribed())
	}
	big := []byte(`{"type":"x","pad":"` + strings.Repeat("a", billing.MaxBody) + `"}`)
	if code := post("evt-2", now, "", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
}
