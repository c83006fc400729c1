-- +goose Up
-- Keys live apart from the data they protect (SPEC.md R3): on SQLite in
-- their own file, keys.db (keymigrations/), never in palisade.db, so a
-- copy or backup of this file holds no key. The unused tables of 00001 go.
DROP TABLE data_keys;
DROP TABLE keks;

-- +goose Down
CREATE TABLE keks (
    version     INTEGER PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL
);
CREATE TABLE data_keys (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BLOB NOT NULL,
    is_current    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
