package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// WorkspacePlan is the plan a workspace's subscription gives it.
type WorkspacePlan struct {
	Plan           string
	ProductID      string
	SubscriptionID string
	// Status is the provider's subscription status ("active",
	// "canceled", "revoked", …).
	Status string
	// SourceTime is when the provider last changed the subscription: a
	// state older than the stored one is ignored.
	SourceTime time.Time
	UpdatedAt  time.Time
}

// BillingEventParams is one verified event of the billing provider.
type BillingEventParams struct {
	// ID is the event's webhook-id, the idempotency key.
	ID   string
	Type string
	// Plan, when set, is the workspace's new plan state: written with the
	// event in one transaction, unless the stored state is newer or the
	// scope's workspace does not exist.
	Plan *WorkspacePlan
	Now  time.Time
}

// Billing records the billing provider's events and the plans they give
// workspaces.
type Billing interface {
	// RecordBillingEvent records the event's id and, when it is new and
	// p.Plan is set, the scope's plan, in one transaction. An invalid
	// scope records the id only (an event naming no workspace of ours). It
	// reports whether the event was new: a replayed id changes nothing.
	RecordBillingEvent(ctx context.Context, scope palisade.Scope, p BillingEventParams) (bool, error)
	// GetWorkspacePlan returns the workspace's plan, or ErrNotFound when
	// it never subscribed.
	GetWorkspacePlan(ctx context.Context, scope palisade.Scope) (WorkspacePlan, error)
	// CountMessagesSince counts the workspace's messages of one role
	// stored at or after since.
	CountMessagesSince(ctx context.Context, scope palisade.Scope, role string, since time.Time) (int, error)
}

// EventEndpoint is a workspace's outgoing webhook endpoint. Its signing
// secret is sealed and read only by EventEndpointSecret.
type EventEndpoint struct {
	ID          string
	WorkspaceID palisade.WorkspaceID
	URL         string
	Description string
	// Events lists the event types sent to it.
	Events    []string
	CreatedAt time.Time
}

type CreateEventEndpointParams struct {
	URL         string
	Description string
	Events      []string
	Secret      secret.Secret // sealed
	Now         time.Time
}

// EventDelivery is one attempt to send an event to an endpoint.
type EventDelivery struct {
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	Attempt    int
	// Status is the endpoint's HTTP status; zero when no answer came.
	Status    int
	Error     string
	Duration  time.Duration
	CreatedAt time.Time
}

// EventHooks stores outgoing webhook endpoints and their delivery log.
type EventHooks interface {
	CreateEventEndpoint(ctx context.Context, scope palisade.Scope, p CreateEventEndpointParams) (EventEndpoint, error)
	GetEventEndpoint(ctx context.Context, scope palisade.Scope, id string) (EventEndpoint, error)
	// ListEventEndpoints lists the workspace's endpoints, oldest first.
	ListEventEndpoints(ctx context.Context, scope palisade.Scope) ([]EventEndpoint, error)
	// EventEndpointSecret opens the endpoint's signing secret.
	EventEndpointSecret(ctx context.Context, scope palisade.Scope, id string) (secret.Secret, error)
	// DeleteEventEndpoint removes the endpoint with its delivery log.
	DeleteEventEndpoint(ctx context.Context, scope palisade.Scope, id string) error
	// RecordEventDelivery appends one attempt to the endpoint's log.
	RecordEventDelivery(ctx context.Context, scope palisade.Scope, d EventDelivery) (EventDelivery, error)
	// ListEventDeliveries returns the endpoint's newest attempts first, at
	// most limit.
	ListEventDeliveries(ctx context.Context, scope palisade.Scope, endpoint string, limit int) ([]EventDelivery, error)
}
