package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Events is the outgoing webhook use cases the API offers
// (*events.Service).
type Events interface {
	Create(ctx context.Context, c palisade.Caller, in events.Input) (events.Created, error)
	List(ctx context.Context, scope palisade.Scope) ([]events.View, error)
	Delete(ctx context.Context, c palisade.Caller, id string) error
	Test(ctx context.Context, c palisade.Caller, id string) (string, error)
	Deliveries(ctx context.Context, scope palisade.Scope, id string, limit int) ([]events.Delivery, error)
}

var _ Events = (*events.Service)(nil)

// Billing is the billing use cases the API offers (*billing.Service; a
// nil one is billing off).
type Billing interface {
	Current(ctx context.Context, scope palisade.Scope) (billing.Current, error)
	CheckoutURL(scope palisade.Scope) (string, error)
}

var _ Billing = (*billing.Service)(nil)

var errNoEvents = palisade.Errorf(palisade.CodeNotFound, "outgoing webhooks are not available on this server")

// maskedSecret stands for an endpoint's secret once it has been shown.
const maskedSecret = "whsec_********"

// endpointJSON is an endpoint as the API shows it: the secret only in the
// answer that created it.
type endpointJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Events      []string  `json:"events"`
	Secret      string    `json:"secret"`
	CreatedAt   time.Time `json:"created_at"`
}

func toEndpointJSON(v events.View) endpointJSON {
	evs := v.Events
	if evs == nil {
		evs = []string{}
	}
	return endpointJSON{ID: v.ID, URL: v.URL, Description: v.Description, Events: evs, Secret: maskedSecret, CreatedAt: v.CreatedAt}
}

func webhookID(r *http.Request) string { return r.PathValue("webhookId") }

// endpointInput is the body of POST /api/v1/webhooks.
type endpointInput struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
}

// createWebhook registers an endpoint; its signing secret is in this
// answer only.
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	if a.Events == nil {
		return errNoEvents
	}
	var in endpointInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	c, err := a.Events.Create(r.Context(), caller(r), events.Input{URL: in.URL, Description: in.Description, Events: in.Events})
	if err != nil {
		return err
	}
	out := toEndpointJSON(c.View)
	out.Secret = c.Secret.Reveal()
	return writeCreated(w, r, string(out.ID), out)
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if a.Events == nil {
		return errNoEvents
	}
	list, err := a.Events.List(r.Context(), scope(r))
	if err != nil {
		return err
	}
	out := make([]endpointJSON, 0, len(list))
	for _, v := range list {
		out = append(out, toEndpointJSON(v))
	}
	return writeJSON(w, http.StatusOK, endpointListJSON{Data: out})
}

// endpointListJSON is the whole list of a workspace's endpoints.
type endpointListJSON struct {
	Data []endpointJSON `json:"data"`
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if a.Events == nil {
		return errNoEvents
	}
	if err := a.Events.Delete(r.Context(), caller(r), webhookID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testWebhook queues a webhook.test event to the endpoint; its delivery
// shows in the log.
func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) error {
	if a.Events == nil {
		return errNoEvents
	}
	id, err := a.Events.Test(r.Context(), caller(r), webhookID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, testEventJSON{EventID: id, Type: palisade.EventTest})
}

// testEventJSON names the queued test event.
type testEventJSON struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
}

type deliveryJSON struct {
	ID         string    `json:"id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Attempt    int       `json:"attempt"`
	Status     int       `json:"status"`
	Error      string    `json:"error"`
	DurationMS int64     `json:"duration_ms"`
	CreatedAt  time.Time `json:"created_at"`
}

// listWebhookDeliveries returns the endpoint's latest attempts, newest
// first (?limit=1..100, default 50).
func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	if a.Events == nil {
		return errNoEvents
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return palisade.FieldError("limit", "limit must be between 1 and 100")
		}
		limit = n
	}
	list, err := a.Events.Deliveries(r.Context(), scope(r), webhookID(r), limit)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(list))
	for _, d := range list {
		out = append(out, deliveryJSON{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Attempt: d.Attempt, Status: d.Status, Error: d.Error,
			DurationMS: d.Duration.Milliseconds(), CreatedAt: d.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, deliveryListJSON{Data: out})
}

// billingJSON is the workspace's plan as it applies now.
type billingJSON struct {
	Plan        string         `json:"plan"`
	Limits      billing.Limits `json:"limits"`
	Subscribed  bool           `json:"subscribed"`
	Status      string         `json:"status,omitempty"`
	CheckoutURL string         `json:"checkout_url,omitempty"`
}

// deliveryListJSON is an endpoint's latest attempts.
type deliveryListJSON struct {
	Data []deliveryJSON `json:"data"`
}

// getBilling shows the workspace's plan, its limits and, when the operator
// set one, the checkout link to subscribe.
func (a *API) getBilling(w http.ResponseWriter, r *http.Request) error {
	if a.Billing == nil {
		return palisade.Errorf(palisade.CodeNotFound, "billing is not configured on this server")
	}
	c, err := a.Billing.Current(r.Context(), scope(r))
	if err != nil {
		return err
	}
	out := billingJSON{Plan: c.Plan, Limits: c.Limits, Subscribed: c.Subscribed, Status: c.Status}
	if u, err := a.Billing.CheckoutURL(scope(r)); err == nil {
		out.CheckoutURL = u
	}
	return writeJSON(w, http.StatusOK, out)
}
