-- The counts of event and dictionary deletions (0005, 0008) must move
-- whoever deletes, including a logical replication subscriber applying a
-- publisher's deletes, or pg_restore: those run with
-- session_replication_role = replica, under which ordinary triggers do
-- not fire, and processes reading the subscriber would keep serving
-- cached pages of deleted events. ENABLE ALWAYS fires them in every role.
ALTER TABLE event ENABLE ALWAYS TRIGGER event_deleted;
ALTER TABLE event_type ENABLE ALWAYS TRIGGER event_type_deleted;
ALTER TABLE event_type ENABLE ALWAYS TRIGGER event_type_truncated;
ALTER TABLE event_type_trait ENABLE ALWAYS TRIGGER event_type_trait_deleted;
ALTER TABLE event_type_trait ENABLE ALWAYS TRIGGER event_type_trait_truncated;
