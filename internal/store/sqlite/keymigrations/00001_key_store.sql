-- +goose Up
-- keys.db, the key store of the embedded mode (SPEC.md R3): wrapped KEKs,
-- wrapped data keys and the tombstones of destroyed workspaces, in a file of
-- their own beside palisade.db, so a copy or backup of palisade.db holds no
-- key. The data keys carry no foreign key to workspaces: they live in
-- another file, and a tombstone must outlive the workspace's rows.
--
-- IF NOT EXISTS: keys.db files made before the key store had migrations
-- hold exactly these tables already; this first migration adopts them.
CREATE TABLE IF NOT EXISTS keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS data_keys (
    workspace_id  TEXT NOT NULL,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
CREATE TABLE IF NOT EXISTS destroyed_workspaces (
    workspace_id  TEXT PRIMARY KEY,
    destroyed_at  INTEGER NOT NULL
);

-- +goose Down
-- Nothing: dropping these tables would make every sealed value unreadable.
