-- +goose Up
-- Accounts (issue 3): the tables exist since 00001; these indexes serve the
-- account service's lookups: a workspace's pending invitations, a user's
-- one-time tokens, and pruning expired sessions.
CREATE INDEX invitations_ws ON invitations(workspace_id);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- +goose Down
DROP INDEX sessions_expires;
DROP INDEX one_time_tokens_user;
DROP INDEX invitations_ws;
