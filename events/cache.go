package events

import (
	"slices"
	"sync"
	"sync/atomic"
)

// clockCache keeps values by id up to max bytes, evicting those not used
// lately: the CLOCK approximation of least recently used. A hit only
// marks its entry used, under a read lock, so concurrent readers do not
// queue for one another; put sweeps a hand over the entries, clearing
// marks, and evicts the first unmarked one. The zero value with max set
// is ready to use.
type clockCache[V any] struct {
	mu    sync.RWMutex
	max   int64
	bytes int64
	byID  map[int64]*clockEntry[V]
	ring  []*clockEntry[V]
	hand  int
}

type clockEntry[V any] struct {
	id    int64
	v     V // never changed once put
	bytes int64
	pos   int // index in ring
	used  atomic.Bool
}

func (c *clockCache[V]) get(id int64) (V, bool) {
	c.mu.RLock()
	e, ok := c.byID[id]
	c.mu.RUnlock()
	if !ok {
		var zero V
		return zero, false
	}
	e.used.Store(true)
	return e.v, true
}

// put keeps v under id (the first value put under an id stays), which
// holds about bytes of memory. It never evicts v itself.
func (c *clockCache[V]) put(id int64, v V, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return
	}
	if c.byID == nil {
		c.byID = map[int64]*clockEntry[V]{}
	}
	e := &clockEntry[V]{id: id, v: v, bytes: bytes, pos: len(c.ring)}
	c.byID[id] = e
	c.ring = append(c.ring, e)
	c.bytes += bytes
	for c.bytes > c.max && len(c.ring) > 1 {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		old := c.ring[c.hand]
		if old == e || old.used.Swap(false) {
			c.hand++
			continue
		}
		// The hand stays: the entry moved into old's place is next.
		c.remove(old)
	}
}

// remove takes e out of c; the last entry of the ring takes its place.
// c.mu is held.
func (c *clockCache[V]) remove(e *clockEntry[V]) {
	last := c.ring[len(c.ring)-1]
	c.ring[e.pos], last.pos = last, e.pos
	c.ring[len(c.ring)-1] = nil
	c.ring = c.ring[:len(c.ring)-1]
	delete(c.byID, e.id)
	c.bytes -= e.bytes
}

// full tells whether a value of bytes would push out others.
func (c *clockCache[V]) full(bytes int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes+bytes > c.max
}

// drop forgets ids (that no longer exist).
func (c *clockCache[V]) drop(ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e, ok := c.byID[id]; ok {
			c.remove(e)
		}
	}
}

// The values of Store.pageMode: adaptive (zero), always rows at once,
// always ids first.
const (
	pageRows = 1 + iota
	pageIDs
)

// EventCacheDefault is how many bytes of decoded events a process keeps
// per database when Config.EventCacheBytes is zero.
const EventCacheDefault = 64 << 20

// eventCache keeps decoded events by id. That is safe because an event
// row never changes and no id is ever used twice: an id read from a live
// row names the same event as when it was cached. Whether it is still
// live is read from the database (see readPage), except where the count
// of deletions tells (trait pages on PostgreSQL, see cachedTraitPage).
type eventCache struct {
	clockCache[*cachedEvent]
	// door admits an event into the full cache on its second read.
	door doorkeeper
	// hitRate is the share of a page's events that were cached, in
	// 1/1024ths, averaged over the recent pages: while it is high, pages
	// read ids first rather than whole rows at once.
	hitRate int64
	rateMu  sync.Mutex
}

// shared returns the event cached under id. It is the cache's own: it
// must never be changed or handed to a caller (clonePage copies it).
func (c *eventCache) shared(id int64) (*Event, bool) {
	ce, ok := c.clockCache.get(id)
	if !ok || ce.ev == nil {
		return nil, false
	}
	return ce.ev, true
}

// keep caches e under id, and tells whether it did: from then on e
// belongs to the cache, as shared says. While the cache has room it keeps
// every event; once full, only an event read before (see doorkeeper), or
// every one when all is set. So a scan over more events than the cache
// holds, each read once, does not push out those read again and again,
// nor pay to cache and copy what it will not read twice.
func (c *eventCache) keep(id int64, e *Event, all bool) bool {
	bytes := e.memBytes()
	if !all && c.full(bytes) && !c.door.again(id) {
		return false
	}
	c.put(id, &cachedEvent{ev: e}, bytes)
	return true
}

// offer caches a copy of e, an event a Record has just stored under id,
// while the cache has room. Events just recorded are the likeliest to be
// read soon (a page of the latest events, the watchdog), and a query that
// finds them cached reads only their ids. A full cache takes none: a bulk
// load must not push out the events queries read again and again. The
// copy has the form a read from the database decodes (see cachedForm).
func (c *eventCache) offer(id int64, e *Event) {
	bytes := e.memBytes()
	if c.full(bytes) {
		return
	}
	c.put(id, &cachedEvent{ev: cachedForm(e)}, bytes)
}

// cachedForm returns a copy of e, a recorded event, as decodeEvent reads
// it back from its stored value: its own traits (never nil) and raw
// payload (nil when empty), so that the caller can change e and a query
// answered from the cache returns what one answered from the database
// would.
func cachedForm(e *Event) *Event {
	c := *e
	c.Traits = slices.Clone(e.Traits)
	if c.Traits == nil {
		c.Traits = []Trait{}
	}
	c.Raw = nil
	if len(e.Raw) > 0 {
		c.Raw = slices.Clone(e.Raw)
	}
	return &c
}

// doorkeeper remembers, roughly, which ids were asked for: one bit per
// hash of an id, all cleared once half are set, so that it forgets what
// was not asked for again in a while. A collision admits an event early,
// which costs only a place in the cache.
type doorkeeper struct {
	bits [doorBits / 64]atomic.Uint64
	set  atomic.Int64
}

const (
	doorLog  = 20
	doorBits = 1 << doorLog
)

// again tells whether id was asked for since the last clearing, and
// remembers it.
func (d *doorkeeper) again(id int64) bool {
	h := uint64(id) * 0x9E3779B97F4A7C15 >> (64 - doorLog)
	mask := uint64(1) << (h % 64)
	if d.bits[h/64].Or(mask)&mask != 0 {
		return true
	}
	if d.set.Add(1) >= doorBits/2 {
		for i := range d.bits {
			d.bits[i].Store(0)
		}
		d.set.Store(0)
	}
	return false
}

// cachedEvent is an event in the cache, and when it was last seen live;
// with no event, a mark that the id's event is gone.
type cachedEvent struct {
	ev *Event
	// live is one more than the count of event deletions (see listRuns)
	// at which the event was last known to exist; zero when never.
	live atomic.Int64
}

// sawLive records that the cached events of ids existed in a snapshot
// whose count of deletions was at least deletions.
func (c *eventCache) sawLive(ids []int64, deletions int64) {
	if deletions == noDeletions {
		return
	}
	for _, id := range ids {
		if ce, ok := c.clockCache.get(id); ok {
			ce.live.Store(deletions + 1)
		}
	}
}

// liveAt tells whether the event of id is known to exist in a snapshot
// whose count of deletions is deletions (see cachedTraitPage), and returns
// it if so. An event exists there if it was seen live at that count (no
// event has been deleted since); it is known not to (known, with a nil
// event) once it was seen gone, for good.
func (c *eventCache) liveAt(id, deletions int64) (e *Event, known bool) {
	ce, ok := c.clockCache.get(id)
	switch {
	case !ok || deletions == noDeletions:
		return nil, false
	case ce.ev == nil:
		return nil, true
	case ce.live.Load() != deletions+1:
		return nil, false
	}
	return ce.ev, true
}

// sawGone records that the events of ids no longer exist, in place of
// what the cache held for them.
func (c *eventCache) sawGone(ids []int64) {
	c.drop(ids)
	for _, id := range ids {
		c.put(id, &cachedEvent{}, 64)
	}
}

// observe records that misses of n events of a page were not cached and
// tells whether the next page should read ids first.
func (c *eventCache) observe(misses, n int) {
	if n == 0 {
		return
	}
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	c.hitRate += (int64(n-misses)*1024/int64(n) - c.hitRate) / 8
}

// idsFirst tells whether pages should read ids first: while most of the
// recent pages' events were cached.
func (c *eventCache) idsFirst() bool {
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	return c.hitRate > 512
}

// clonePage returns copies of evs that share nothing mutable with them
// (trait values are strings, numbers and times), in four allocations for
// the page rather than three an event: the events, their traits, their
// raw payloads and the list. An event a caller keeps holds the page's
// arrays alive with it. The events owned marks (nil: none) are the
// page's own, not the cache's: they are handed out as they are.
func clonePage(evs []*Event, owned []bool) []*Event {
	var nTraits, nRaw int
	for i, e := range evs {
		if owned == nil || !owned[i] {
			nTraits, nRaw = nTraits+len(e.Traits), nRaw+len(e.Raw)
		}
	}
	copies := make([]Event, len(evs))
	traits := make([]Trait, 0, nTraits)
	raw := make([]byte, 0, nRaw)
	out := make([]*Event, len(evs))
	for i, e := range evs {
		if owned != nil && owned[i] {
			out[i] = e
			continue
		}
		c := &copies[i]
		*c = *e
		// Each copy's slices end at their own length, so that an append
		// to one reallocates rather than writes over the next event's.
		if e.Traits != nil {
			k := len(traits)
			traits = append(traits, e.Traits...)
			c.Traits = traits[k:len(traits):len(traits)]
		}
		if e.Raw != nil {
			k := len(raw)
			raw = append(raw, e.Raw...)
			c.Raw = raw[k:len(raw):len(raw)]
		}
		out[i] = c
	}
	return out
}

// memBytes estimates the memory e holds.
func (e *Event) memBytes() int64 {
	n := 200 + len(e.MessageID) + len(e.EventType) + len(e.Source) + len(e.Raw)
	for _, t := range e.Traits {
		n += 56 + len(t.Name)
		if s, ok := t.Value.(string); ok {
			n += 16 + len(s)
		} else {
			n += 16
		}
	}
	return int64(n)
}
