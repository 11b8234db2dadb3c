-- Version 6 makes PostgreSQL's trait index run indexes unique by ending
-- them with the run id (see its 0006). Every SQLite index already ends
-- with the rowid, and SQLite does not deduplicate entries, so its version
-- 6 changes nothing.
SELECT 1;
