-- +goose Up
-- How each audit entry's hash was computed: 1 is the unkeyed SHA-256 of the
-- entries written before this version, 2 the HMAC under the master-derived
-- chain key that every entry gets from now on. Existing rows are legacy, so
-- the default is 1: a row inserted behind the application's back without
-- naming its version reads as unkeyed, which the verifier refuses after a
-- keyed entry.
ALTER TABLE audit_log ADD COLUMN hash_version SMALLINT NOT NULL DEFAULT 1;
ALTER TABLE platform_audit_log ADD COLUMN hash_version SMALLINT NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE platform_audit_log DROP COLUMN hash_version;
ALTER TABLE audit_log DROP COLUMN hash_version;
