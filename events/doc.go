// Package events records and queries events (notifications, alerts,
// audit records) as products of a Strata dataspace, on SQLite and
// PostgreSQL alike: the event API behind `strata events` and the Panko v2
// and Kronos-style endpoints of `strata serve`.
//
// # Events as products
//
// An event is a product keyed by its message_id, in a namespace (a Store
// serves one namespace): its header's create_time is the event's generated
// time, its expiration_time the time it may be dropped (generated + TTL
// unless the event says), its creator the event's source. The value (the
// typed traits and the raw payload) is encoded in a small binary layout
// (datablock.EncodingBytes; the first layout, JSON, stays readable) and,
// from 512 bytes, compressed with zstd; the encoding and compression ids
// of package datablock are stored per row, as for every product, so the
// default can change without old rows becoming unreadable.
//
// Storage choice: events live in their own table (event), not in the
// generational product table. Events are written once and never rewritten
// in a later generation, so the generation ranges would only cost; the
// event table keeps exactly the product columns that matter (key, header,
// codec ids, value) plus the namespace and type. Beside it, the trait
// index (event_trait) holds one row per trait with its value in the
// column of its type (string, integer, float; datetimes as microseconds),
// with one partial index per type on (name, value): every trait filter
// (eq ne lt le gt ge) is answered from that index, never by decoding
// values. Two small dictionary tables (event_type, event_type_trait) answer
// the event-type and trait-type listings without scanning events; Delete
// and Expire prune the types left without events.
//
// # Writes
//
// Record takes a batch and stores it in one transaction: COPY … FROM STDIN
// for events and trait rows on PostgreSQL, multi-row INSERTs on SQLite's
// single writer connection. An event without an id gets a UUIDv7 carrying
// its generated time, so ids sort by time and break ties deterministically.
// An invalid event is rejected and a known message_id reported as a
// duplicate, per event; the others are stored.
//
// On SQLite every statement runs on the connection sqlite.DataSource.DB
// returns, the single writer: reads wait while a batch is written. Read
// statements, and the multi-row INSERTs of a batch (in a few fixed row
// counts), are prepared once per database and reused. The backend opens
// that writer tuned for batches (see sqlite.WriterCacheKiB): a 64 MiB page
// cache and temp_store MEMORY keep a batch's dirty pages and statement
// journals in memory until its commit, and wal_autocheckpoint 8192 pages
// checkpoints index pages rewritten by consecutive batches less often;
// every batch is one transaction and synchronous is unchanged. What a
// batch costs is mostly its trait index: one row and one value-index entry
// per trait, at random places of the value index, so each commit writes
// many pages.
//
// # Queries
//
// A Filter matches generated in [Start, End) (start included, end
// excluded), an event type, a message id and any number of trait filters,
// all ANDed. Query sorts by generated or message_id, ascending or
// descending (default generated then message_id, ascending; message_id
// always breaks ties), returns at most Limit events (default 100, at most
// the store's MaxLimit) and pages by keyset: the Marker is the message_id
// of the last event of the previous page, so pages stay stable while
// events are inserted. Sorted by time with an equality trait filter, a
// query walks that filter's value index (which holds each event's
// generated time) in order and stops after its page, so its cost does not
// grow with the number of events. The other trait filters look up each
// candidate's trait by its key (event_id, name). Count, Delete, Distinct
// and MinMax take the same filters and also start from the first equality
// filter's index; without one, an event type filter reads the (namespace,
// event_type, generated) index. These choices are written into the SQL,
// not left to the planner: PostgreSQL, with no statistics yet or
// statistics taken before a namespace filled up, would otherwise start
// from the namespace's events and read all of them, and SQLite, which has
// no statistics unless ANALYZE runs, would read every type's events of a
// time window to keep one type's.
//
// Watchdog says per type whether anything happened in the last N seconds.
//
// # Streams
//
// PutStream, GetStream, Streams, InferSchema and DeleteStream give the
// Kronos model: a stream is an event type whose events are JSON objects
// with @time (Kronos time, 100 ns units) and @id.
//
// # Expiry
//
// Expire(ctx, now, batch, dryRun) deletes expired events of every
// namespace in transactions of batch events; Store satisfies the reaper's
// interface { Name() string; Expire(...) }.
package events
