-- A count of deletions from the event dictionaries (package events), as
-- SQLite's 0007 keeps, so that a writer can skip the dictionary rows it
-- has already seen committed while nothing was deleted from them since.
-- A writer reads the count FOR SHARE after it has copied its events, and
-- writes its dictionary rows in the same statement; pruning the
-- dictionaries locks the row FOR UPDATE before it looks for types without
-- events. So either the prune waits for the writer's commit and sees its
-- events, or the writer waits for the prune's commit, reads the count the
-- prune moved and writes every row again. Statement-level triggers bump
-- the count on every delete that removes rows, and on TRUNCATE, whoever
-- runs it.
CREATE TABLE event_dict_deletions (n bigint NOT NULL);
INSERT INTO event_dict_deletions (n) VALUES (0);
CREATE FUNCTION strata_event_dict_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone) THEN
        UPDATE event_dict_deletions SET n = n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION strata_event_dict_truncated() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE event_dict_deletions SET n = n + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER event_type_deleted AFTER DELETE ON event_type
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION strata_event_dict_deleted();
CREATE TRIGGER event_type_trait_deleted AFTER DELETE ON event_type_trait
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION strata_event_dict_deleted();
CREATE TRIGGER event_type_truncated AFTER TRUNCATE ON event_type
    FOR EACH STATEMENT EXECUTE FUNCTION strata_event_dict_truncated();
CREATE TRIGGER event_type_trait_truncated AFTER TRUNCATE ON event_type_trait
    FOR EACH STATEMENT EXECUTE FUNCTION strata_event_dict_truncated();
