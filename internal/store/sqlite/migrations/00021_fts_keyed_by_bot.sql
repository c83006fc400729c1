-- +goose Up
-- The full-text index is keyed by the bot: each entry carries its bot as an
-- indexed column, and a search matches that column as well as its terms,
-- so FTS5 walks only the bot's own postings and another tenant's chunks,
-- however many, cost the search nothing. The column holds the bot id
-- without its underscore, which the tokenizer would otherwise split into
-- two tokens that every bot shares the first of.
--
-- Each chunk also records the rowid of its index entry, so removing a
-- chunk removes its entry by rowid instead of scanning the index for it.
DROP TRIGGER chunks_fts_delete;
DROP TRIGGER chunks_fts_insert;
DROP TABLE chunks_fts;
CREATE VIRTUAL TABLE chunks_fts USING fts5(body, bot, chunk_id UNINDEXED, tokenize = 'porter unicode61');
ALTER TABLE chunks ADD COLUMN fts_rowid INTEGER;
INSERT INTO chunks_fts (rowid, body, bot, chunk_id) SELECT rowid, body, replace(bot_id, '_', ''), id FROM chunks;
UPDATE chunks SET fts_rowid = rowid;
-- +goose StatementBegin
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (body, bot, chunk_id) VALUES (new.body, replace(new.bot_id, '_', ''), new.id);
    UPDATE chunks SET fts_rowid = last_insert_rowid() WHERE rowid = new.rowid;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.fts_rowid;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER chunks_fts_delete;
DROP TRIGGER chunks_fts_insert;
DROP TABLE chunks_fts;
ALTER TABLE chunks DROP COLUMN fts_rowid;
CREATE VIRTUAL TABLE chunks_fts USING fts5(body, chunk_id UNINDEXED, workspace_id UNINDEXED, bot_id UNINDEXED, tokenize = 'porter unicode61');
INSERT INTO chunks_fts (body, chunk_id, workspace_id, bot_id) SELECT body, id, workspace_id, bot_id FROM chunks;
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
