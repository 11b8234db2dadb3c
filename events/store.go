package events

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
	"github.com/strata-dataspace/strata/dataspace"
)

// Defaults of Config.
const (
	// NamespaceDefault is the namespace when Config.Namespace is empty.
	NamespaceDefault = "default"
	// TTLDefault is how long an event is kept after it was generated when
	// Config.TTL is zero.
	TTLDefault = 30 * 24 * time.Hour
	// LimitDefault is the page size of a query without a limit.
	LimitDefault = 100
	// MaxLimitDefault is the largest page a query may ask for when
	// Config.MaxLimit is zero.
	MaxLimitDefault = 10000
	// ExpireBatchDefault is Expire's batch size when it is given zero.
	ExpireBatchDefault = 5000
)

// SchemaVersion is the datasource schema version the event store needs:
// migration 0002_events.sql of both backends holds the event tables,
// 0003_event_trait_runs.sql the trait index runs, 0004 how PostgreSQL
// lists them, 0005 its count of deletions, 0006 its run indexes ending
// with the run id, 0007 SQLite's count of dictionary deletions, 0008
// PostgreSQL's, 0009 its counting triggers firing in every
// session_replication_role, 0010 its dictionary lock, and 0011 its id
// sequences stepping by blocks.
const SchemaVersion = 11

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Namespace holds the store's events and streams. Empty means
	// NamespaceDefault.
	Namespace string
	// TTL is how long after it was generated an event expires, unless the
	// event says. Zero means TTLDefault.
	TTL time.Duration
	// MaxLimit is the hard maximum of a query's limit. Zero means
	// MaxLimitDefault.
	MaxLimit int
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// IndexCacheBytes caps the decoded trait index runs a process keeps
	// per database (the first store opened over a database sets it). Zero
	// means IndexCacheDefault.
	IndexCacheBytes int64
	// EventCacheBytes caps the decoded events a process keeps per
	// database, so that pages of events read again cost only their ids
	// (the first store opened over a database sets it). Zero means
	// EventCacheDefault.
	EventCacheBytes int64
}

// Store records and queries the events of one namespace. It is safe for
// concurrent use.
type Store struct {
	db         *sqlx.DB // writes and transactions
	rdb        *sqlx.DB // reads: SQLite's readers, PostgreSQL's one pool
	pg         bool
	ns         string
	ttl        time.Duration
	maxLimit   int
	clock      func() time.Time
	indexCache int64
	eventCache int64
	// runFinal is the size from which a run is not merged again
	// (runFinal; tests lower it).
	runFinal int64
	// pageMode, when set (by tests), makes readPage read pages one way;
	// pageRows also keeps trait pages from the cache (cachedTraitPage).
	pageMode int
	// beforeMisses, when set (by tests), runs before a page read ids
	// first reads the rows it has not cached.
	beforeMisses func()
	// afterCachedPage, when set (by tests), runs when cachedTraitPage
	// built a page, with whether it read rows to confirm its candidates.
	afterCachedPage func(confirmed bool)
	// beforeMerge, when set (by tests), runs as a background merge starts;
	// beforeMergeWait before a Record waits for its namespace's merge.
	beforeMerge     func(ctx context.Context)
	beforeMergeWait func()
	// beforeRecordCommit, when set (by tests), runs as a Record is about
	// to commit, its dictionary rows written; beforeMergeCommit as a
	// merge is about to commit its swap of runs.
	beforeRecordCommit func()
	beforeMergeCommit  func()
	// beforeAnalyze, when set (by tests), runs before a background refresh
	// of the event table's statistics (see keepStatistics).
	beforeAnalyze func(context.Context)
	// afterExpireBatch, when set (by tests), runs after each transaction
	// of Expire with the number of events it removed.
	afterExpireBatch func(n int)
	// closer releases the per-database state (index, caches, statements)
	// when the datasource closes.
	closer interface{ OnClose(func()) }
	// watcher watches the dictionaries' notification channel (PostgreSQL).
	watcher *postgres.DataSource
}

// Open returns the Store of a dataspace. It fails when the dataspace's
// schema predates the event tables.
func Open(ctx context.Context, space *dataspace.DataSpace, cfg *Config) (*Store, error) {
	s, err := New(space.DataSource(), cfg)
	if err != nil {
		return nil, err
	}
	v, err := space.DataSource().SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	if v < SchemaVersion {
		return nil, fmt.Errorf("open event store: schema version %d has no event tables or trait index runs (needs %d): run strata db migrate", v, SchemaVersion)
	}
	if err := s.upgradeTraitIndex(ctx); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	return s, nil
}

// New returns the Store over a SQLite or PostgreSQL datasource; it assumes
// the schema is migrated (see Open).
func New(ds datasource.DataSource, cfg *Config) (*Store, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	s := &Store{ns: c.Namespace, ttl: c.TTL, maxLimit: c.MaxLimit, clock: c.Clock, indexCache: c.IndexCacheBytes, eventCache: c.EventCacheBytes, runFinal: runFinal}
	switch d := ds.(type) {
	case *sqlite.DataSource:
		s.db, s.rdb, s.closer = d.DB(), d.Reader(), d
	case *postgres.DataSource:
		s.db, s.pg, s.watcher, s.closer = d.DB(), true, d, d
		s.rdb = s.db
	default:
		return nil, fmt.Errorf("%w: event store: datasource %T is neither SQLite nor PostgreSQL", ErrInvalid, ds)
	}
	if s.ns == "" {
		s.ns = NamespaceDefault
	}
	if s.ttl == 0 {
		s.ttl = TTLDefault
	}
	if s.ttl < 0 {
		return nil, fmt.Errorf("%w: event store: negative TTL %s", ErrInvalid, s.ttl)
	}
	if s.maxLimit == 0 {
		s.maxLimit = MaxLimitDefault
	}
	if s.maxLimit < 0 {
		return nil, fmt.Errorf("%w: event store: negative MaxLimit %d", ErrInvalid, s.maxLimit)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.indexCache == 0 {
		s.indexCache = IndexCacheDefault
	}
	if s.eventCache == 0 {
		s.eventCache = EventCacheDefault
	}
	if s.eventCache < 0 {
		return nil, fmt.Errorf("%w: event store: negative EventCacheBytes %d", ErrInvalid, s.eventCache)
	}
	if s.indexCache < 0 {
		return nil, fmt.Errorf("%w: event store: negative IndexCacheBytes %d", ErrInvalid, s.indexCache)
	}
	return s, nil
}

// Namespace returns the store's namespace.
func (s *Store) Namespace() string { return s.ns }

// WithNamespace returns a Store of another namespace over the same
// database and settings.
func (s *Store) WithNamespace(ns string) *Store {
	c := *s
	c.ns = ns
	if ns == "" {
		c.ns = NamespaceDefault
	}
	return &c
}

// MaxLimit is the hard maximum of a query's limit.
func (s *Store) MaxLimit() int { return s.maxLimit }

// Name names the store for the reaper.
func (s *Store) Name() string { return "events" }

func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// Status says what Record did with one event.
type Status string

// The outcomes of recording one event.
const (
	StatusStored    Status = "stored"
	StatusDuplicate Status = "duplicate"
	StatusRejected  Status = "rejected"
)

// Outcome is what happened to one event of a Record call.
type Outcome struct {
	// Index is the event's position in the batch.
	Index int `json:"index"`
	// MessageID is the event's id (assigned when it had none).
	MessageID string `json:"message_id"`
	// Status is stored, duplicate or rejected.
	Status Status `json:"status"`
	// Err says why an event was rejected or is a duplicate.
	Err error `json:"-"`
}

// RecordResult reports a Record call, one Outcome per event in order.
type RecordResult struct {
	Stored     int
	Duplicates int
	Rejected   int
	Outcomes   []Outcome
}

// ErrDuplicate is the Outcome.Err of an event whose message_id exists.
var ErrDuplicate = errors.New("events: duplicate message_id")

// pending is an event accepted for insertion.
type pending struct {
	index int
	id    int64
	ev    *Event
	val   *encodedValue
	// fresh is set when the store assigned the message_id: a new UUIDv7
	// cannot exist yet, so it is not looked up.
	fresh bool
}

// clusterByType orders a batch's events by type, then time, before they
// take their ids: a type's events of the batch then lie side by side in
// the table (SQLite keeps rows in id order, PostgreSQL in the order COPY
// writes them), so that a page of one type reads a few table pages per
// batch instead of one per event. At 1,000,000 events of 10 interleaved
// types this made SQLite's part of a one-type page half as long. Ids
// are internal: the order of Outcomes and of every query is unchanged.
func clusterByType(todo []*pending) {
	slices.SortStableFunc(todo, func(a, b *pending) int {
		if c := strings.Compare(a.ev.EventType, b.ev.EventType); c != 0 {
			return c
		}
		return a.ev.Generated.Compare(b.ev.Generated)
	})
}

// Record stores a batch of events in one transaction. It fills in the
// MessageID (a UUIDv7 carrying the event's time), Generated (now) and
// Expires (Generated + TTL) of events that lack them. An invalid event (no
// type, a bad trait type, a value that does not fit its type, raw that is
// not JSON) is rejected and an event whose message_id exists already (in
// the namespace or earlier in the batch) is a duplicate; both are reported
// in the result and the others are stored. The error is non-nil only when
// the batch could not be stored at all.
func (s *Store) Record(ctx context.Context, evs []*Event) (*RecordResult, error) {
	res := &RecordResult{Outcomes: make([]Outcome, len(evs))}
	now := s.now()
	var todo []*pending
	seen := make(map[string]int, len(evs))
	for i, e := range evs {
		o := &res.Outcomes[i]
		o.Index = i
		if e == nil {
			o.Status, o.Err = StatusRejected, fmt.Errorf("%w: event %d is nil", ErrInvalid, i)
			continue
		}
		fresh := e.MessageID == ""
		if err := s.prepare(e, now); err != nil {
			o.MessageID, o.Status, o.Err = e.MessageID, StatusRejected, err
			continue
		}
		o.MessageID = e.MessageID
		if _, dup := seen[e.MessageID]; dup {
			o.Status, o.Err = StatusDuplicate, fmt.Errorf("%w: %q appears twice in the batch", ErrDuplicate, e.MessageID)
			continue
		}
		val, err := encodeEvent(e)
		if err != nil {
			o.Status, o.Err = StatusRejected, err
			continue
		}
		seen[e.MessageID] = i
		todo = append(todo, &pending{index: i, ev: e, val: val, fresh: fresh})
	}
	if len(todo) > 0 {
		clusterByType(todo)
		var (
			w   *written
			err error
		)
		for attempt := 0; ; attempt++ {
			if s.pg {
				w, err = s.insertPostgres(ctx, todo)
			} else {
				w, err = s.insertSQLite(ctx, todo)
			}
			// A concurrent Record of the same message_id committed first:
			// run again, and it is reported as a duplicate.
			if errors.Is(err, errRace) && attempt < 3 {
				continue
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("record %d events in namespace %q: %w", len(todo), s.ns, err)
		}
		s.remember(w)
		s.afterRecord(ctx)
		s.keepStatistics(len(todo) - len(w.dups))
		for _, id := range w.dups {
			o := &res.Outcomes[seen[id]]
			o.Status, o.Err = StatusDuplicate, fmt.Errorf("%w: %q is already recorded", ErrDuplicate, id)
		}
		for _, p := range todo {
			if o := &res.Outcomes[p.index]; o.Status == "" {
				o.Status = StatusStored
			}
		}
	}
	res.count()
	return res, nil
}

// count sets the result's counts from its outcomes.
func (res *RecordResult) count() {
	res.Stored, res.Duplicates, res.Rejected = 0, 0, 0
	for _, o := range res.Outcomes {
		switch o.Status {
		case StatusStored:
			res.Stored++
		case StatusDuplicate:
			res.Duplicates++
		case StatusRejected:
			res.Rejected++
		}
	}
}

// prepare validates e and fills its defaults.
func (s *Store) prepare(e *Event, now time.Time) error {
	if strings.TrimSpace(e.EventType) == "" {
		return fmt.Errorf("%w: %s has no event_type", ErrInvalid, eventName(e))
	}
	if len(e.Raw) > 0 && !json.Valid(e.Raw) {
		return fmt.Errorf("%w: %s: raw is not valid JSON", ErrInvalid, eventName(e))
	}
	names := make(map[string]bool, len(e.Traits))
	for i, t := range e.Traits {
		n, err := t.normalize()
		if err != nil {
			return fmt.Errorf("%s: %w", eventName(e), err)
		}
		if names[n.Name] {
			return fmt.Errorf("%w: %s: trait %q appears twice", ErrInvalid, eventName(e), n.Name)
		}
		names[n.Name] = true
		e.Traits[i] = n
	}
	if e.Generated.IsZero() {
		e.Generated = now
	}
	e.Generated = e.Generated.UTC().Truncate(time.Microsecond)
	if e.Expires.IsZero() {
		e.Expires = e.Generated.Add(s.ttl)
	}
	e.Expires = e.Expires.UTC().Truncate(time.Microsecond)
	if e.Source == "" {
		e.Source = s.ns
	}
	if e.MessageID == "" {
		id, err := NewID(e.Generated)
		if err != nil {
			return err
		}
		e.MessageID = id
	}
	return nil
}

// eventName names an event in errors.
func eventName(e *Event) string {
	if e.MessageID == "" {
		return "event without message_id"
	}
	return fmt.Sprintf("event %q", e.MessageID)
}

// NewID returns a UUIDv7 whose timestamp is t, so ids sort by the time of
// their events (ties keep the random order they were given).
func NewID(t time.Time) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new event id: %w", err)
	}
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*uint(i)))
	}
	return u.String(), nil
}

// errRace marks a unique violation from a concurrent insert of the same
// message_id.
var errRace = errors.New("events: concurrent insert of the same message_id")

// traitTypeRow is a row of event_type_trait: a trait name and type seen
// with an event type.
type traitTypeRow struct {
	typ, name string
	kind      TraitType
}

// batchDictionaries returns the event types and trait types of a batch,
// sorted: concurrent Records insert the rows they share in the same order,
// so that none waits for another that waits for it.
func batchDictionaries(todo []*pending) (types []string, tt []traitTypeRow) {
	seenT := map[string]bool{}
	seenTT := map[traitTypeRow]bool{}
	for _, p := range todo {
		if !seenT[p.ev.EventType] {
			seenT[p.ev.EventType] = true
			types = append(types, p.ev.EventType)
		}
		for _, t := range p.ev.Traits {
			k := traitTypeRow{p.ev.EventType, t.Name, t.Type}
			if !seenTT[k] {
				seenTT[k] = true
				tt = append(tt, k)
			}
		}
	}
	slices.Sort(types)
	slices.SortFunc(tt, func(a, b traitTypeRow) int {
		return cmp.Or(strings.Compare(a.typ, b.typ), strings.Compare(a.name, b.name), cmp.Compare(a.kind, b.kind))
	})
	return types, tt
}

// eventRow is a stored event as queries read it.
type eventRow struct {
	MessageID   string `db:"message_id"`
	EventType   string `db:"event_type"`
	Generated   int64  `db:"generated"`
	Expires     int64  `db:"expires"`
	Source      string `db:"source"`
	Encoding    uint8  `db:"encoding"`
	Compression uint8  `db:"compression"`
	Value       []byte `db:"value"`
	RawSize     int64  `db:"raw_size"`
}

const eventColumns = `e.message_id, e.event_type, e.generated, e.expires, e.source, e.encoding, e.compression, e.value, e.raw_size`

func (r *eventRow) event() (*Event, error) {
	e := &Event{
		MessageID: r.MessageID,
		EventType: r.EventType,
		Generated: time.UnixMicro(r.Generated).UTC(),
		Expires:   time.UnixMicro(r.Expires).UTC(),
		Source:    r.Source,
	}
	if err := decodeEvent(e, r.Encoding, r.Compression, r.Value, r.RawSize); err != nil {
		return nil, err
	}
	return e, nil
}

// Get returns the event with a message_id; ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, messageID string) (*Event, error) {
	var r eventRow
	err := s.getRead(ctx, &r, `SELECT `+eventColumns+` FROM event e WHERE e.namespace = ? AND e.message_id = ?`, s.ns, messageID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %q in namespace %q: %w", messageID, s.ns, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get event %q in namespace %q: %w", messageID, s.ns, err)
	}
	return r.event()
}
