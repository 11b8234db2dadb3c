-- Task manager instances. last_generation is the newest (writable)
-- generation, so "the last generation" is one indexed lookup and
-- GenerationDuplicate is one conditional UPDATE.
CREATE TABLE taskmanager (
    sequence_id     BIGSERIAL   PRIMARY KEY,
    taskmanager_id  TEXT        NOT NULL UNIQUE CHECK (length(taskmanager_id) > 0),
    name            TEXT        NOT NULL CHECK (length(name) > 0),
    datestamp       TIMESTAMPTZ NOT NULL,
    last_generation BIGINT      NOT NULL DEFAULT 1 CHECK (last_generation > 0)
);
CREATE INDEX taskmanager_name_datestamp ON taskmanager (name, datestamp, sequence_id);
CREATE INDEX taskmanager_datestamp ON taskmanager (datestamp);

-- One row per generation: when it opened and when it was sealed.
CREATE TABLE generation (
    taskmanager_seq BIGINT      NOT NULL REFERENCES taskmanager (sequence_id) ON DELETE CASCADE,
    generation      BIGINT      NOT NULL CHECK (generation > 0),
    created_at      TIMESTAMPTZ NOT NULL,
    sealed_at       TIMESTAMPTZ,
    PRIMARY KEY (taskmanager_seq, generation)
);
CREATE INDEX generation_created_at ON generation (created_at);

-- One row per product version, valid in generations [first_gen, last_gen);
-- header and metadata live in the row.
CREATE TABLE product (
    id                    BIGSERIAL   PRIMARY KEY,
    taskmanager_seq       BIGINT      NOT NULL REFERENCES taskmanager (sequence_id) ON DELETE CASCADE,
    key                   TEXT        NOT NULL CHECK (length(key) > 0),
    first_gen             BIGINT      NOT NULL,
    last_gen              BIGINT      NOT NULL,
    encoding              SMALLINT    NOT NULL CHECK (encoding BETWEEN 0 AND 15),
    compression           SMALLINT    NOT NULL CHECK (compression BETWEEN 0 AND 15),
    value                 BYTEA       NOT NULL,
    raw_size              BIGINT      NOT NULL,
    create_time           TIMESTAMPTZ NOT NULL,
    expiration_time       TIMESTAMPTZ NOT NULL,
    scheduled_create_time TIMESTAMPTZ NOT NULL,
    creator               TEXT        NOT NULL,
    schema_id             BIGINT      NOT NULL,
    state                 TEXT        NOT NULL,
    generation_time       TIMESTAMPTZ NOT NULL,
    missed_update_count   BIGINT      NOT NULL,
    CHECK (first_gen < last_gen)
);
CREATE UNIQUE INDEX product_key_gen ON product (taskmanager_seq, key, first_gen);
CREATE INDEX product_last_gen ON product (taskmanager_seq, last_gen);

-- Values arrive compressed by datablock: store them out of line without
-- PostgreSQL's own compression, which would only burn CPU.
ALTER TABLE product ALTER COLUMN value SET STORAGE EXTERNAL;
