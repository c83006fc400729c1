package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// testBilling covers billing events: a new id records the plan, a
// replayed id changes nothing, an older state never overwrites a newer
// one, an event naming no workspace is recorded alone, and another
// workspace sees nothing.
func testBilling(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	_, err := s.GetWorkspacePlan(ctx(t), a)
	wantErr(t, err, store.ErrNotFound, "GetWorkspacePlan before any event")

	pro := &store.WorkspacePlan{Plan: "pro", ProductID: "prod-pro", SubscriptionID: "sub-1", Status: "active", SourceTime: t0}
	fresh, err := s.RecordBillingEvent(ctx(t), a, store.BillingEventParams{ID: "evt-1", Type: "subscription.created", Plan: pro, Now: t0})
	if err != nil || !fresh {
		t.Fatalf("RecordBillingEvent = %v, %v", fresh, err)
	}
	p, err := s.GetWorkspacePlan(ctx(t), a)
	if err != nil || p.Plan != "pro" || p.Status != "active" || p.SubscriptionID != "sub-1" || p.ProductID != "prod-pro" || !p.SourceTime.Equal(t0UTC(t0)) {
		t.Fatalf("GetWorkspacePlan = %+v, %v", p, err)
	}
	// The same id again, with another state: nothing changes.
	revoked := &store.WorkspacePlan{Plan: "pro", ProductID: "prod-pro", SubscriptionID: "sub-1", Status: "revoked", SourceTime: t0.Add(time.Hour)}
	fresh, err = s.RecordBillingEvent(ctx(t), a, store.BillingEventParams{ID: "evt-1", Type: "subscription.revoked", Plan: revoked, Now: t0})
	if err != nil || fresh {
		t.Fatalf("replayed RecordBillingEvent = %v, %v", fresh, err)
	}
	if p, _ := s.GetWorkspacePlan(ctx(t), a); p.Status != "active" {
		t.Fatalf("a replayed event changed the plan: %+v", p)
	}
	// A newer state applies; an older one delivered late does not.
	if _, err := s.RecordBillingEvent(ctx(t), a, store.BillingEventParams{ID: "evt-2", Type: "subscription.revoked", Plan: revoked, Now: t0}); err != nil {
		t.Fatal(err)
	}
	late := &store.WorkspacePlan{Plan: "pro", ProductID: "prod-pro", SubscriptionID: "sub-1", Status: "active", SourceTime: t0.Add(time.Minute)}
	if fresh, err := s.RecordBillingEvent(ctx(t), a, store.BillingEventParams{ID: "evt-3", Type: "subscription.updated", Plan: late, Now: t0}); err != nil || !fresh {
		t.Fatalf("late event = %v, %v", fresh, err)
	}
	if p, _ := s.GetWorkspacePlan(ctx(t), a); p.Status != "revoked" {
		t.Fatalf("an older state overwrote a newer one: %+v", p)
	}
	// Another workspace sees nothing.
	_, err = s.GetWorkspacePlan(ctx(t), b)
	wantErr(t, err, store.ErrNotFound, "GetWorkspacePlan of another workspace")
	// No workspace, or one that does not exist: the id alone.
	if fresh, err := s.RecordBillingEvent(ctx(t), palisade.Scope{}, store.BillingEventParams{ID: "evt-4", Type: "order.created", Now: t0}); err != nil || !fresh {
		t.Fatalf("event without a workspace = %v, %v", fresh, err)
	}
	if fresh, err := s.RecordBillingEvent(ctx(t), palisade.Scope{}, store.BillingEventParams{ID: "evt-4", Type: "order.created", Now: t0}); err != nil || fresh {
		t.Fatalf("replayed event without a workspace = %v, %v", fresh, err)
	}
	ghost := palisade.ScopeFor(palisade.NewWorkspaceID())
	if fresh, err := s.RecordBillingEvent(ctx(t), ghost, store.BillingEventParams{ID: "evt-5", Type: "subscription.created", Plan: pro, Now: t0}); err != nil || !fresh {
		t.Fatalf("event of an unknown workspace = %v, %v", fresh, err)
	}

}

// testBillingMessages counts a workspace's messages since a time.
func testBillingMessages(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "a")
	conv, err := s.OpenConversation(ctx(t), a, store.OpenConversationParams{BotID: bot.ID, Key: "k", Channel: "api", ExternalUser: "u", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{t0.Add(-48 * time.Hour), t0, t0.Add(time.Hour)} {
		for _, role := range []string{palisade.MessageUser, palisade.MessageAssistant} {
			if _, err := s.AppendMessage(ctx(t), a, store.AppendMessageParams{ConversationID: conv.ID, Role: role, Body: "hi", Now: at.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := s.CountMessagesSince(ctx(t), a, palisade.MessageUser, t0); err != nil || n != 2 {
		t.Fatalf("CountMessagesSince = %d, %v; want 2", n, err)
	}
	if n, err := s.CountMessagesSince(ctx(t), b, palisade.MessageUser, t0.Add(-72*time.Hour)); err != nil || n != 0 {
		t.Fatalf("CountMessagesSince of another workspace = %d, %v; want 0", n, err)
	}
}

// testEventHooks covers outgoing webhook endpoints: the secret sealed and
// opened only by its own call, listings without it, the delivery log, and
// nothing of one workspace visible from another.
func testEventHooks(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	const sec = "whsec_c2VjcmV0LW9mLXRoZS1lbmRwb2ludC0wMTIzNDU2Nzg5"
	e, err := s.CreateEventEndpoint(ctx(t), a, store.CreateEventEndpointParams{URL: "https://hooks.example.com/in", Description: "crm",
		Events: []string{"message.received", "reply.sent"}, Secret: secret.New(sec), Now: t0})
	if err != nil || !palisade.ValidID(palisade.PrefixEventEndpoint, e.ID) {
		t.Fatalf("CreateEventEndpoint = %+v, %v", e, err)
	}
	if _, err := s.CreateEventEndpoint(ctx(t), a, store.CreateEventEndpointParams{URL: "https://x.example.com", Events: []string{"a"}, Now: t0}); err == nil {
		t.Fatal("an endpoint without a secret was stored")
	}
	got, err := s.GetEventEndpoint(ctx(t), a, e.ID)
	if err != nil || got.URL != e.URL || strings.Join(got.Events, " ") != "message.received reply.sent" || got.Description != "crm" || !got.CreatedAt.Equal(t0UTC(t0)) {
		t.Fatalf("GetEventEndpoint = %+v, %v", got, err)
	}
	if v, err := s.EventEndpointSecret(ctx(t), a, e.ID); err != nil || v.Reveal() != sec {
		t.Fatalf("EventEndpointSecret = %v", err)
	}
	// The secret is sealed at rest.
	var raw []byte
	if err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: a.Workspace()}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(ctx(t), `SELECT sealed_secret FROM event_endpoints WHERE id = $1`, e.ID).Scan(&raw)
	}); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || strings.Contains(string(raw), sec) || strings.Contains(string(raw), "whsec_") {
		t.Fatal("the endpoint secret is stored in plaintext")
	}
	// Another workspace sees nothing.
	_, err = s.GetEventEndpoint(ctx(t), b, e.ID)
	wantErr(t, err, store.ErrNotFound, "GetEventEndpoint from another workspace")
	_, err = s.EventEndpointSecret(ctx(t), b, e.ID)
	wantErr(t, err, store.ErrNotFound, "EventEndpointSecret from another workspace")
	if l, err := s.ListEventEndpoints(ctx(t), b); err != nil || len(l) != 0 {
		t.Fatalf("ListEventEndpoints of another workspace = %v, %v", l, err)
	}
	_, err = s.RecordEventDelivery(ctx(t), b, store.EventDelivery{EndpointID: e.ID, EventID: "evt_x", EventType: "reply.sent", Attempt: 1, CreatedAt: t0})
	wantErr(t, err, store.ErrNotFound, "RecordEventDelivery from another workspace")
	wantErr(t, s.DeleteEventEndpoint(ctx(t), b, e.ID), store.ErrNotFound, "DeleteEventEndpoint from another workspace")

	// The delivery log, newest first.
	for i := 1; i <= 3; i++ {
		st := 500
		if i == 3 {
			st = 204
		}
		if _, err := s.RecordEventDelivery(ctx(t), a, store.EventDelivery{EndpointID: e.ID, EventID: "evt_1", EventType: "reply.sent", Attempt: i,
			Status: st, Error: "", Duration: time.Duration(i) * 10 * time.Millisecond, CreatedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := s.ListEventDeliveries(ctx(t), a, e.ID, 10)
	if err != nil || len(log) != 3 || log[0].Attempt != 3 || log[0].Status != 204 || log[2].Attempt != 1 || log[0].Duration != 30*time.Millisecond ||
		!log[0].CreatedAt.Equal(t0UTC(t0.Add(3*time.Second))) || log[0].EventType != "reply.sent" {
		t.Fatalf("ListEventDeliveries = %+v, %v", log, err)
	}
	if l, err := s.ListEventDeliveries(ctx(t), b, e.ID, 10); err != nil || len(l) != 0 {
		t.Fatalf("ListEventDeliveries of another workspace = %v, %v", l, err)
	}
	if l, err := s.ListEventEndpoints(ctx(t), a); err != nil || len(l) != 1 {
		t.Fatalf("ListEventEndpoints = %v, %v", l, err)
	}
	if err := s.DeleteEventEndpoint(ctx(t), a, e.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetEventEndpoint(ctx(t), a, e.ID)
	wantErr(t, err, store.ErrNotFound, "GetEventEndpoint after deletion")
	if l, _ := s.ListEventDeliveries(ctx(t), a, e.ID, 10); len(l) != 0 {
		t.Fatalf("deliveries outlived their endpoint: %v", l)
	}
}

// t0UTC is a time as the store returns it: UTC, to the microsecond.
func t0UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
