-- +goose Up
-- A Discord channel's Gateway session, so a process that takes the bot's
-- lease after a crash resumes it and Discord replays what the dead process
-- read but never saved. The session id lets anyone holding the bot token
-- take the session over, so it is sealed bound to the channel's row;
-- gateway_seq is the last dispatch durably saved, not merely read. The
-- columns sit on the channel's row so they go with the channel, the bot
-- and the workspace.
ALTER TABLE channels ADD COLUMN sealed_gateway_session BLOB;
ALTER TABLE channels ADD COLUMN gateway_resume_url TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN gateway_seq INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE channels DROP COLUMN gateway_seq;
ALTER TABLE channels DROP COLUMN gateway_resume_url;
ALTER TABLE channels DROP COLUMN sealed_gateway_session;
