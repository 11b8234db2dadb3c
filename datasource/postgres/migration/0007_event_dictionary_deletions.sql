-- Version 7 counts deletions from the event dictionaries on SQLite, whose
-- one writer at a time lets a Record skip the dictionary rows it has seen
-- (see its 0007). PostgreSQL writes them every batch, so its version 7
-- changes nothing.
SELECT 1;
