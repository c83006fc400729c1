-- +goose Up
-- Keys live apart from the data they protect (SPEC.md R3): the wrapped KEKs
-- and data keys move to their own schema, palisade_keys, so that a data
-- backup of the public schema (pg_dump --schema=public, or
-- --exclude-schema=palisade_keys) holds no key, and the operator keeps and
-- expires key backups on their own terms. The unused tables of 00001 go.
DROP TABLE data_keys;
DROP TABLE keks;

CREATE SCHEMA palisade_keys;

CREATE TABLE palisade_keys.keks (
    version     BIGINT PRIMARY KEY,
    wrapped     BYTEA NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

-- No foreign key to workspaces: the keys are destroyed before the
-- workspace's rows are deleted, and a tombstone must outlive them.
CREATE TABLE palisade_keys.data_keys (
    workspace_id  TEXT NOT NULL,
    version       BIGINT NOT NULL,
    kek_version   BIGINT NOT NULL,
    wrapped       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
CREATE INDEX data_keys_kek ON palisade_keys.data_keys(kek_version);

CREATE TABLE palisade_keys.destroyed_workspaces (
    workspace_id  TEXT PRIMARY KEY,
    destroyed_at  BIGINT NOT NULL
);

-- Row Level Security as on every tenant table: enabled, forced, a permissive
-- and a restrictive policy on the workspace scope. The one operator-wide read
-- (listing every data key to rotate KEKs or show status) declares itself with
-- the transaction-local setting app.key_scan = 'all', set only by the key
-- store's ListDataKeys; it is read-only (SELECT policies only), so a scan
-- can never write another workspace's key.
CREATE FUNCTION palisade_keys.key_scan() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT COALESCE(current_setting('app.key_scan', true), '') = 'all' $$;

ALTER TABLE palisade_keys.data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE palisade_keys.data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON palisade_keys.data_keys AS PERMISSIVE FOR SELECT USING (workspace_id = palisade_scope() OR palisade_keys.key_scan());
CREATE POLICY tenant_read_guard ON palisade_keys.data_keys AS RESTRICTIVE FOR SELECT USING (workspace_id = palisade_scope() OR palisade_keys.key_scan());
CREATE POLICY tenant_insert ON palisade_keys.data_keys AS PERMISSIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_insert_guard ON palisade_keys.data_keys AS RESTRICTIVE FOR INSERT WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update ON palisade_keys.data_keys AS PERMISSIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_update_guard ON palisade_keys.data_keys AS RESTRICTIVE FOR UPDATE USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_delete ON palisade_keys.data_keys AS PERMISSIVE FOR DELETE USING (workspace_id = palisade_scope());
CREATE POLICY tenant_delete_guard ON palisade_keys.data_keys AS RESTRICTIVE FOR DELETE USING (workspace_id = palisade_scope());

ALTER TABLE palisade_keys.destroyed_workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE palisade_keys.destroyed_workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON palisade_keys.destroyed_workspaces AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON palisade_keys.destroyed_workspaces AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

-- +goose Down
DROP SCHEMA palisade_keys CASCADE;

CREATE TABLE keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BYTEA NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE data_keys (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BYTEA NOT NULL,
    is_current    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON data_keys AS PERMISSIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
CREATE POLICY tenant_guard ON data_keys AS RESTRICTIVE FOR ALL USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
