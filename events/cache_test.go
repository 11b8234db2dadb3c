package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// ids lists the ids c keeps.
func (c *clockCache[V]) ids() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int64, 0, len(c.byID))
	for id := range c.byID {
		out = append(out, id)
	}
	return out
}

// check fails t unless c's ring, positions, map and byte count agree.
func (c *clockCache[V]) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var bytes int64
	require.Len(t, c.byID, len(c.ring))
	for i, e := range c.ring {
		require.Equal(t, i, e.pos)
		require.Same(t, e, c.byID[e.id])
		bytes += e.bytes
	}
	require.Equal(t, bytes, c.bytes)
	require.LessOrEqual(t, c.bytes, max(c.max, bytes))
}

func TestClockCacheEvictsUnused(t *testing.T) {
	c := clockCache[string]{max: 10}
	c.put(1, "a", 4)
	c.put(2, "b", 4)
	_, ok := c.get(1) // 2 is now the one not used lately
	require.True(t, ok)
	c.put(3, "c", 4)
	c.check(t)
	_, ok = c.get(2)
	require.False(t, ok, "the entry not used stayed beyond max")
	v, ok := c.get(1)
	require.True(t, ok)
	require.Equal(t, "a", v)
	c.put(1, "other", 4)
	v, _ = c.get(1)
	require.Equal(t, "a", v, "the first value put under an id stays")
	c.drop([]int64{1, 3})
	c.check(t)
	require.Zero(t, c.bytes)
	require.Empty(t, c.ring)

	// An entry read between every put outlives a scan of entries read
	// once; the entry just put is never the one evicted.
	c = clockCache[string]{max: 40}
	c.put(0, "hot", 4)
	for id := int64(1); id <= 100; id++ {
		_, ok := c.get(0)
		require.True(t, ok, "the hot entry was evicted before put %d", id)
		c.put(id, "cold", 4)
		_, ok = c.get(id)
		require.True(t, ok, "the entry just put was evicted")
		c.used(id, false)
		c.check(t)
	}
	require.LessOrEqual(t, c.bytes, c.max)

	// One entry larger than max stays alone.
	c.put(1000, "big", 100)
	c.check(t)
	require.Equal(t, []int64{1000}, c.ids())
}

// TestClockCacheConcurrent runs gets, puts and drops from several
// goroutines (the race detector checks them in CI) and checks the cache
// is whole afterwards.
func TestClockCacheConcurrent(t *testing.T) {
	c := clockCache[int64]{max: 64}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5000 {
				id := r.Int64N(200)
				switch r.IntN(4) {
				case 0:
					c.put(id, id, 1+r.Int64N(4))
				case 1:
					c.drop([]int64{id})
				default:
					if v, ok := c.get(id); ok && v != id {
						t.Errorf("id %d holds %d", id, v)
					}
				}
			}
		}()
	}
	wg.Wait()
	c.check(t)
}

// setMax sets the most bytes c keeps (evicting nothing until its next put).
func (c *clockCache[V]) setMax(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
}

// used sets the mark of id's entry, as a test needs it.
func (c *clockCache[V]) used(id int64, v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[id].used.Store(v)
}

// pageQueries are queries of every shape over hosts(): with and without
// trait filters, time, type and message id filters, in every order.
func pageQueries() []*Query {
	window := Filter{Start: base.Add(time.Hour), End: base.Add(5 * time.Hour)}
	traits := []TraitFilter{{Name: "host", Value: "h3"}, {Name: "count", Op: OpGt, Type: TypeInteger, Value: int64(100)}}
	desc := []SortKey{{Field: FieldGenerated, Desc: true}}
	byID := []SortKey{{Field: FieldMessageID, Desc: true}}
	return []*Query{
		{Limit: 7},
		{Limit: 7, Sort: desc},
		{Limit: 7, Sort: byID},
		{Limit: 5, Filter: Filter{Start: window.Start, End: window.End, EventType: "type.a"}},
		{Limit: 5, Filter: Filter{Start: window.Start, End: window.End, EventType: "type.b"}, Sort: desc},
		{Limit: 3, Filter: Filter{MessageID: "m123"}},
		{Limit: 4, Filter: Filter{Traits: traits}},
		{Limit: 4, Filter: Filter{Traits: traits}, Sort: desc},
		{Limit: 4, Filter: Filter{Traits: traits}, Sort: byID},
		{Limit: 4, Filter: Filter{Traits: traits[:1], EventType: "type.b"}},
		{Limit: 4, Filter: Filter{Traits: traits[1:], Start: window.Start, End: window.End}, Sort: desc},
	}
}

// allPages reads every page of q, following the markers.
func allPages(t *testing.T, s *Store, q *Query) []*Event {
	t.Helper()
	var out []*Event
	page := *q
	for range 1000 {
		got, err := s.Query(context.Background(), &page)
		require.NoError(t, err)
		out = append(out, got...)
		if len(got) < page.Limit {
			return out
		}
		page.Marker = got[len(got)-1].MessageID
	}
	t.Fatal("more than 1000 pages")
	return nil
}

// TestPageReadModes checks that pages read ids first, from the event cache
// or not, are the pages read as rows at once, and that an event deleted
// between the two reads of ids first is not returned nor leaves its page
// short.
func TestPageReadModes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		record(t, s, hosts())
		clearCache := func() { s.index().events.drop(s.index().events.ids()) }

		for _, q := range pageQueries() {
			s.pageMode = pageRows
			clearCache()
			want := allPages(t, s, q)
			require.NotEmpty(t, want, "%+v", q)
			if q.MessageID == "" {
				require.Greater(t, len(want), q.Limit, "%+v has one page only", q)
			}
			require.Equal(t, want, allPages(t, s, q), "rows at once, cached: %+v", q)

			s.pageMode = pageIDs
			require.Equal(t, want, allPages(t, s, q), "ids first, cached: %+v", q)
			clearCache()
			require.Equal(t, want, allPages(t, s, q), "ids first, not cached: %+v", q)
		}

		// An event of the page is deleted between the page's ids and its
		// rows: the page is read again, without it and full.
		other, err := Open(ctx, b.space, &Config{Clock: b.clock.Now})
		require.NoError(t, err)
		q := &Query{Limit: 10, Filter: Filter{EventType: "type.a"}}
		s.pageMode = pageRows
		before, err := s.Query(ctx, q)
		require.NoError(t, err)
		gone := before[3].MessageID
		s.pageMode = pageIDs
		clearCache()
		s.beforeMisses = func() {
			s.beforeMisses = nil
			n, err := other.Delete(ctx, &Filter{MessageID: gone})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
		}
		got, err := s.Query(ctx, q)
		require.NoError(t, err)
		require.Nil(t, s.beforeMisses, "the page did not read ids first")
		require.Len(t, got, 10)
		require.Equal(t, before[:3], got[:3])
		require.Equal(t, before[4:], got[3:9])
		require.NotEqual(t, gone, got[9].MessageID)

		// The events returned are the caller's: changing them changes
		// no later page, whether they were cached or not, or read while
		// the cache was full.
		cache := &s.index().events
		for _, full := range []bool{false, true} {
			if full {
				cache.setMax(1)
			}
			for _, mode := range []int{pageRows, pageIDs} {
				s.pageMode = mode
				clearCache()
				for range 3 {
					got, err := s.Query(ctx, q)
					require.NoError(t, err)
					got[0].Traits[0].Value = "changed"
					got[0].Raw[0] = ' '
				}
				again, err := s.Query(ctx, q)
				require.NoError(t, err)
				require.Equal(t, before[0], again[0], "mode %d, full %v", mode, full)
			}
		}
		// With a full cache, every shape of page is as before.
		for _, q := range pageQueries() {
			s.pageMode = pageRows
			want := allPages(t, s, q)
			s.pageMode = pageIDs
			require.Equal(t, want, allPages(t, s, q), "ids first, full cache: %+v", q)
		}
	})
}

// TestPageReadModeFollowsHits checks that pages read ids first once most
// of their events were cached, and rows at once while most were not.
func TestPageReadModeFollowsHits(t *testing.T) {
	var c eventCache
	require.False(t, c.idsFirst(), "ids first with nothing cached")
	for range 10 {
		c.observe(0, 100)
	}
	require.True(t, c.idsFirst(), "rows at once after pages that were all cached")
	for range 10 {
		c.observe(90, 100)
	}
	require.False(t, c.idsFirst(), "ids first after pages that were mostly not cached")
	c.observe(0, 0)
	require.False(t, c.idsFirst(), "an empty page changed the rate")
}

// TestStateReleasedOnClose checks that a database's caches and prepared
// statements go when its datasource closes, so that a process opening
// many databases does not keep them all.
func TestStateReleasedOnClose(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		record(t, s, hosts())
		_, err := s.Query(ctx, &Query{Filter: Filter{Traits: []TraitFilter{{Name: "host", Value: "h3"}}}})
		require.NoError(t, err)
		_, err = s.EventTypes(ctx)
		require.NoError(t, err)
		_, held := indexStates.Load(s.db)
		require.True(t, held, "no index state while open")
		for _, db := range []*sqlx.DB{s.db, s.rdb} {
			_, held = stmtCaches.Load(db)
			require.True(t, held, "no statement cache while open")
		}

		require.NoError(t, b.space.Close())
		_, held = indexStates.Load(s.db)
		require.False(t, held, "the index state outlived its datasource")
		for _, db := range []*sqlx.DB{s.db, s.rdb} {
			_, held = stmtCaches.Load(db)
			require.False(t, held, "a statement cache outlived its datasource")
		}
	})
}

// TestReadsDoNotWaitForWrites checks that queries run while a write
// transaction holds SQLite's one writer connection (a long Expire or a
// big batch, say).
func TestReadsDoNotWaitForWrites(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		s, _ := open(t, nil)
		record(t, s, hosts())
		tx, err := s.db.BeginTxx(context.Background(), nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.Exec(tx.Rebind(`DELETE FROM event WHERE message_id = ?`), "m001")
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got, err := s.Query(ctx, &Query{Limit: 5, Filter: Filter{Traits: []TraitFilter{{Name: "host", Value: "h1"}}}})
		require.NoError(t, err)
		require.Len(t, got, 5)
		require.Equal(t, "m001", got[0].MessageID, "a read saw an uncommitted delete")
		n, err := s.Count(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, 400, n)
		e, err := s.Get(ctx, "m001")
		require.NoError(t, err)
		require.Equal(t, "type.b", e.EventType)
		types, err := s.EventTypes(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"type.a", "type.b"}, types)
	})
}

// TestClonePage checks that a page's copies share nothing mutable with the
// cached events or with each other, and keep nil and empty slices apart.
func TestClonePage(t *testing.T) {
	evs := []*Event{
		{MessageID: "a", Traits: []Trait{{Name: "x", Type: TypeInteger, Value: int64(1)}}, Raw: json.RawMessage(`{"a":1}`)},
		{MessageID: "b", Traits: []Trait{{Name: "y", Type: TypeString, Value: "v"}}, Raw: json.RawMessage(`{"b":2}`)},
		{MessageID: "c"},
		{MessageID: "d", Traits: []Trait{}, Raw: json.RawMessage{}},
	}
	want := make([]Event, len(evs))
	for i, e := range evs {
		want[i] = *e
		want[i].Traits = slices.Clone(e.Traits)
		want[i].Raw = slices.Clone(e.Raw)
	}
	got := clonePage(evs, nil)
	require.Len(t, got, len(evs))
	for i := range evs {
		require.Equal(t, want[i], *got[i])
	}
	require.Nil(t, got[2].Traits)
	require.Nil(t, got[2].Raw)
	require.NotNil(t, got[3].Traits)
	require.NotNil(t, got[3].Raw)

	// Appending to one copy leaves the next copy as it was.
	got[0].Traits = append(got[0].Traits, Trait{Name: "z", Type: TypeFloat, Value: 2.5})
	got[0].Raw = append(got[0].Raw, "xx"...)
	require.Equal(t, want[1], *got[1])
	// Changing a copy leaves the originals as they were.
	got[1].Traits[0].Value = "changed"
	got[1].Raw[0] = ' '
	got[1].MessageID = "changed"
	for i, e := range evs {
		require.Equal(t, want[i], *e)
	}

	// The page's own events are handed out as they are, the others
	// copied.
	got = clonePage(evs, []bool{true, false, true, false})
	require.Same(t, evs[0], got[0])
	require.Same(t, evs[2], got[2])
	require.NotSame(t, evs[1], got[1])
	require.Equal(t, want[1], *got[1])
	got[1].Traits[0].Value = "changed"
	require.Equal(t, want[1], *evs[1])
}

// TestEventCacheAdmission checks that the event cache keeps every event
// while it has room and, once full, an event on its second read only, or
// at once when asked to keep all.
func TestEventCacheAdmission(t *testing.T) {
	ev := func(id int) *Event { return &Event{MessageID: fmt.Sprintf("m%d", id), Raw: json.RawMessage(`{}`)} }
	size := ev(0).memBytes()
	c := eventCache{clockCache: clockCache[*cachedEvent]{max: 3 * size}}
	for id := range 3 {
		require.True(t, c.keep(int64(id), ev(id), false), "kept while there is room")
	}
	require.False(t, c.keep(3, ev(3), false), "a first read of a full cache is not kept")
	_, ok := c.shared(3)
	require.False(t, ok)
	require.True(t, c.keep(3, ev(3), false), "the second read is")
	_, ok = c.shared(3)
	require.True(t, ok)
	require.True(t, c.keep(4, ev(4), true), "kept at once when all are")
	require.Len(t, c.ids(), 3, "the cache stays within its size")
}

// TestDoorkeeperForgets checks that the doorkeeper remembers ids until
// half its bits are set, then starts over.
func TestDoorkeeperForgets(t *testing.T) {
	var d doorkeeper
	require.False(t, d.again(7))
	require.True(t, d.again(7))
	for id := int64(1000); d.set.Load() != 0; id++ {
		d.again(id)
	}
	require.False(t, d.again(7), "remembered past the clearing")
}

// TestCachedTraitPages checks when a trait query's page sorted by time is
// built from the process's cache without reading events (PostgreSQL
// only): once its candidates were read at the current count of deletions.
// A deletion, through the store or by hand, or an event recorded since
// makes it read them again; a tie of generated times or a marker at one
// sends the page to the database. Every page equals the database's.
func TestCachedTraitPages(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		record(t, s, hosts())
		var cached int
		s.afterCachedPage = func(confirmed bool) {
			if !confirmed {
				cached++
			}
		}
		h3 := []TraitFilter{{Name: "host", Value: "h3"}, {Name: "count", Op: OpGt, Type: TypeInteger, Value: int64(100)}}
		q := &Query{Limit: 4, Filter: Filter{Traits: h3}}
		// read runs q as a user does, checks the page against the one
		// read from the database, and says whether it came from the
		// cache.
		read := func(q *Query) bool {
			t.Helper()
			before := cached
			got, err := s.Query(ctx, q)
			require.NoError(t, err)
			fromCache := cached > before
			s.pageMode = pageRows
			want, err := s.Query(ctx, q)
			s.pageMode = 0
			require.NoError(t, err)
			require.Equal(t, cached, before+btoi(fromCache), "the database's read came from the cache")
			require.Equal(t, want, got)
			require.NotEmpty(t, got)
			return fromCache
		}
		pg := b.space.Backend() == "postgres"

		require.False(t, read(q), "nothing was cached")
		require.Equal(t, pg, read(q), "read live at this count")
		desc := &Query{Limit: 4, Filter: q.Filter, Sort: []SortKey{{Field: FieldGenerated, Desc: true}}}
		require.False(t, read(desc), "other events")
		require.Equal(t, pg, read(desc))
		// Pages after a marker.
		first, err := s.Query(ctx, q)
		require.NoError(t, err)
		next := &Query{Limit: 4, Filter: q.Filter, Marker: first[3].MessageID}
		require.False(t, read(next))
		require.Equal(t, pg, read(next))

		// A type filter drops half the candidates: the first read
		// confirms more of them in turn, the second needs no read.
		mixed := &Query{Limit: 4, Filter: Filter{Traits: h3[1:], EventType: "type.a"}}
		require.False(t, read(mixed))
		require.Equal(t, pg, read(mixed))

		// A deletion through another store, then one by hand (as
		// another program would): the next page is read from the
		// database and lacks the event.
		other, err := Open(ctx, b.space, &Config{Clock: b.clock.Now})
		require.NoError(t, err)
		n, err := other.Delete(ctx, &Filter{MessageID: first[1].MessageID})
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		require.False(t, read(q), "an event was deleted since")
		require.Equal(t, pg, read(q))
		_, err = s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM event WHERE namespace = ? AND message_id = ?`), s.ns, first[2].MessageID)
		require.NoError(t, err)
		require.False(t, read(q), "an event was deleted by hand since")
		require.Equal(t, pg, read(q))

		// An event recorded since, first on the page, is not cached.
		matching := func(id string, gen time.Time) *Event {
			return &Event{MessageID: id, EventType: "type.a", Generated: gen, Traits: []Trait{
				{Name: "host", Type: TypeString, Value: "h3"}, {Name: "count", Type: TypeInteger, Value: int64(1000)}}}
		}
		record(t, s, []*Event{matching("early", base.Add(-time.Hour))})
		require.False(t, read(q), "a new event")
		require.Equal(t, pg, read(q))

		// Events at one time are ordered by message_id in the database's
		// collation: a page with a tie, or a marker at one, is the
		// database's to read.
		record(t, s, []*Event{matching("tie", first[0].Generated)})
		require.False(t, read(q), "a tie on the page")
		require.False(t, read(q), "a tie on the page")
		atTie := &Query{Limit: 4, Filter: q.Filter, Marker: "tie"}
		require.False(t, read(atTie), "a marker at a tie")
		require.False(t, read(atTie), "a marker at a tie")
		last := &Query{Limit: 2, Filter: q.Filter, Sort: desc.Sort}
		require.False(t, read(last))
		require.Equal(t, pg, read(last), "no tie on this page")
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRecordedEventsCached checks that a Record keeps the events it
// stored in the event cache while it has room, in the form a read from
// the database returns, unchanged by what the caller does with its
// events afterwards; and that a full cache takes none.
func TestRecordedEventsCached(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		paris := time.FixedZone("CEST", 2*3600)
		evs := []*Event{
			{MessageID: "bare", EventType: "t", Generated: base.Add(time.Second)},
			{MessageID: "empty", EventType: "t", Generated: base.Add(2 * time.Second), Traits: []Trait{}, Raw: json.RawMessage{}},
			{MessageID: "zoned", EventType: "t", Generated: base.Add(3*time.Second + 1234567).In(paris), Source: "nova",
				Expires: base.Add(30 * 24 * time.Hour).In(paris),
				Traits: []Trait{
					{Name: "s", Value: "v"},
					{Name: "i", Type: TypeInteger, Value: 7},
					{Name: "f", Type: TypeFloat, Value: float32(0.5)},
					{Name: "d", Type: TypeDatetime, Value: "2026-03-01T10:00:00.123456789+02:00"},
					{Name: "n", Type: TypeInteger, Value: "42"},
				},
				Raw: json.RawMessage(`{"a": [1, 2]}`)},
		}
		record(t, s, evs)
		cache := &s.index().events
		require.Len(t, cache.ids(), len(evs), "the recorded events are cached")
		evs[2].Traits[0].Value = "changed"
		evs[2].Raw[1] = 'b'

		q := &Query{Filter: Filter{EventType: "t"}}
		s.pageMode = pageIDs
		cached, err := s.Query(ctx, q)
		require.NoError(t, err)
		fromDB, err := openOn(t, b.url, &Config{EventCacheBytes: 1}).Query(ctx, q)
		require.NoError(t, err)
		require.Len(t, fromDB, len(evs))
		require.Equal(t, fromDB, cached)
		require.Equal(t, "v", cached[2].Traits[0].Value)
		require.JSONEq(t, `{"a": [1, 2]}`, string(cached[2].Raw))

		// A full cache takes none.
		cache.mu.Lock()
		cache.max = cache.bytes
		cache.mu.Unlock()
		record(t, s, sample(3))
		require.Len(t, cache.ids(), len(evs), "a full cache took recorded events")
	})
}

// TestReadEventsShareStrings checks that events read from the database
// share their event type's and source's bytes, and own their message ids
// and raw payloads (a page's rows are scanned without a copy).
func TestReadEventsShareStrings(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(*testing.T, *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, b := open(t, nil)
		record(t, s, sample(6))
		reader := openOn(t, b.url, &Config{EventCacheBytes: 1})
		reader.pageMode = pageRows
		got, err := reader.Query(ctx, &Query{Filter: Filter{EventType: "type.a"}})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Same(t, unsafe.StringData(got[0].EventType), unsafe.StringData(got[2].EventType))
		require.Same(t, unsafe.StringData(got[0].Source), unsafe.StringData(got[2].Source))
		require.Equal(t, []string{"m000", "m002", "m004"}, ids(got))
		for i, e := range got {
			require.JSONEq(t, fmt.Sprintf(`{"i": %d}`, 2*i), string(e.Raw))
		}
	})
}
