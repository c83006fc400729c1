-- +goose Up
-- The sources an answer cited, sealed like the body (they carry document
-- text: titles and excerpts), bound to the message's row; NULL when the
-- answer cited none. Kept with the message rather than looked up by
-- document id, so a transcript shows what was cited even after the
-- document changed or was deleted, and goes when the message goes.
ALTER TABLE messages ADD COLUMN sealed_sources BLOB;

-- Rate-limit refusals per workspace, UTC day and kind, summed in memory
-- and added here on an interval: one write per workspace, day and kind
-- per flush, however many requests were refused.
CREATE TABLE refusals_daily (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    count         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, day, kind)
);

-- +goose Down
DROP TABLE refusals_daily;
ALTER TABLE messages DROP COLUMN sealed_sources;
