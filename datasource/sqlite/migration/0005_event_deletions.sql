-- Version 5 counts deletions of events on PostgreSQL, where a trait
-- query's page may come from a process's cache (event_deletions); SQLite
-- reads every page from the database, so its version 5 changes nothing.
SELECT 1;
