-- +goose Up
-- An API key acts with at most its creator's current role and stops working
-- when its creator leaves the workspace (R2). The lookup that finds a key by
-- its public prefix runs before any workspace scope is known, and reads the
-- creator's membership in the same query: the lookup of a key now also lets
-- exactly that one membership row be seen (the key's creator, in the key's
-- workspace), read-only. The subquery is itself subject to the api_keys
-- policies, so it sees only the key the lookup names. Both the permissive
-- policy and its restrictive guard change, in one transaction.
DROP POLICY tenant_read ON memberships;
DROP POLICY tenant_read_guard ON memberships;
CREATE POLICY tenant_read ON memberships AS PERMISSIVE FOR SELECT USING (
    workspace_id = (SELECT palisade_scope()) OR user_id = (SELECT palisade_user())
    OR EXISTS (SELECT 1 FROM api_keys k WHERE 'key:' || k.prefix = (SELECT palisade_lookup())
        AND k.workspace_id = memberships.workspace_id AND k.created_by = memberships.user_id));
CREATE POLICY tenant_read_guard ON memberships AS RESTRICTIVE FOR SELECT USING (
    workspace_id = (SELECT palisade_scope()) OR user_id = (SELECT palisade_user())
    OR EXISTS (SELECT 1 FROM api_keys k WHERE 'key:' || k.prefix = (SELECT palisade_lookup())
        AND k.workspace_id = memberships.workspace_id AND k.created_by = memberships.user_id));

-- +goose Down
DROP POLICY tenant_read ON memberships;
DROP POLICY tenant_read_guard ON memberships;
CREATE POLICY tenant_read ON memberships AS PERMISSIVE FOR SELECT USING ((workspace_id = (SELECT palisade_scope())) OR (user_id = (SELECT palisade_user())));
CREATE POLICY tenant_read_guard ON memberships AS RESTRICTIVE FOR SELECT USING ((workspace_id = (SELECT palisade_scope())) OR (user_id = (SELECT palisade_user())));
