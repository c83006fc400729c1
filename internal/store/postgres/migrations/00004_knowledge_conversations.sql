-- +goose Up
-- Knowledge and conversations: what 00001 left out. No new table, so no new
-- row security policy: documents, chunks, conversations and messages have
-- theirs since 00001. The full-text index is chunks.tsv with its GIN index.

CREATE INDEX documents_bot ON documents(bot_id, created_at);
CREATE INDEX chunks_bot ON chunks(bot_id);
CREATE INDEX conversations_bot ON conversations(bot_id);

-- Messages are ordered by a per-conversation sequence number, assigned under
-- the conversation's row lock, so two messages written in the same instant
-- still have one order.
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
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
