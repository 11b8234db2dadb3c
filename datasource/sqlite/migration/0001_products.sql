-- Task manager instances. last_generation is the newest (writable)
-- generation, so "the last generation" is one indexed lookup and
-- GenerationDuplicate is one conditional UPDATE.
CREATE TABLE IF NOT EXISTS taskmanager (
    sequence_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    taskmanager_id  TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL CHECK (length(name) > 0),
    datestamp       INTEGER NOT NULL, -- unix microseconds, UTC
    last_generation INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS taskmanager_name_datestamp ON taskmanager (name, datestamp, sequence_id);
CREATE INDEX IF NOT EXISTS taskmanager_datestamp ON taskmanager (datestamp);

-- One row per generation: when it opened and when it was sealed.
CREATE TABLE IF NOT EXISTS generation (
    taskmanager_seq INTEGER NOT NULL REFERENCES taskmanager (sequence_id) ON DELETE CASCADE,
    generation      INTEGER NOT NULL CHECK (generation > 0),
    created_at      INTEGER NOT NULL,
    sealed_at       INTEGER,
    PRIMARY KEY (taskmanager_seq, generation)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS generation_created_at ON generation (created_at);

-- One row per product version, valid in generations [first_gen, last_gen);
-- header and metadata live in the row.
CREATE TABLE IF NOT EXISTS product (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    taskmanager_seq       INTEGER NOT NULL REFERENCES taskmanager (sequence_id) ON DELETE CASCADE,
    key                   TEXT    NOT NULL CHECK (length(key) > 0),
    first_gen             INTEGER NOT NULL,
    last_gen              INTEGER NOT NULL,
    encoding              INTEGER NOT NULL CHECK (encoding BETWEEN 0 AND 15),
    compression           INTEGER NOT NULL CHECK (compression BETWEEN 0 AND 15),
    value                 BLOB    NOT NULL,
    raw_size              INTEGER NOT NULL,
    create_time           INTEGER NOT NULL,
    expiration_time       INTEGER NOT NULL,
    scheduled_create_time INTEGER NOT NULL,
    creator               TEXT    NOT NULL,
    schema_id             INTEGER NOT NULL,
    state                 TEXT    NOT NULL,
    generation_time       INTEGER NOT NULL,
    missed_update_count   INTEGER NOT NULL,
    CHECK (first_gen < last_gen)
);
CREATE UNIQUE INDEX IF NOT EXISTS product_key_gen ON product (taskmanager_seq, key, first_gen);
CREATE INDEX IF NOT EXISTS product_last_gen ON product (taskmanager_seq, last_gen);
