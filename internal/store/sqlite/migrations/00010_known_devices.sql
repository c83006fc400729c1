-- +goose Up
-- Known devices (R2): the browsers a user has signed in from, each holding
-- a device cookie. Only a keyed hash of the cookie's token is stored, bound
-- to the user, with an expiry. A known device's log-in is counted against
-- its own failure budget, so failures from elsewhere cannot lock the owner
-- out. A platform table, like sessions: users are global.
CREATE TABLE known_devices (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX known_devices_user ON known_devices(user_id);
CREATE INDEX known_devices_expires ON known_devices(expires_at);

-- +goose Down
DROP TABLE known_devices;
