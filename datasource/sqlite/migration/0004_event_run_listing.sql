-- Version 4 pins how PostgreSQL lists the trait index runs (functions
-- strata_event_runs and strata_event_merge_runs); SQLite's plans need no
-- change, so its version 4 changes nothing.
SELECT 1;
