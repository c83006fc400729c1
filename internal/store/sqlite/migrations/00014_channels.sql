-- +goose Up
-- Chat channels. A bot has at most one channel of each kind: its webhook
-- URL, /hooks/{kind}/{botId}, names exactly one channel, found by the bot id
-- and the kind alone before any scope is known.
CREATE UNIQUE INDEX channels_bot_kind ON channels(bot_id, kind);

-- Each part of a reply sent to a platform is recorded before the call
-- (pending) and after it (sent), keyed by the delivery it answers, so a
-- retried job never sends a part recorded as sent again, and the only
-- possible duplicate is a crash inside the one call that was pending.
CREATE TABLE reply_sends (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL,
    source        TEXT NOT NULL,
    ref           TEXT NOT NULL,
    part          INTEGER NOT NULL,
    state         TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, bot_id, source, ref, part)
);
CREATE INDEX reply_sends_created ON reply_sends(created_at);

-- +goose Down
DROP TABLE reply_sends;
DROP INDEX channels_bot_kind;
