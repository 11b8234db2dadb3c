-- Deletions of events, counted (package events). A process may build a
-- trait query's page from the events it has cached, without reading their
-- rows again, only while no event has been deleted since it last saw them
-- live; it reads this count in the same statement as the trait index runs.
-- A statement-level trigger counts every DELETE and TRUNCATE of event,
-- whoever runs it. Deleting transactions take turns on the count's row
-- until they commit; deletions are batches (Delete, Expire), not a stream.
CREATE TABLE event_deletions (n bigint NOT NULL);
INSERT INTO event_deletions (n) VALUES (0);

CREATE FUNCTION strata_event_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE event_deletions SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER event_deleted AFTER DELETE OR TRUNCATE ON event
    FOR EACH STATEMENT EXECUTE FUNCTION strata_event_deleted();
