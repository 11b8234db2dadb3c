-- Version 9 makes PostgreSQL's counting triggers fire under
-- session_replication_role = replica (see its 0009). SQLite's triggers
-- always fire, so its version 9 changes nothing.
SELECT 1;
