-- +goose Up
-- Knowledge and conversations: what 00001 left out.

-- The FTS5 index follows the chunks table by triggers, so no code path (a
-- document deleted, a bot or a whole workspace deleted by cascade) can leave
-- an orphaned, still searchable passage behind.
-- +goose StatementBegin
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (body, chunk_id, workspace_id, bot_id) VALUES (new.body, new.id, new.workspace_id, new.bot_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE chunk_id = old.id;
END;
-- +goose StatementEnd

CREATE INDEX documents_bot ON documents(bot_id, created_at);
CREATE INDEX chunks_bot ON chunks(bot_id);
CREATE INDEX conversations_bot ON conversations(bot_id);

-- Messages are ordered by a per-conversation sequence number, assigned under
-- the conversation's row lock, so two messages written in the same instant
-- still have one order.
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_conv_seq ON messages(conversation_id, seq);
-- A retried delivery stores its message once.
CREATE UNIQUE INDEX messages_inbound ON messages(conversation_id, role, inbound_ref) WHERE inbound_ref <> '';

-- +goose Down
DROP INDEX messages_inbound;
DROP INDEX messages_conv_seq;
ALTER TABLE messages DROP COLUMN seq;
DROP INDEX conversations_bot;
DROP INDEX chunks_bot;
DROP INDEX documents_bot;
DROP TRIGGER chunks_fts_delete;
DROP TRIGGER chunks_fts_insert;
