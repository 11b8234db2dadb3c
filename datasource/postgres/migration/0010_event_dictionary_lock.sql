-- The lock between Records and dictionary prunes (package events) is an
-- advisory lock instead of a row lock on event_dict_deletions (0008): a
-- row locked FOR SHARE by overlapping Records made a MultiXact for every
-- overlap, which at many concurrent writers forces anti-wraparound
-- vacuums of every table. Key 0x7374726174612e64 spells "strata.d".
--
-- A Record calls strata_event_dict_deletions() in the statement that
-- writes its dictionary rows, last before its commit: it takes the lock
-- shared, then reads the count of dictionary deletions. The function is
-- VOLATILE, so its read takes a snapshot after the lock is granted: a
-- Record that waited for a prune reads the count the prune moved, and
-- writes every dictionary row again. A prune calls strata_event_dict_lock()
-- before it looks for types without events: it waits for the Records in
-- progress to commit, then sees their events.
CREATE FUNCTION strata_event_dict_deletions() RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(8319400174550068836);
    RETURN (SELECT n FROM event_dict_deletions);
END
$$;
CREATE FUNCTION strata_event_dict_lock() RETURNS void
LANGUAGE sql VOLATILE
AS $$ SELECT pg_advisory_xact_lock(8319400174550068836) $$;
