-- The trait index as sorted runs (package events). A batch of events
-- writes one row per trait name and type it holds: the batch's values of
-- that trait, sorted by (value, generated, event id), encoded in data. Runs
-- are merged in tiers as they accumulate, so a trait has a few dozen runs
-- however many events there are; queries binary-search them. The event id
-- and time ranges let queries and expiry skip runs; max_expires is when
-- every event of the run has expired. Run ids are never reused (readers
-- cache decoded runs by id).
CREATE TABLE event_trait_run (
    id            BIGSERIAL PRIMARY KEY,
    namespace     TEXT     NOT NULL,
    name          TEXT     NOT NULL,
    type          SMALLINT NOT NULL CHECK (type BETWEEN 1 AND 4),
    entries       INTEGER  NOT NULL CHECK (entries > 0),
    min_id        BIGINT   NOT NULL,
    max_id        BIGINT   NOT NULL,
    min_generated BIGINT   NOT NULL,
    max_generated BIGINT   NOT NULL,
    max_expires   BIGINT   NOT NULL,
    data          BYTEA    NOT NULL
);
-- Runs are read whole and hardly compress: TOAST stores them out of line
-- (from 128 bytes a row), uncompressed, so that listing the runs of a trait
-- reads small rows.
ALTER TABLE event_trait_run ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE event_trait_run SET (toast_tuple_target = 128);
CREATE INDEX event_trait_run_name ON event_trait_run (namespace, name, type);
CREATE INDEX event_trait_run_expires ON event_trait_run (max_expires);
-- Merges look for the runs of a namespace below the final size.
CREATE INDEX event_trait_run_size ON event_trait_run (namespace, entries);

-- event_trait, the per-trait index of version 2, stays for databases
-- upgraded from it: the event store moves its rows into runs when it opens
-- and deletes them.
