-- +goose Up
-- Leases: a short, renewable claim one process holds on work that must
-- run in exactly one process at a time (each Discord bot's Gateway
-- session). A platform-level table, like the job queue: the runner reads
-- it before any scope is known, and it holds no tenant data — the name of
-- the work (a kind and a random channel id) and a random process id — so
-- it carries no workspace_id and no row-level security.
CREATE TABLE leases (
    name         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    acquired_at  TIMESTAMP NOT NULL
);
CREATE INDEX leases_owner ON leases(owner, expires_at);

-- +goose Down
DROP TABLE leases;
