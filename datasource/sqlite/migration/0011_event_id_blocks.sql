-- Version 11 makes PostgreSQL's id sequences step by blocks (see its
-- 0011). SQLite takes a batch's ids in its write transaction, one writer
-- at a time, so its version 11 changes nothing.
SELECT 1;
