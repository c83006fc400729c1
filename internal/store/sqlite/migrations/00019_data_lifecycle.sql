-- +goose Up
-- The data lifecycle: retention deletes a bot's conversations by their
-- last message, and the placeholders of personal data are numbered per
-- conversation.

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
    mac              BLOB NOT NULL,
    number           INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, kind, mac),
    UNIQUE (conversation_id, kind, number)
);
CREATE INDEX pii_placeholders_ws ON pii_placeholders(workspace_id);

-- +goose Down
DROP TABLE pii_placeholders;
DROP INDEX messages_retention;
DROP INDEX conversations_retention;
