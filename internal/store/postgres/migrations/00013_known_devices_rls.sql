-- +goose Up
-- known_devices, like sessions: the device of a token hash ('dev:' and the
-- hash in hex) before its user is known, or the scoped user's own; written
-- only in the user's scope, so no one can plant a known device for another
-- account; deleting expired ones only under the prune lookup.
ALTER TABLE known_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE known_devices FORCE ROW LEVEL SECURITY;
CREATE POLICY account_read ON known_devices AS PERMISSIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'dev:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()) OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_read_guard ON known_devices AS RESTRICTIVE FOR SELECT USING (user_id = (SELECT palisade_user())
    OR 'dev:' || encode(token_hash, 'hex') = (SELECT palisade_lookup()) OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_insert ON known_devices AS PERMISSIVE FOR INSERT WITH CHECK (user_id = (SELECT palisade_user()));
CREATE POLICY account_insert_guard ON known_devices AS RESTRICTIVE FOR INSERT WITH CHECK (user_id = (SELECT palisade_user()));
CREATE POLICY account_delete ON known_devices AS PERMISSIVE FOR DELETE USING (user_id = (SELECT palisade_user())
    OR (SELECT palisade_lookup()) = 'prune');
CREATE POLICY account_delete_guard ON known_devices AS RESTRICTIVE FOR DELETE USING (user_id = (SELECT palisade_user())
    OR (SELECT palisade_lookup()) = 'prune');

-- +goose Down
DROP POLICY account_read ON known_devices;
DROP POLICY account_read_guard ON known_devices;
DROP POLICY account_insert ON known_devices;
DROP POLICY account_insert_guard ON known_devices;
DROP POLICY account_delete ON known_devices;
DROP POLICY account_delete_guard ON known_devices;
ALTER TABLE known_devices NO FORCE ROW LEVEL SECURITY;
ALTER TABLE known_devices DISABLE ROW LEVEL SECURITY;
