-- Version 8 gives PostgreSQL the count of dictionary deletions SQLite's
-- 0007 keeps (see its 0008). SQLite's version 8 changes nothing.
SELECT 1;
