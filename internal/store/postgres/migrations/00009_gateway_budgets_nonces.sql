-- +goose Up
-- Budget set aside by gateway calls in flight: a call reserves before it
-- reaches the provider and releases when it records its real usage, so
-- concurrent calls cannot all pass a budget check and overspend together.
-- A reservation whose process died expires and is pruned.
CREATE TABLE usage_reservations (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,
    tokens        BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX usage_reservations_bot_day ON usage_reservations(workspace_id, bot_id, day);
CREATE INDEX usage_reservations_expires ON usage_reservations(expires_at);

ALTER TABLE usage_reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON usage_reservations AS PERMISSIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
CREATE POLICY tenant_guard ON usage_reservations AS RESTRICTIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

-- The nonces of signed calls to the gateway role, shared by every gateway
-- process (when no Redis is configured), kept until the signature's window
-- has closed. Platform data: a nonce belongs to no workspace.
CREATE TABLE gateway_nonces (
    nonce       TEXT PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX gateway_nonces_expires ON gateway_nonces(expires_at);

-- +goose Down
DROP TABLE gateway_nonces;
DROP TABLE usage_reservations;
