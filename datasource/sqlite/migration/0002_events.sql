-- Events (package events). An event is a product keyed by its message_id:
-- generated is its create_time, expires its expiration_time (TTL), source
-- its creator; value holds the encoded event (traits and raw payload) with
-- its codec ids, as product values do. Times are unix microseconds, UTC.
CREATE TABLE IF NOT EXISTS event (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT    NOT NULL CHECK (length(namespace) > 0),
    message_id  TEXT    NOT NULL CHECK (length(message_id) > 0),
    event_type  TEXT    NOT NULL CHECK (length(event_type) > 0),
    generated   INTEGER NOT NULL,
    expires     INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    encoding    INTEGER NOT NULL CHECK (encoding BETWEEN 0 AND 15),
    compression INTEGER NOT NULL CHECK (compression BETWEEN 0 AND 15),
    value       BLOB    NOT NULL,
    raw_size    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_message_id ON event (namespace, message_id);
CREATE INDEX IF NOT EXISTS event_generated ON event (namespace, generated, message_id);
CREATE INDEX IF NOT EXISTS event_type_generated ON event (namespace, event_type, generated, message_id);
CREATE INDEX IF NOT EXISTS event_expires ON event (expires);

-- The trait index: one row per trait, the value in the column of its type
-- (type 1 string, 2 integer, 3 float, 4 datetime in v_int as microseconds),
-- so trait filters are answered by an index, never by decoding values.
-- generated repeats the event's time so that a value index yields its
-- events in time order and a query stops after its page.
CREATE TABLE IF NOT EXISTS event_trait (
    event_id  INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    generated INTEGER NOT NULL,
    type     INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),
    v_string TEXT,
    v_int    INTEGER,
    v_float  REAL,
    PRIMARY KEY (event_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_trait_string ON event_trait (name, v_string, generated) WHERE v_string IS NOT NULL;
CREATE INDEX IF NOT EXISTS event_trait_int ON event_trait (name, v_int, generated) WHERE v_int IS NOT NULL;
CREATE INDEX IF NOT EXISTS event_trait_float ON event_trait (name, v_float, generated) WHERE v_float IS NOT NULL;

-- Dictionaries: event types and the trait names and types seen per type.
CREATE TABLE IF NOT EXISTS event_type (
    namespace  TEXT NOT NULL,
    event_type TEXT NOT NULL,
    PRIMARY KEY (namespace, event_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_type_trait (
    namespace  TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    type       INTEGER NOT NULL,
    PRIMARY KEY (namespace, event_type, name, type)
) WITHOUT ROWID;
