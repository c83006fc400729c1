-- +goose Up
-- The data lifecycle: retention deletes a bot's conversations by their
-- last message, an account may delete itself, expired sessions are pruned,
-- and the placeholders of personal data are numbered per conversation.

CREATE INDEX conversations_retention ON conversations(workspace_id, bot_id, last_message_at);
CREATE INDEX messages_retention ON messages(workspace_id, bot_id, created_at);

-- The number each redacted value has in its conversation, so that one
-- e-mail address is [EMAIL_1] in every message of it. The value itself is
-- never stored: mac is HMAC-SHA256 of it under a key derived from the
-- master key and the conversation id.
CREATE TABLE pii_placeholders (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    mac              BYTEA NOT NULL,
    number           INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, kind, mac),
    UNIQUE (conversation_id, kind, number)
);
CREATE INDEX pii_placeholders_ws ON pii_placeholders(workspace_id);

ALTER TABLE pii_placeholders ENABLE ROW LEVEL SECURITY;
ALTER TABLE pii_placeholders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON pii_placeholders AS PERMISSIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
CREATE POLICY tenant_guard ON pii_placeholders AS RESTRICTIVE FOR ALL USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

-- A user deletes their own account only in their own scope (the
-- memberships, sessions and tokens go with it by cascade).
CREATE POLICY account_delete ON users AS PERMISSIVE FOR DELETE USING (id = (SELECT palisade_user()));
CREATE POLICY account_delete_guard ON users AS RESTRICTIVE FOR DELETE USING (id = (SELECT palisade_user()));

-- Sessions: a user's own, or the expired and revoked ones under the prune
-- lookup, which may read them too.
CREATE POLICY prune_read ON sessions AS PERMISSIVE FOR SELECT USING ((SELECT palisade_lookup()) = 'prune');
DROP POLICY account_read_guard ON sessions;
CREATE POLICY account_read_guard ON sessions AS RESTRICTIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'sess:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()) OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_delete ON sessions AS PERMISSIVE FOR DELETE USING (user_id = (SELECT palisade_user())
    OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_delete_guard ON sessions AS RESTRICTIVE FOR DELETE USING (user_id = (SELECT palisade_user())
    OR (SELECT palisade_lookup()) = 'prune');

-- +goose Down
DROP POLICY account_delete ON sessions;
DROP POLICY account_delete_guard ON sessions;
DROP POLICY account_read_guard ON sessions;
CREATE POLICY account_read_guard ON sessions AS RESTRICTIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'sess:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
DROP POLICY prune_read ON sessions;
DROP POLICY account_delete ON users;
DROP POLICY account_delete_guard ON users;
DROP TABLE pii_placeholders;
DROP INDEX messages_retention;
DROP INDEX conversations_retention;
