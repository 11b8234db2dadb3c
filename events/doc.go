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
// index (event_trait_run) answers every trait filter (eq ne lt le gt ge),
// never by decoding values; two small dictionary tables (event_type,
// event_type_trait) answer the event-type and trait-type listings without
// scanning events. Delete and Expire prune the types left without events.
// On PostgreSQL each process keeps those listings in memory while it
// listens on the channel strata_event_dictionaries, which every
// transaction that changes the dictionaries notifies: the changing process
// sees its change at once, the others when the notification arrives
// (normally within milliseconds of the commit); while the listening
// connection is down nothing is kept. SQLite reads them every time.
//
// # The trait index
//
// The index is a log-structured merge tree of runs. A batch writes one run
// per trait name and type it holds: its values of that trait, sorted by
// (value, generated, event id), in one row. So a batch of 100 events with 8
// traits writes 8 index rows, not 800, which is what makes Record fast.
// When 8 runs of a trait share a size tier (floor(log8(entries))), the
// oldest merge into one, so a trait keeps a few dozen runs however many
// events there are; a run of 32,768 entries or more is final. Runs are
// immutable and never reuse an id (nor do events), so each process caches
// decoded runs by id (Config.IndexCacheBytes, 256 MiB by default) and a
// query reads only the small listing of its traits' runs (on SQLite, only
// the newest run id while no run was written since its last listing).
//
// A query with trait filters takes, of its filters, the one with the
// fewest matches: an equality filter's matches are in generated order in
// every run already, so the runs are merged lazily and a page stops after
// its events. Each candidate's other trait filters are looked up by event
// id in their runs. The candidates' rows are then read by id (the ids
// drive the statement: json_each on SQLite, unnest on PostgreSQL), with
// the filters on time, type and message id, in chunks until the page is
// full. String values compare byte by byte on both backends.
//
// # The event cache
//
// Event rows never change and ids are never reused, so each process also
// keeps decoded events by id (Config.EventCacheBytes, 64 MiB by default).
// While most of the recent pages' events were cached, a page reads only
// its events' ids (on SQLite, a type and time window reads them from the
// index alone) and then the rows of those not cached; otherwise it reads
// the rows at once and caches them. Either way, which events are on a page
// comes from the database: a deleted event is never returned. A Record
// caches the events it stored while the cache has room (a full cache
// takes none, so that a bulk load does not push out what queries read
// again): the events just recorded are the likeliest to be read soon.
//
// Deleting events leaves their entries in runs until the merge that makes
// a run final drops them; readers check every candidate's row, and a run
// left without any event is dropped with the last of them (Delete), or
// when all its events have expired (Expire). After every 8th batch a
// process records in a namespace, a merge starts in the background (one
// per namespace at a time), so that the Record returns once its batch has
// committed; a Record that finds 32 batches waiting for a merge waits for
// it. A merge reads and merges its runs first, then swaps them in one short
// transaction: one that fails, is stopped by closing the datasource, or
// finds its runs merged by another process first, changes nothing.
// Databases upgraded from schema version 2 (one index row per trait, table
// event_trait) have those rows moved into runs when the store opens.
//
// # Writes
//
// Record takes a batch and stores it in one transaction: COPY … FROM STDIN
// for events and index runs on PostgreSQL, multi-row INSERTs on SQLite's
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
// every batch is one transaction and synchronous is unchanged.
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
// events are inserted. Trait filters are answered by the trait index (see
// above); Count, Delete, Distinct and MinMax take the same filters.
// Without trait filters, an event type filter reads the (namespace,
// event_type, generated) index: written into the SQL on SQLite, which has
// no statistics unless ANALYZE runs and would otherwise read every type's
// events of a time window to keep one type's.
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
