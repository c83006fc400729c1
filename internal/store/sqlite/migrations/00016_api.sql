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
    request_hash     BLOB NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    sealed_response  BLOB,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, principal, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys(expires_at);

-- Listing conversations newest first, by bot or by the whole workspace.
CREATE INDEX conversations_ws_created ON conversations(workspace_id, created_at, id);

-- +goose Down
DROP INDEX conversations_ws_created;
DROP TABLE idempotency_keys;
