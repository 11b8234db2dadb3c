-- The run indexes end with the run id, so that every entry is unique
-- (package events). Merges replace runs all the time; with keys shared by
-- every run of a trait, btree deduplication kept a trait's index entries
-- in posting lists that mixed live and dead runs, which an index scan
-- cannot mark dead: every listing visited every run merged away since the
-- last vacuum (6,000 heap fetches, 5 ms, after 1,000,000 events were
-- recorded). A unique entry is marked dead the first time a scan meets
-- it, and the listing can read the index alone.
DROP INDEX event_trait_run_name;
CREATE INDEX event_trait_run_name ON event_trait_run (namespace, name, type, id);
DROP INDEX event_trait_run_size;
CREATE INDEX event_trait_run_size ON event_trait_run (namespace, entries, id);
