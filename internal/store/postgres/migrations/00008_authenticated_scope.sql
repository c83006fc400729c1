-- +goose Up
-- Row Level Security that SQL injection cannot switch off (SPEC.md R1).
--
-- Until now the policies trusted app.workspace_id, app.user_id, app.lookup
-- and app.key_scan as set, and any statement run as the runtime role can
-- set them: one injectable query anywhere read every tenant. From here on
-- the application also sets app.scope_tag, an HMAC-SHA256 over those
-- settings, the backend's pid and an expiry (store/postgres/scope.go has
-- the format), under a key derived from the master key; the policies read
-- the settings only through SECURITY DEFINER functions that verify it with
-- a copy of that key kept in palisade_private, a schema the runtime role
-- has no access to. `palisade migrate` installs the key after this
-- migration (migrate.go). Settings whose tag does not verify read as unset,
-- so a forged, copied or expired scope sees nothing.
--
-- Every policy calls the functions as (SELECT f()): an InitPlan, evaluated
-- once per statement rather than once per row.
--
-- The tables that had no RLS get it too, keyed on the same verified
-- settings and shaped after the store's real access paths: users by id,
-- by e-mail at log-in, and as members of the scoped workspace (member
-- lists join memberships to users); workspaces by their own scope, by the
-- user's memberships, or the one operator-wide listing; sessions by user
-- or by token hash; one-time tokens by token hash. Workspaces are deleted
-- only through palisade_delete_workspace, which checks the scope and that
-- the deletion is recorded in the platform audit log in the same
-- transaction; migrate revokes DELETE on workspaces from the runtime role
-- (the foreign keys' cascades bypass RLS, so a plain DELETE would remove
-- any tenant's every row).

CREATE SCHEMA palisade_private;
REVOKE ALL ON SCHEMA palisade_private FROM PUBLIC;

-- The scope MAC key as its two HMAC pads (RFC 2104): with them HMAC-SHA256
-- is two calls of the built-in sha256(), so no extension is needed. One row.
CREATE TABLE palisade_private.scope_key (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    inner_pad  BYTEA NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad  BYTEA NOT NULL CHECK (length(outer_pad) = 64)
);
REVOKE ALL ON palisade_private.scope_key FROM PUBLIC;

-- scope_valid reports whether app.scope_tag authenticates the current
-- settings for this connection, now. The comparison is of hashes of both
-- MACs under the key, so its timing tells nothing about the expected MAC.
-- +goose StatementBegin
CREATE FUNCTION palisade_private.scope_valid() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[];
    k     palisade_private.scope_key%ROWTYPE;
    msg   bytea;
    mac   bytea;
BEGIN
    -- v1.<pid>.<expiry>.<mac>, parsed without a regular expression: one
    -- with bounded repeats costs a millisecond a call, and this runs for
    -- every statement.
    parts := string_to_array(current_setting('app.scope_tag', true), '.');
    IF cardinality(parts) IS DISTINCT FROM 4 OR parts[1] <> 'v1'
        OR parts[2] <> pg_backend_pid()::text
        OR length(parts[3]) NOT BETWEEN 1 AND 15 OR translate(parts[3], '0123456789', '') <> ''
        OR length(parts[4]) <> 64 OR translate(parts[4], '0123456789abcdef', '') <> '' THEN
        RETURN false;
    END IF;
    IF parts[3]::bigint <= extract(epoch FROM now()) THEN
        RETURN false;
    END IF;
    SELECT * INTO k FROM palisade_private.scope_key;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    msg := convert_to('palisade scope v1', 'UTF8')
        || '\x00'::bytea || convert_to(parts[2], 'UTF8')
        || '\x00'::bytea || convert_to(parts[3], 'UTF8')
        || '\x00'::bytea || convert_to(coalesce(current_setting('app.workspace_id', true), ''), 'UTF8')
        || '\x00'::bytea || convert_to(coalesce(current_setting('app.user_id', true), ''), 'UTF8')
        || '\x00'::bytea || convert_to(coalesce(current_setting('app.lookup', true), ''), 'UTF8')
        || '\x00'::bytea || convert_to(coalesce(current_setting('app.key_scan', true), ''), 'UTF8');
    mac := sha256(k.outer_pad || sha256(k.inner_pad || msg));
    RETURN sha256(k.outer_pad || mac) = sha256(k.outer_pad || decode(parts[4], 'hex'));
END
$$;
-- +goose StatementEnd

-- The settings as the policies see them: verified, or NULL. PL/pgSQL
-- rather than SQL: a SQL function that cannot be inlined (a SECURITY
-- DEFINER one cannot) is planned again in every statement that calls it,
-- a PL/pgSQL one once per connection.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION palisade_scope() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF palisade_private.scope_valid() THEN
        RETURN NULLIF(current_setting('app.workspace_id', true), '');
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION palisade_lookup() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF palisade_private.scope_valid() THEN
        RETURN NULLIF(current_setting('app.lookup', true), '');
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION palisade_user() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF palisade_private.scope_valid() THEN
        RETURN NULLIF(current_setting('app.user_id', true), '');
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION palisade_keys.key_scan() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN COALESCE(current_setting('app.key_scan', true), '') = 'all' AND palisade_private.scope_valid();
END
$$;
-- +goose StatementEnd

-- The first-owner check counts every user, which no scope may see: a
-- function that returns the count and nothing else. users is not FORCEd
-- below, so this function, running as the owner, sees every row.
-- +goose StatementBegin
CREATE FUNCTION palisade_count_users() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT count(*) FROM users);
END
$$;
-- +goose StatementEnd

-- Deleting a workspace cascades to every tenant table, past their
-- policies. Only the workspace of the transaction's verified scope may be
-- deleted, and only when the same transaction recorded the deletion in the
-- platform audit log (the store appends that entry first: its hash chain is
-- computed by the application).
-- +goose StatementBegin
CREATE FUNCTION palisade_delete_workspace(ws text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ws IS NULL OR ws IS DISTINCT FROM palisade_scope() THEN
        RAISE EXCEPTION 'palisade_delete_workspace: not the workspace of this transaction''s scope'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM platform_audit_log a
                   WHERE a.action = 'workspace.deleted' AND a.target = ws AND a.xmin = pg_current_xact_id()::xid) THEN
        RAISE EXCEPTION 'palisade_delete_workspace: the deletion is not recorded in the platform audit log in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM workspaces WHERE id = ws;
    RETURN FOUND;
END
$$;
-- +goose StatementEnd

-- The two functions above name tables of the schema being migrated, which
-- need not be public: their search path names it explicitly, with pg_temp
-- last so that no temporary table of the caller's can stand in for one.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION palisade_count_users() SET search_path = pg_catalog, %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION palisade_delete_workspace(text) SET search_path = pg_catalog, %I, pg_temp', current_schema());
END
$$;
-- +goose StatementEnd

-- Every existing policy, now evaluating the verified settings once per
-- statement.
ALTER POLICY tenant_delete ON palisade_keys.data_keys USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON palisade_keys.data_keys USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON palisade_keys.data_keys WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON palisade_keys.data_keys WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON palisade_keys.data_keys USING ((workspace_id = (SELECT palisade_scope())) OR (SELECT palisade_keys.key_scan()));
ALTER POLICY tenant_read_guard ON palisade_keys.data_keys USING ((workspace_id = (SELECT palisade_scope())) OR (SELECT palisade_keys.key_scan()));
ALTER POLICY tenant_update ON palisade_keys.data_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON palisade_keys.data_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON palisade_keys.destroyed_workspaces USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON palisade_keys.destroyed_workspaces USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_delete ON api_keys USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON api_keys USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON api_keys WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON api_keys WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON api_keys USING ((workspace_id = (SELECT palisade_scope())) OR (('key:' || prefix) = (SELECT palisade_lookup())));
ALTER POLICY tenant_read_guard ON api_keys USING ((workspace_id = (SELECT palisade_scope())) OR (('key:' || prefix) = (SELECT palisade_lookup())));
ALTER POLICY tenant_update ON api_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON api_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON audit_log USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON audit_log USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_delete ON bots USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON bots USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON bots WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON bots WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON bots USING ((workspace_id = (SELECT palisade_scope())) OR (('bot:' || id) = (SELECT palisade_lookup())));
ALTER POLICY tenant_read_guard ON bots USING ((workspace_id = (SELECT palisade_scope())) OR (('bot:' || id) = (SELECT palisade_lookup())));
ALTER POLICY tenant_update ON bots USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON bots USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_delete ON channels USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON channels USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON channels WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON channels WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON channels USING ((workspace_id = (SELECT palisade_scope())) OR (('ch:' || id) = (SELECT palisade_lookup())));
ALTER POLICY tenant_read_guard ON channels USING ((workspace_id = (SELECT palisade_scope())) OR (('ch:' || id) = (SELECT palisade_lookup())));
ALTER POLICY tenant_update ON channels USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON channels USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON chunks USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON chunks USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON conversations USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON conversations USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON deliveries USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON deliveries USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON documents USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON documents USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_delete ON invitations USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON invitations USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON invitations WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON invitations WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON invitations USING ((workspace_id = (SELECT palisade_scope())) OR (('inv:' || token_hash) = (SELECT palisade_lookup())));
ALTER POLICY tenant_read_guard ON invitations USING ((workspace_id = (SELECT palisade_scope())) OR (('inv:' || token_hash) = (SELECT palisade_lookup())));
ALTER POLICY tenant_update ON invitations USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON invitations USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_delete ON memberships USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_delete_guard ON memberships USING (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert ON memberships WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_insert_guard ON memberships WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_read ON memberships USING ((workspace_id = (SELECT palisade_scope())) OR (user_id = (SELECT palisade_user())));
ALTER POLICY tenant_read_guard ON memberships USING ((workspace_id = (SELECT palisade_scope())) OR (user_id = (SELECT palisade_user())));
ALTER POLICY tenant_update ON memberships USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_update_guard ON memberships USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON messages USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON messages USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON provider_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON provider_keys USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));

ALTER POLICY tenant_access ON usage_daily USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));
ALTER POLICY tenant_guard ON usage_daily USING (workspace_id = (SELECT palisade_scope())) WITH CHECK (workspace_id = (SELECT palisade_scope()));


-- workspaces: the scoped workspace; the workspaces of the scoped user's
-- memberships (a user's workspace list); or all of them for the one
-- operator-wide listing (pruning, key re-encryption), read-only. DELETE
-- has a policy for palisade_delete_workspace, which runs as the owner and
-- is subject to it (FORCE); the runtime role holds no DELETE right at all.
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON workspaces AS PERMISSIVE FOR SELECT USING (id = (SELECT palisade_scope())
    OR (SELECT palisade_lookup()) = 'workspaces:all'
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = workspaces.id AND m.user_id = (SELECT palisade_user())));
CREATE POLICY tenant_read_guard ON workspaces AS RESTRICTIVE FOR SELECT USING (id = (SELECT palisade_scope())
    OR (SELECT palisade_lookup()) = 'workspaces:all'
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = workspaces.id AND m.user_id = (SELECT palisade_user())));
CREATE POLICY tenant_insert ON workspaces AS PERMISSIVE FOR INSERT WITH CHECK (id = (SELECT palisade_scope()));
CREATE POLICY tenant_insert_guard ON workspaces AS RESTRICTIVE FOR INSERT WITH CHECK (id = (SELECT palisade_scope()));
CREATE POLICY tenant_update ON workspaces AS PERMISSIVE FOR UPDATE USING (id = (SELECT palisade_scope())) WITH CHECK (id = (SELECT palisade_scope()));
CREATE POLICY tenant_update_guard ON workspaces AS RESTRICTIVE FOR UPDATE USING (id = (SELECT palisade_scope())) WITH CHECK (id = (SELECT palisade_scope()));
CREATE POLICY tenant_delete ON workspaces AS PERMISSIVE FOR DELETE USING (id = (SELECT palisade_scope()));
CREATE POLICY tenant_delete_guard ON workspaces AS RESTRICTIVE FOR DELETE USING (id = (SELECT palisade_scope()));

-- users: the scoped user; the user of an e-mail address at log-in and
-- reset; the members of the scoped workspace (member lists, API keys with
-- their creator). Not FORCEd, so that palisade_count_users, running as the
-- owner, can count every row; the runtime role is never the owner (serve
-- refuses it). No DELETE policy: the store deletes no user.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_read ON users AS PERMISSIVE FOR SELECT USING (id = (SELECT palisade_user())
    OR 'email:' || email = (SELECT palisade_lookup())
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.workspace_id = (SELECT palisade_scope())));
CREATE POLICY account_read_guard ON users AS RESTRICTIVE FOR SELECT USING (id = (SELECT palisade_user())
    OR 'email:' || email = (SELECT palisade_lookup())
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.workspace_id = (SELECT palisade_scope())));
CREATE POLICY account_insert ON users AS PERMISSIVE FOR INSERT WITH CHECK (id = (SELECT palisade_user()));
CREATE POLICY account_insert_guard ON users AS RESTRICTIVE FOR INSERT WITH CHECK (id = (SELECT palisade_user()));
CREATE POLICY account_update ON users AS PERMISSIVE FOR UPDATE USING (id = (SELECT palisade_user())) WITH CHECK (id = (SELECT palisade_user()));
CREATE POLICY account_update_guard ON users AS RESTRICTIVE FOR UPDATE USING (id = (SELECT palisade_user())) WITH CHECK (id = (SELECT palisade_user()));

-- sessions: the scoped user's, or the one of a token hash (the lookup
-- 'sess:' and the hash in hex) before its user is known. Written only in
-- the user's scope, so no one can plant a session for another user.
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY account_read ON sessions AS PERMISSIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'sess:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_read_guard ON sessions AS RESTRICTIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'sess:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_insert ON sessions AS PERMISSIVE FOR INSERT WITH CHECK (user_id = (SELECT palisade_user()));
CREATE POLICY account_insert_guard ON sessions AS RESTRICTIVE FOR INSERT WITH CHECK (user_id = (SELECT palisade_user()));
CREATE POLICY account_update ON sessions AS PERMISSIVE FOR UPDATE USING (user_id = (SELECT palisade_user())) WITH CHECK (user_id = (SELECT palisade_user()));
CREATE POLICY account_update_guard ON sessions AS RESTRICTIVE FOR UPDATE USING (user_id = (SELECT palisade_user())) WITH CHECK (user_id = (SELECT palisade_user()));

-- one_time_tokens: the one of a token hash ('ott:' and the hash in hex),
-- to create or consume; deleting (expired ones) only under the prune
-- lookup, which may read them too.
ALTER TABLE one_time_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE one_time_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY account_read ON one_time_tokens AS PERMISSIVE FOR SELECT USING ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup())
    OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_read_guard ON one_time_tokens AS RESTRICTIVE FOR SELECT USING ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup())
    OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_insert ON one_time_tokens AS PERMISSIVE FOR INSERT WITH CHECK ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_insert_guard ON one_time_tokens AS RESTRICTIVE FOR INSERT WITH CHECK ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_update ON one_time_tokens AS PERMISSIVE FOR UPDATE USING ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()))
    WITH CHECK ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_update_guard ON one_time_tokens AS RESTRICTIVE FOR UPDATE USING ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()))
    WITH CHECK ('ott:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()));
CREATE POLICY account_delete ON one_time_tokens AS PERMISSIVE FOR DELETE USING ((SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_delete_guard ON one_time_tokens AS RESTRICTIVE FOR DELETE USING ((SELECT palisade_lookup()) = 'prune');

-- +goose Down
DROP POLICY account_read ON one_time_tokens;
DROP POLICY account_read_guard ON one_time_tokens;
DROP POLICY account_insert ON one_time_tokens;
DROP POLICY account_insert_guard ON one_time_tokens;
DROP POLICY account_update ON one_time_tokens;
DROP POLICY account_update_guard ON one_time_tokens;
DROP POLICY account_delete ON one_time_tokens;
DROP POLICY account_delete_guard ON one_time_tokens;
ALTER TABLE one_time_tokens NO FORCE ROW LEVEL SECURITY;
ALTER TABLE one_time_tokens DISABLE ROW LEVEL SECURITY;

DROP POLICY account_read ON sessions;
DROP POLICY account_read_guard ON sessions;
DROP POLICY account_insert ON sessions;
DROP POLICY account_insert_guard ON sessions;
DROP POLICY account_update ON sessions;
DROP POLICY account_update_guard ON sessions;
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;

DROP POLICY account_read ON users;
DROP POLICY account_read_guard ON users;
DROP POLICY account_insert ON users;
DROP POLICY account_insert_guard ON users;
DROP POLICY account_update ON users;
DROP POLICY account_update_guard ON users;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

DROP POLICY tenant_read ON workspaces;
DROP POLICY tenant_read_guard ON workspaces;
DROP POLICY tenant_insert ON workspaces;
DROP POLICY tenant_insert_guard ON workspaces;
DROP POLICY tenant_update ON workspaces;
DROP POLICY tenant_update_guard ON workspaces;
DROP POLICY tenant_delete ON workspaces;
DROP POLICY tenant_delete_guard ON workspaces;
ALTER TABLE workspaces NO FORCE ROW LEVEL SECURITY;
ALTER TABLE workspaces DISABLE ROW LEVEL SECURITY;

ALTER POLICY tenant_delete ON palisade_keys.data_keys USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON palisade_keys.data_keys USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON palisade_keys.data_keys WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON palisade_keys.data_keys WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON palisade_keys.data_keys USING ((workspace_id = palisade_scope()) OR palisade_keys.key_scan());
ALTER POLICY tenant_read_guard ON palisade_keys.data_keys USING ((workspace_id = palisade_scope()) OR palisade_keys.key_scan());
ALTER POLICY tenant_update ON palisade_keys.data_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON palisade_keys.data_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON palisade_keys.destroyed_workspaces USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON palisade_keys.destroyed_workspaces USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_delete ON api_keys USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON api_keys USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON api_keys WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON api_keys WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON api_keys USING ((workspace_id = palisade_scope()) OR (('key:' || prefix) = palisade_lookup()));
ALTER POLICY tenant_read_guard ON api_keys USING ((workspace_id = palisade_scope()) OR (('key:' || prefix) = palisade_lookup()));
ALTER POLICY tenant_update ON api_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON api_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON audit_log USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON audit_log USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_delete ON bots USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON bots USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON bots WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON bots WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON bots USING ((workspace_id = palisade_scope()) OR (('bot:' || id) = palisade_lookup()));
ALTER POLICY tenant_read_guard ON bots USING ((workspace_id = palisade_scope()) OR (('bot:' || id) = palisade_lookup()));
ALTER POLICY tenant_update ON bots USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON bots USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_delete ON channels USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON channels USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON channels WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON channels WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON channels USING ((workspace_id = palisade_scope()) OR (('ch:' || id) = palisade_lookup()));
ALTER POLICY tenant_read_guard ON channels USING ((workspace_id = palisade_scope()) OR (('ch:' || id) = palisade_lookup()));
ALTER POLICY tenant_update ON channels USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON channels USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON chunks USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON chunks USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON conversations USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON conversations USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON deliveries USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON deliveries USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON documents USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON documents USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_delete ON invitations USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON invitations USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON invitations WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON invitations WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON invitations USING ((workspace_id = palisade_scope()) OR (('inv:' || token_hash) = palisade_lookup()));
ALTER POLICY tenant_read_guard ON invitations USING ((workspace_id = palisade_scope()) OR (('inv:' || token_hash) = palisade_lookup()));
ALTER POLICY tenant_update ON invitations USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON invitations USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_delete ON memberships USING (workspace_id = palisade_scope());
ALTER POLICY tenant_delete_guard ON memberships USING (workspace_id = palisade_scope());
ALTER POLICY tenant_insert ON memberships WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_insert_guard ON memberships WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_read ON memberships USING ((workspace_id = palisade_scope()) OR (user_id = palisade_user()));
ALTER POLICY tenant_read_guard ON memberships USING ((workspace_id = palisade_scope()) OR (user_id = palisade_user()));
ALTER POLICY tenant_update ON memberships USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_update_guard ON memberships USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON messages USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON messages USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON provider_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON provider_keys USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

ALTER POLICY tenant_access ON usage_daily USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());
ALTER POLICY tenant_guard ON usage_daily USING (workspace_id = palisade_scope()) WITH CHECK (workspace_id = palisade_scope());

DROP FUNCTION palisade_delete_workspace(text);
DROP FUNCTION palisade_count_users();
CREATE OR REPLACE FUNCTION palisade_keys.key_scan() RETURNS boolean LANGUAGE sql STABLE SECURITY INVOKER RESET search_path
    AS $$ SELECT COALESCE(current_setting('app.key_scan', true), '') = 'all' $$;
CREATE OR REPLACE FUNCTION palisade_scope() RETURNS text LANGUAGE sql STABLE SECURITY INVOKER RESET search_path
    AS $$ SELECT NULLIF(current_setting('app.workspace_id', true), '') $$;
CREATE OR REPLACE FUNCTION palisade_lookup() RETURNS text LANGUAGE sql STABLE SECURITY INVOKER RESET search_path
    AS $$ SELECT NULLIF(current_setting('app.lookup', true), '') $$;
CREATE OR REPLACE FUNCTION palisade_user() RETURNS text LANGUAGE sql STABLE SECURITY INVOKER RESET search_path
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '') $$;
DROP SCHEMA palisade_private CASCADE;
