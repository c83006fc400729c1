-- +goose Up
-- The initial schema for the whole product as far as it can be foreseen.
-- Every tenant-owned table carries workspace_id and cascades from workspaces.

CREATE TABLE workspaces (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    require_mfa     BOOLEAN NOT NULL DEFAULT FALSE,
    retention_days  INTEGER NOT NULL DEFAULT 90,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL DEFAULT '',
    password_hash      TEXT NOT NULL DEFAULT '',
    email_verified_at  TIMESTAMPTZ,
    totp_secret        BYTEA,
    totp_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step     BIGINT NOT NULL DEFAULT 0,
    recovery_codes     TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash       BYTEA NOT NULL UNIQUE,
    mfa_pending      BOOLEAN NOT NULL DEFAULT FALSE,
    ip               TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    revoked_at       TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE one_time_tokens (
    token_hash         BYTEA PRIMARY KEY,
    purpose            TEXT NOT NULL,
    email              TEXT NOT NULL DEFAULT '',
    user_id            TEXT REFERENCES users(id) ON DELETE CASCADE,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    used_at            TIMESTAMPTZ
);

CREATE TABLE keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BYTEA NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE platform_audit_log (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL
);

-- Tenant tables.

CREATE TABLE memberships (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
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
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    accepted_at   TIMESTAMPTZ
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    hash          BYTEA NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_ws ON api_keys(workspace_id);

CREATE TABLE data_keys (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BYTEA NOT NULL,
    is_current    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, version)
);

CREATE TABLE provider_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    base_url      TEXT NOT NULL DEFAULT '',
    sealed_key    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE bots (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    system_prompt       TEXT NOT NULL DEFAULT '',
    model               TEXT NOT NULL DEFAULT '',
    temperature         DOUBLE PRECISION NOT NULL DEFAULT 0.7,
    max_output_tokens   INTEGER NOT NULL DEFAULT 1024,
    pii_mode            TEXT NOT NULL DEFAULT 'off',
    allowed_domains     TEXT NOT NULL DEFAULT '',
    retention_days      INTEGER NOT NULL DEFAULT 0,
    gateway_token_hash  BYTEA,
    daily_token_budget  BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
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
    sealed_credentials  BYTEA,
    sealed_secret       BYTEA,
    status              TEXT NOT NULL DEFAULT 'active',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX channels_bot ON channels(bot_id);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id           TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    channel          TEXT NOT NULL,
    external_user    TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    last_message_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    bot_id           TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    role             TEXT NOT NULL,
    sealed_body      BYTEA NOT NULL,
    inbound_ref      TEXT NOT NULL DEFAULT '',
    tokens_in        BIGINT NOT NULL DEFAULT 0,
    tokens_out       BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_conv ON messages(conversation_id, created_at);
CREATE INDEX messages_created ON messages(workspace_id, created_at);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE chunks (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    document_id   TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    body          TEXT NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
CREATE INDEX chunks_doc ON chunks(document_id);
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);


CREATE TABLE deliveries (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL,
    source        TEXT NOT NULL,
    key           TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, bot_id, source, key)
);
CREATE INDEX deliveries_created ON deliveries(created_at);

CREATE TABLE usage_daily (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    bot_id        TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,
    requests      BIGINT NOT NULL DEFAULT 0,
    tokens_in     BIGINT NOT NULL DEFAULT 0,
    tokens_out    BIGINT NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, bot_id, day)
);

CREATE TABLE audit_log (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL,
    ip            TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    prev_hash     BYTEA NOT NULL,
    hash          BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);


-- Row Level Security (R1). Every tenant table: enabled and forced (the owner
-- is subject too), a permissive policy granting the scoped workspace's rows,
-- and a RESTRICTIVE policy that every other policy is ANDed with, so no
-- future permissive policy can widen access past the tenant. The scope is a
-- transaction-local setting; NULLIF makes an unset or reset scope ('' after a
-- local setting expires) match nothing.
CREATE FUNCTION palisade_scope() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.workspace_id', true), '') $$;
CREATE FUNCTION palisade_lookup() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.lookup', true), '') $$;
CREATE FUNCTION palisade_user() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '') $$;

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON memberships AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR user_id = palisade_user());
CREATE POLICY tenant_read_guard ON memberships AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR user_id = palisade_user());
CREATE POLICY tenant_insert ON memberships AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON memberships AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON memberships AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON memberships AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON memberships AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON memberships AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON invitations AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'inv:' || token_hash = palisade_lookup());
CREATE POLICY tenant_read_guard ON invitations AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'inv:' || token_hash = palisade_lookup());
CREATE POLICY tenant_insert ON invitations AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON invitations AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON invitations AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON invitations AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON invitations AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON invitations AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON api_keys AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'key:' || prefix = palisade_lookup());
CREATE POLICY tenant_read_guard ON api_keys AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'key:' || prefix = palisade_lookup());
CREATE POLICY tenant_insert ON api_keys AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON api_keys AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON api_keys AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON api_keys AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON api_keys AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON api_keys AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON data_keys AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON data_keys AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE provider_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON provider_keys AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON provider_keys AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE bots ENABLE ROW LEVEL SECURITY;
ALTER TABLE bots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON bots AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'bot:' || id = palisade_lookup());
CREATE POLICY tenant_read_guard ON bots AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'bot:' || id = palisade_lookup());
CREATE POLICY tenant_insert ON bots AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON bots AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON bots AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON bots AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON bots AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON bots AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON channels AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'ch:' || id = palisade_lookup());
CREATE POLICY tenant_read_guard ON channels AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR 'ch:' || id = palisade_lookup());
CREATE POLICY tenant_insert ON channels AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON channels AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON channels AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON channels AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON channels AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON channels AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON conversations AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON conversations AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON messages AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON messages AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON documents AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON documents AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON chunks AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON chunks AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON deliveries AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON deliveries AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON usage_daily AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON usage_daily AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON audit_log AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON audit_log AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

-- +goose Down

DROP TABLE audit_log;
DROP TABLE usage_daily;
DROP TABLE deliveries;
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
DROP FUNCTION palisade_scope();
DROP FUNCTION palisade_lookup();
DROP FUNCTION palisade_user();
