-- +goose Up
-- Bots are listed a keyset page at a time, oldest first by creation time
-- then id: this index answers a page by reading only its rows, however many
-- bots the workspace holds. It starts with workspace_id, so it also serves
-- everything the index on workspace_id alone did.
CREATE INDEX bots_ws_created ON bots(workspace_id, created_at, id);
DROP INDEX bots_ws;

-- +goose Down
CREATE INDEX bots_ws ON bots(workspace_id);
DROP INDEX bots_ws_created;
