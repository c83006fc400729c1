-- +goose Up
-- Chat channels. A bot has at most one channel of each kind: its webhook
-- URL, /hooks/{kind}/{botId}, names exactly one channel, found by the bot id
-- and the kind alone before any scope is known.
CREATE UNIQUE INDEX channels_bot_kind ON channels(bot_id, kind);

-- The webhook lookup: the lookup key 'hook:{kind}:{botId}' lets exactly
-- that one channel row be read (with its sealed verification secret),
-- never a bot or any other row, and nothing be written. The read policies
-- of 00001 gain the clause; the others stay as they are.
DROP POLICY tenant_read ON channels;
DROP POLICY tenant_read_guard ON channels;
CREATE POLICY tenant_read ON channels AS PERMISSIVE FOR SELECT
    USING (workspace_id = (SELECT palisade_scope()) OR 'ch:' || id = (SELECT palisade_lookup()) OR 'hook:' || kind || ':' || bot_id = (SELECT palisade_lookup()));
CREATE POLICY tenant_read_guard ON channels AS RESTRICTIVE FOR SELECT
    USING (workspace_id = (SELECT palisade_scope()) OR 'ch:' || id = (SELECT palisade_lookup()) OR 'hook:' || kind || ':' || bot_id = (SELECT palisade_lookup()));

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
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, bot_id, source, ref, part)
);
CREATE INDEX reply_sends_created ON reply_sends(created_at);

ALTER TABLE reply_sends ENABLE ROW LEVEL SECURITY;
ALTER TABLE reply_sends FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON reply_sends AS PERMISSIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
CREATE POLICY tenant_guard ON reply_sends AS RESTRICTIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

-- +goose Down
DROP TABLE reply_sends;
DROP POLICY tenant_read ON channels;
DROP POLICY tenant_read_guard ON channels;
CREATE POLICY tenant_read ON channels AS PERMISSIVE FOR SELECT USING (workspace_id = (SELECT palisade_scope()) OR 'ch:' || id = (SELECT palisade_lookup()));
CREATE POLICY tenant_read_guard ON channels AS RESTRICTIVE FOR SELECT USING (workspace_id = (SELECT palisade_scope()) OR 'ch:' || id = (SELECT palisade_lookup()));
DROP INDEX channels_bot_kind;
