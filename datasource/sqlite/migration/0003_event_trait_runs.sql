-- The trait index as sorted runs (package events). A batch of events
-- writes one row per trait name and type it holds: the batch's values of
-- that trait, sorted by (value, generated, event id), encoded in data. Runs
-- are merged in tiers as they accumulate, so a trait has a few dozen runs
-- however many events there are; queries binary-search them. The event id
-- and time ranges let queries and expiry skip runs; max_expires is when
-- every event of the run has expired. Run ids are never reused (readers
-- cache decoded runs by id).
CREATE TABLE IF NOT EXISTS event_trait_run (
    id            INTEGER PRIMARY KEY,
    namespace     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    type          INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),
    entries       INTEGER NOT NULL CHECK (entries > 0),
    min_id        INTEGER NOT NULL,
    max_id        INTEGER NOT NULL,
    min_generated INTEGER NOT NULL,
    max_generated INTEGER NOT NULL,
    max_expires   INTEGER NOT NULL,
    data          BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS event_trait_run_name ON event_trait_run (namespace, name, type);
CREATE INDEX IF NOT EXISTS event_trait_run_expires ON event_trait_run (max_expires);
-- Merges look for the runs of a namespace below the final size.
CREATE INDEX IF NOT EXISTS event_trait_run_size ON event_trait_run (namespace, entries);

-- The last event and run ids handed out (the writer takes a batch's ids
-- before it inserts, so that it can cache the runs it writes). Ids are
-- never reused: a run may still name the id of a deleted event, and
-- readers cache runs by id.
CREATE TABLE IF NOT EXISTS event_seq (events INTEGER NOT NULL, runs INTEGER NOT NULL);
INSERT INTO event_seq (events, runs) SELECT COALESCE(MAX(id), 0), 0 FROM event;

-- event_trait, the per-trait index of version 2, stays for databases
-- upgraded from it: the event store moves its rows into runs when it opens
-- and deletes them.
