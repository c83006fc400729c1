-- +goose Up
-- The initial schema for the whole product as far as it can be foreseen.
-- Every tenant-owned table carries workspace_id and cascades from workspaces.

CREATE TABLE workspaces (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    require_mfa     BOOLEAN NOT NULL DEFAULT FALSE,
    retention_days  INTEGER NOT NULL DEFAULT 90,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL DEFAULT '',
    password_hash      TEXT NOT NULL DEFAULT '',
    email_verified_at  TIMESTAMP,
    totp_secret        BLOB,
    totp_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step     INTEGER NOT NULL DEFAULT 0,
    recovery_codes     TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash       BLOB NOT NULL UNIQUE,
    mfa_pending      BOOLEAN NOT NULL DEFAULT FALSE,
    ip               TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    last_seen_at     TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    revoked_at       TIMESTAMP
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE one_time_tokens (
    token_hash         BLOB PRIMARY KEY,
    purpose            TEXT NOT NULL,
    email              TEXT NOT NULL DEFAULT '',
    user_id            TEXT REFERENCES users(id) ON DELETE CASCADE,
    created_at         TIMESTAMP NOT NULL,
    expires_at         TIMESTAMP NOT NULL,
    used_at            TIMESTAMP
);

CREATE TABLE keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE platform_audit_log (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);

-- Tenant tables.

CREATE TABLE memberships (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invitations (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    invited_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    accepted_at   TIMESTAMP
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    hash          BLOB NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);
CREATE INDEX api_keys_ws ON api_keys(workspace_id);

CREATE TABLE data_keys (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BLOB NOT NULL,
    is_current    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, version)
);

CREATE TABLE provider_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    base_url      TEXT NOT NULL DEFAULT '',
    sealed_key    BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE bots (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    system_prompt       TEXT NOT NULL DEFAULT '',
    model               TEXT NOT NULL DEFAULT '',
    temperature         REAL NOT NULL DEFAULT 0.7,
    max_output_tokens   INTEGER NOT NULL DEFAULT 1024,
    pii_mode            TEXT NOT NULL DEFAULT 'off',
    allowed_domains     TEXT NOT NULL DEFAULT '',
    retention_days      INTEGER NOT NULL DEFAULT 0,
    gateway_token_hash  BLOB,
    daily_token_budget  INTEGER NOT NULL DEFAULT 0,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX bots_ws ON bots(workspace_id);

CREATE TABLE channels (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id              TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    kind                TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    external_id         TEXT NOT NULL DEFAULT '',
    config              TEXT NOT NULL DEFAULT '',
    sealed_credentials  BLOB,
    sealed_secret       BLOB,
    status              TEXT NOT NULL DEFAULT 'active',
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX channels_bot ON channels(bot_id);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id           TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    channel          TEXT NOT NULL,
    external_user    TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    last_message_at  TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    bot_id           TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    role             TEXT NOT NULL,
    sealed_body      BLOB NOT NULL,
    inbound_ref      TEXT NOT NULL DEFAULT '',
    tokens_in        INTEGER NOT NULL DEFAULT 0,
    tokens_out       INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX messages_conv ON messages(conversation_id, created_at);
CREATE INDEX messages_created ON messages(workspace_id, created_at);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE chunks (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    document_id   TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks(document_id);

-- Full-text index over chunks; rowid links back through chunk_rowid.
CREATE VIRTUAL TABLE chunks_fts USING fts5(body, chunk_id UNINDEXED, workspace_id UNINDEXED, bot_id UNINDEXED, tokenize = 'porter unicode61');

CREATE TABLE deliveries (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL,
    source        TEXT NOT NULL,
    key           TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, bot_id, source, key)
);
CREATE INDEX deliveries_created ON deliveries(created_at);

CREATE TABLE usage_daily (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, bot_id, day)
);

CREATE TABLE audit_log (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL,
    ip            TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE usage_daily;
DROP TABLE deliveries;
DROP TABLE chunks_fts;
DROP TABLE chunks;
DROP TABLE documents;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE channels;
DROP TABLE bots;
DROP TABLE provider_keys;
DROP TABLE data_keys;
DROP TABLE api_keys;
DROP TABLE invitations;
DROP TABLE memberships;
DROP TABLE platform_audit_log;
DROP TABLE keks;
DROP TABLE one_time_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE workspaces;
