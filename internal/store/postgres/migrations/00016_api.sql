-- +goose Up
-- Idempotency keys of the public API: a creating POST sent again with the
-- same Idempotency-Key by the same key (principal) replays the stored
-- response instead of creating twice. The response is sealed: it may carry
-- a secret shown once (a new API key) or a bot's answer.
CREATE TABLE idempotency_keys (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    principal        TEXT NOT NULL,
    key              TEXT NOT NULL,
    request_hash     BYTEA NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    sealed_response  BYTEA,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, principal, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys(expires_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON idempotency_keys AS PERMISSIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
CREATE POLICY tenant_guard ON idempotency_keys AS RESTRICTIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

-- Listing conversations newest first, by bot or by the whole workspace.
CREATE INDEX conversations_ws_created ON conversations(workspace_id, created_at, id);

-- +goose Down
DROP INDEX conversations_ws_created;
DROP TABLE idempotency_keys;
