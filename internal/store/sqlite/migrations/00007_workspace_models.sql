-- +goose Up
-- A workspace's own model allowlist, narrowing the operator's: empty means
-- every model the operator allows.
ALTER TABLE workspaces ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workspaces DROP COLUMN allowed_models;
