-- Version 10 gives PostgreSQL the functions of its dictionary lock (see
-- its 0010). SQLite runs one write transaction at a time, so its version
-- 10 changes nothing.
SELECT 1;
