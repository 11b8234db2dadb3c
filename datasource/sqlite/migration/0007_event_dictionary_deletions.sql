-- A count of deletions from the event dictionaries (package events), so
-- that a writer can skip the dictionary rows it has already seen
-- committed while nothing was deleted from them since: SQLite runs one
-- write transaction at a time, and a writer reads the count in its own.
-- Triggers bump it on every delete, whoever runs it.
ALTER TABLE event_seq ADD COLUMN dict_deletions INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER event_type_deleted AFTER DELETE ON event_type
BEGIN
    UPDATE event_seq SET dict_deletions = dict_deletions + 1;
END;
CREATE TRIGGER event_type_trait_deleted AFTER DELETE ON event_type_trait
BEGIN
    UPDATE event_seq SET dict_deletions = dict_deletions + 1;
END;
