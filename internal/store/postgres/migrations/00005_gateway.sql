-- +goose Up
-- The per-bot salt the bot's gateway token is derived from; rotating the
-- token means a new salt (and a new stored hash).
ALTER TABLE bots ADD COLUMN gateway_token_salt BYTEA;

-- +goose Down
ALTER TABLE bots DROP COLUMN gateway_token_salt;
