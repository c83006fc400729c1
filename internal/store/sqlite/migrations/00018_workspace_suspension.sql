-- +goose Up
-- An operator may suspend a workspace (palisade workspace suspend): its
-- bots stop answering and its management API refuses changes until it is
-- resumed. suspended_at is NULL for a workspace in use; the reason is what
-- its members are shown.
ALTER TABLE workspaces ADD COLUMN suspended_at TIMESTAMP;
ALTER TABLE workspaces ADD COLUMN suspended_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workspaces DROP COLUMN suspended_reason;
ALTER TABLE workspaces DROP COLUMN suspended_at;
