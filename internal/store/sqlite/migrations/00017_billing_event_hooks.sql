-- +goose Up
-- Billing: the webhook ids of the billing provider's events already
-- handled (platform data: an event is recorded before, and whether or not,
-- it names a workspace), so a replayed delivery changes nothing.
CREATE TABLE billing_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL
);
CREATE INDEX billing_events_received ON billing_events(received_at);

-- The plan a workspace's subscription gives it. No row: no subscription.
-- source_time is the provider's modification time of the subscription,
-- so an older event delivered late never overwrites a newer state.
CREATE TABLE workspace_plans (
    workspace_id     TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    plan             TEXT NOT NULL,
    product_id       TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    status           TEXT NOT NULL,
    source_time      TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

-- A workspace's outgoing webhook endpoints; the signing secret is sealed.
CREATE TABLE event_endpoints (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    events         TEXT NOT NULL,
    sealed_secret  BLOB NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX event_endpoints_ws ON event_endpoints(workspace_id, created_at);

-- Every attempt to deliver an event to an endpoint.
CREATE TABLE event_deliveries (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    endpoint_id  TEXT NOT NULL REFERENCES event_endpoints(id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    duration_ms  INTEGER NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX event_deliveries_endpoint ON event_deliveries(workspace_id, endpoint_id, created_at);
CREATE INDEX event_deliveries_created ON event_deliveries(created_at);

-- +goose Down
DROP TABLE event_deliveries;
DROP TABLE event_endpoints;
DROP TABLE workspace_plans;
DROP TABLE billing_events;
