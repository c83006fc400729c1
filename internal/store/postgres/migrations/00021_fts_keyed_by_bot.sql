-- +goose Up
-- The full-text index is keyed by the bot: one GIN index over (bot_id, tsv)
-- (btree_gin gives GIN the equality operator on text; it is a trusted
-- extension, so the database owner that migrates may create it). A search
-- for one bot intersects the bot's postings with its terms', so another
-- tenant's chunks, however many, cost it nothing, and no plan the planner
-- can choose reads them: the index on the terms alone is gone, and the
-- remaining ones on chunks both start from the bot.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX chunks_bot_tsv ON chunks USING GIN (bot_id, tsv);
DROP INDEX chunks_tsv;

-- +goose Down
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
DROP INDEX chunks_bot_tsv;
