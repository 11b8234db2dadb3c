-- A count of deletions from the event dictionaries (package events), as
-- SQLite's 0007 keeps, so that a writer can skip the dictionary rows it
-- has already seen committed while nothing was deleted from them since.
-- Writers and prunes take turns on it through the dictionary lock of
-- 0010 (this version locked the count's row instead). Statement-level
-- triggers bump the count on every delete that removes rows, and on
-- TRUNCATE, whoever runs it.
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
