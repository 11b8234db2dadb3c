package events

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/strata-dataspace/strata/datablock"
)

// Op is a comparison of a trait filter.
type Op string

// The trait filter operators.
const (
	OpEq Op = "eq"
	OpNe Op = "ne"
	OpLt Op = "lt"
	OpLe Op = "le"
	OpGt Op = "gt"
	OpGe Op = "ge"
)

// ops are the operators a trait filter takes.
var ops = map[Op]bool{OpEq: true, OpNe: true, OpLt: true, OpLe: true, OpGt: true, OpGe: true}

// ParseOp reads eq, ne, lt, le, gt or ge, in any case ("" means eq).
func ParseOp(s string) (Op, error) {
	if s == "" {
		return OpEq, nil
	}
	op := Op(strings.ToLower(s))
	if !ops[op] {
		return "", fmt.Errorf("%w: operator %q: want eq, ne, lt, le, gt or ge", ErrInvalid, s)
	}
	return op, nil
}

// TraitFilter compares one trait of an event with a value. An event
// without the trait (or with it under another type) does not match.
type TraitFilter struct {
	// Name is the trait's name.
	Name string
	// Op is the comparison; empty means eq.
	Op Op
	// Type is the trait's type; zero means string for a string Value,
	// else the type of Value's Go type.
	Type TraitType
	// Value is compared with the trait: a string is parsed as Type, or a
	// value of the type itself (int64, float64, time.Time).
	Value any
}

// Filter selects events. Every set field must match (AND).
type Filter struct {
	// Start is the first generated time included; zero means no bound.
	Start time.Time
	// End is the first generated time excluded: the range is [Start, End).
	// Zero means no bound.
	End time.Time
	// EventType, when set, is the only type matched.
	EventType string
	// MessageID, when set, is the only id matched.
	MessageID string
	// Traits must all match.
	Traits []TraitFilter
}

// Field is what a query sorts by.
type Field string

// The sortable fields.
const (
	FieldGenerated Field = "generated"
	FieldMessageID Field = "message_id"
)

// SortKey is one sort criterion.
type SortKey struct {
	Field Field
	Desc  bool
}

// ParseSort reads "generated" or "message_id", optionally followed by
// ":asc" or ":desc" (in any case); spaces around either are ignored.
func ParseSort(s string) (SortKey, error) {
	f, dir, _ := strings.Cut(s, ":")
	k := SortKey{Field: Field(strings.TrimSpace(f))}
	if k.Field != FieldGenerated && k.Field != FieldMessageID {
		return k, fmt.Errorf("%w: sort key %q: want generated or message_id, optionally with :asc or :desc", ErrInvalid, f)
	}
	switch strings.ToLower(strings.TrimSpace(dir)) {
	case "", "asc":
	case "desc":
		k.Desc = true
	default:
		return k, fmt.Errorf("%w: sort direction %q: want asc or desc", ErrInvalid, dir)
	}
	return k, nil
}

// Query is a page of events: a filter, an order, a limit and a marker.
type Query struct {
	Filter
	// Sort orders the events. Empty means generated asc; message_id (asc
	// unless given) always breaks ties, so pages are stable.
	Sort []SortKey
	// Limit is the page size. Zero means LimitDefault; more than the
	// store's MaxLimit is an error.
	Limit int
	// Marker is the message_id of the last event of the previous page; the
	// page starts after it. An unknown marker is an ErrUnknownMarker.
	Marker string
}

// builder assembles a WHERE clause with ? placeholders.
type builder struct {
	conds []string
	args  []any
}

func (b *builder) add(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

func (b *builder) where() string { return strings.Join(b.conds, " AND ") }

// filterOn adds the conditions of f that are not on traits; trait
// filters are answered from the trait index (see candidates).
func (s *Store) filterOn(b *builder, f *Filter) {
	b.add("e.namespace = ?", s.ns)
	if f == nil {
		return
	}
	if !f.Start.IsZero() {
		b.add("e.generated >= ?", f.Start.UnixMicro())
	}
	if !f.End.IsZero() {
		b.add("e.generated < ?", f.End.UnixMicro())
	}
	if f.EventType != "" {
		b.add("e.event_type = ?", f.EventType)
	}
	if f.MessageID != "" {
		b.add("e.message_id = ?", f.MessageID)
	}
}

// fromIDs returns the FROM clause over the events of ids (aliased e), and
// its argument. The ids drive, whatever the planner's statistics say:
// SQLite keeps a CROSS JOIN's order as written, and on PostgreSQL the
// LATERAL subquery, kept apart by OFFSET 0, can only follow the ids.
func (s *Store) fromIDs(ids []int64) (string, any) {
	list, arg := s.idList(ids)
	if s.pg {
		return list + ` CROSS JOIN LATERAL (SELECT * FROM event WHERE id = c.id OFFSET 0) e`, arg
	}
	return list + ` CROSS JOIN event e ON e.id = c.id`, arg
}

// fromAll returns the FROM clause over the namespace's events for a
// filter without trait filters. On SQLite, which has no statistics unless
// ANALYZE runs, an event type filter names the (namespace, event_type,
// generated) index: else SQLite could read every type's events of a time
// window to keep one type's.
func (s *Store) fromAll(f *Filter) string {
	if f != nil && f.EventType != "" && f.MessageID == "" && !s.pg {
		return "event e INDEXED BY event_type_generated"
	}
	return "event e"
}

// parseTraits checks the trait filters of f.
func parseTraits(f *Filter) ([]*traitFilter, error) {
	if f == nil {
		return nil, nil
	}
	out := make([]*traitFilter, len(f.Traits))
	for i, tf := range f.Traits {
		t, err := parseTraitFilter(tf)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// matching returns "<from> WHERE <conditions>" over every event that
// matches f, for statements that read them all, and its arguments. Trait
// filters are answered from the trait index first: the statement reads
// the candidates' rows only.
func (s *Store) matching(ctx context.Context, f *Filter) (string, []any, error) {
	fs, err := parseTraits(f)
	if err != nil {
		return "", nil, err
	}
	var b builder
	from := s.fromAll(f)
	if len(fs) > 0 {
		lo, hi := timeBounds(f)
		it, err := s.candidates(ctx, fs, lo, hi, false)
		if err != nil {
			return "", nil, err
		}
		var arg any
		from, arg = s.fromIDs(it.ids())
		b.args = append(b.args, arg)
	}
	s.filterOn(&b, f)
	return from + ` WHERE ` + b.where(), b.args, nil
}

// traitFilter is a checked trait filter: its name, type, operator and
// value in the field of its type.
type traitFilter struct {
	name string
	typ  TraitType
	op   Op
	s    string
	n    int64 // integers, and datetimes in µs
	f    float64
}

// parseTraitFilter checks tf.
func parseTraitFilter(tf TraitFilter) (*traitFilter, error) {
	if tf.Name == "" {
		return nil, fmt.Errorf("%w: trait filter without a trait name", ErrInvalid)
	}
	op := tf.Op
	if op == "" {
		op = OpEq
	}
	if !ops[op] {
		return nil, fmt.Errorf("%w: trait filter on %q: operator %q: want eq, ne, lt, le, gt or ge", ErrInvalid, tf.Name, tf.Op)
	}
	t, err := Trait{Name: tf.Name, Type: tf.Type, Value: tf.Value}.normalize()
	if err != nil {
		return nil, fmt.Errorf("trait filter: %w", err)
	}
	e := traitEntry(t, 0, 0)
	return &traitFilter{name: t.Name, typ: t.Type, op: op, s: e.s, n: e.n, f: e.f}, nil
}

// normalizedSort returns the sort keys with message_id appended as the
// tie-break.
func normalizedSort(keys []SortKey) ([]SortKey, error) {
	if len(keys) == 0 {
		return []SortKey{{Field: FieldGenerated}, {Field: FieldMessageID}}, nil
	}
	var out []SortKey
	seen := map[Field]bool{}
	for _, k := range keys {
		if k.Field != FieldGenerated && k.Field != FieldMessageID {
			return nil, fmt.Errorf("%w: sort key %q: want generated or message_id", ErrInvalid, k.Field)
		}
		if seen[k.Field] {
			return nil, fmt.Errorf("%w: sort key %q given twice", ErrInvalid, k.Field)
		}
		seen[k.Field] = true
		out = append(out, k)
		if k.Field == FieldMessageID {
			// message_id is unique: later keys cannot matter.
			return out, nil
		}
	}
	return append(out, SortKey{Field: FieldMessageID}), nil
}

// limit checks a query's limit.
func (s *Store) limit(n int) (int, error) {
	switch {
	case n == 0:
		return LimitDefault, nil
	case n < 0:
		return 0, fmt.Errorf("%w: limit %d: want a positive number", ErrInvalid, n)
	case n > s.maxLimit:
		return 0, fmt.Errorf("%w: limit %d is above the maximum of %d: page with the marker", ErrInvalid, n, s.maxLimit)
	}
	return n, nil
}

// Query returns one page of the events that match q, in q's order.
//
// Without trait filters it is one statement. With them, the trait index
// yields the candidates (see candidates); sorted by time, they come in
// generated order and are read in chunks until the page is full, so a
// query stops after its page whatever the number of matches. Sorted by
// message_id first, every candidate is read by one statement.
func (s *Store) Query(ctx context.Context, q *Query) ([]*Event, error) {
	if q == nil {
		q = &Query{}
	}
	out, err := s.query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query events of namespace %q: %w", s.ns, err)
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, q *Query) ([]*Event, error) {
	p, err := s.page(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(p.traits) == 0 {
		return s.readPage(ctx, p, s.fromAll(&q.Filter), nil, p.limit)
	}
	lo, hi := timeBounds(&q.Filter)
	if p.byTime && p.marker != nil {
		// Nothing before the marker's time can be on the page.
		if p.desc {
			hi = min(hi, p.marker.Generated)
		} else {
			lo = max(lo, p.marker.Generated)
		}
	}
	it, err := s.candidates(ctx, p.traits, lo, hi, p.byTime && p.desc)
	if err != nil {
		return nil, err
	}
	p.deletions = it.deletions
	if !p.byTime {
		from, arg := s.fromIDs(it.ids())
		return s.readPage(ctx, p, from, arg, p.limit)
	}
	if out, ok, err := s.cachedTraitPage(ctx, it, p, &q.Filter); err != nil || ok {
		return out, err
	}
	out := []*Event{}
	// Every candidate passed the trait filters and the time range; a type
	// or message id filter may drop some, as may the marker's time or a
	// deletion since.
	chunk := p.limit + 8
	if q.EventType != "" || q.MessageID != "" {
		chunk = 2*p.limit + 16
	}
	var ids []int64
	for len(out) < p.limit {
		ids = ids[:0]
		var last cand
		for len(ids) < chunk {
			c, ok := it.next()
			if !ok {
				break
			}
			ids, last = append(ids, c.id), c
		}
		// The chunk ends between two times, so that its events sort
		// before the next chunk's whatever their message_ids.
		for len(ids) > 0 {
			c, ok := it.peek()
			if !ok || c.gen != last.gen {
				break
			}
			it.next()
			ids = append(ids, c.id)
		}
		if len(ids) == 0 {
			break
		}
		from, arg := s.fromIDs(ids)
		got, err := s.readPage(ctx, p, from, arg, p.limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		// Few candidates passed the other filters: take more at once.
		chunk *= 4
	}
	return out, nil
}

// cachedTraitPage builds a trait query's page sorted by time from the
// process's cache (PostgreSQL only; ok is false otherwise, and when it
// gives the page to the database, having given back the candidates it
// took).
//
// That is exact when the cache knows, for every candidate the page needs,
// whether it exists in the listing's snapshot: the candidates come from
// runs listed in that snapshot, so they existed when it began, and an
// event seen live at the listing's count of deletions still exists (no
// event has been deleted since; see eventCache.liveAt). An event found
// missing is gone for good, since ids are never reused. The candidates the
// cache does not know are read once, all in one statement (confirm), and
// the page is built again. Generated times order the page; an order among
// equal times (by message_id, in the database's collation) is left to the
// database.
func (s *Store) cachedTraitPage(ctx context.Context, it *candIter, p *pageQuery, f *Filter) (out []*Event, ok bool, err error) {
	if it.deletions == noDeletions || s.pageMode == pageRows {
		return nil, false, nil
	}
	// Each confirm takes up to 4 times as many unknown candidates as the
	// one before: a type or time filter may drop most of them.
	grow := 1
	for pass := 0; ; pass++ {
		out, unknown, taken, tie := s.pageOfKnown(it, p, f, grow)
		switch {
		case tie:
			// The database orders it.
		case len(unknown) == 0:
			if s.afterCachedPage != nil {
				s.afterCachedPage(pass > 0)
			}
			return clonePage(out, nil), true, nil
		case pass < confirmPasses:
			it.giveBack(taken)
			if err := s.confirm(ctx, unknown, it.deletions); err != nil {
				return nil, false, err
			}
			grow *= 4
			continue
		}
		// A tie, or candidates still unknown after the confirms (most
		// fail the other filters, or the cache is too small to keep
		// them).
		it.giveBack(taken)
		return nil, false, nil
	}
}

// confirmPasses is how many times cachedTraitPage confirms candidates for
// one page before it hands the page to the database.
const confirmPasses = 3

// pageOfKnown takes candidates of it until they fill p's page, and returns
// the page's events if the cache knows every one it took; otherwise the
// unknown ones among them, taken as if one in grow were on the page. tie
// says an order among equal times is needed. taken are the candidates it
// took.
func (s *Store) pageOfKnown(it *candIter, p *pageQuery, f *Filter, grow int) (out []*Event, unknown []int64, taken []cand, tie bool) {
	cache := &s.index().events
	var last int64
	for len(out)+(len(unknown)+grow-1)/grow < p.limit {
		c, more := it.next()
		if !more {
			break
		}
		taken = append(taken, c)
		e, known := cache.liveAt(c.id, it.deletions)
		switch {
		case !known:
			unknown = append(unknown, c.id)
			continue
		case e == nil:
			continue // gone
		case p.marker != nil && c.gen == p.marker.Generated:
			if e.MessageID == p.marker.MessageID {
				continue // the marker: the page starts after it
			}
			return nil, nil, taken, true
		case !onTraitPage(e, c.gen, f, p):
			continue
		case len(out) > 0 && c.gen == last:
			return nil, nil, taken, true
		}
		out, last = append(out, e), c.gen
	}
	if next, more := it.peek(); more && len(out) > 0 && len(unknown) == 0 && next.gen == last {
		return nil, nil, taken, true
	}
	return out, unknown, taken, false
}

// confirm finds out which of ids, candidates of a trait index listing
// whose count of deletions was deletions, still exist, and caches those as
// live at that count and the others as gone. Of the events it has cached
// it reads only the ids; of the others, the rows.
func (s *Store) confirm(ctx context.Context, ids []int64, deletions int64) error {
	cache := &s.index().events
	var cached, rows []int64
	for _, id := range ids {
		if _, ok := cache.shared(id); ok {
			cached = append(cached, id)
		} else {
			rows = append(rows, id)
		}
	}
	var found []int64
	if len(cached) > 0 {
		from, arg := s.fromIDs(cached)
		got, err := s.readIDs(ctx, `SELECT e.id FROM `+from, arg)
		if err != nil {
			return err
		}
		found = got
	}
	if len(rows) > 0 {
		// Kept, all: the page is built from the cache.
		read, err := s.readByIDs(ctx, cache, rows, true)
		if err != nil {
			return err
		}
		found = append(found, read.ids...)
	}
	cache.sawLive(found, deletions)
	live := make(map[int64]bool, len(found))
	for _, id := range found {
		live[id] = true
	}
	var gone []int64
	for _, id := range ids {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	cache.sawGone(gone)
	return nil
}

// onTraitPage says whether e, a candidate of the trait index generated at
// gen, passes the filters of f that the index does not check, and comes
// after p's marker, whose time gen is not.
func onTraitPage(e *Event, gen int64, f *Filter, p *pageQuery) bool {
	switch {
	case !f.Start.IsZero() && gen < f.Start.UnixMicro(),
		!f.End.IsZero() && gen >= f.End.UnixMicro(),
		f.EventType != "" && e.EventType != f.EventType,
		f.MessageID != "" && e.MessageID != f.MessageID:
		return false
	case p.marker == nil:
		return true
	case p.desc:
		return gen < p.marker.Generated
	default:
		return gen > p.marker.Generated
	}
}

// pageQuery is a checked Query: its trait filters, and the conditions
// and order of the statements that read its events.
type pageQuery struct {
	traits []*traitFilter
	limit  int
	byTime bool // the first sort key is generated
	desc   bool // the first sort key is descending
	marker *markerRow
	where  builder
	order  string
	// deletions is the count of event deletions as of the trait index
	// listing the page's candidates came from, or noDeletions: readPage
	// marks the events it reads as live at that count.
	deletions int64
}

type markerRow struct {
	Generated int64  `db:"generated"`
	MessageID string `db:"message_id"`
}

// page checks q and looks up its marker.
func (s *Store) page(ctx context.Context, q *Query) (*pageQuery, error) {
	limit, err := s.limit(q.Limit)
	if err != nil {
		return nil, err
	}
	keys, err := normalizedSort(q.Sort)
	if err != nil {
		return nil, err
	}
	traits, err := parseTraits(&q.Filter)
	if err != nil {
		return nil, err
	}
	p := &pageQuery{traits: traits, limit: limit, byTime: keys[0].Field == FieldGenerated, desc: keys[0].Desc, deletions: noDeletions}
	s.filterOn(&p.where, &q.Filter)
	if q.Marker != "" {
		var m markerRow
		err := s.getRead(ctx, &m, `SELECT generated, message_id FROM event WHERE namespace = ? AND message_id = ?`, s.ns, q.Marker)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %w: marker %q is no event of namespace %q: use the message_id of the last event of the previous page", ErrInvalid, ErrUnknownMarker, q.Marker, s.ns)
		}
		if err != nil {
			return nil, fmt.Errorf("look up marker %q: %w", q.Marker, err)
		}
		p.marker = &m
		// After the marker: (k1 after v1) OR (k1 = v1 AND k2 after v2) …
		var ors []string
		var args []any
		for i := range keys {
			var ands []string
			for j := 0; j <= i; j++ {
				col, val := "e.generated", any(m.Generated)
				if keys[j].Field == FieldMessageID {
					col, val = "e.message_id", any(m.MessageID)
				}
				op := "="
				if j == i {
					op = ">"
					if keys[j].Desc {
						op = "<"
					}
				}
				ands = append(ands, col+" "+op+" ?")
				args = append(args, val)
			}
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		p.where.add("("+strings.Join(ors, " OR ")+")", args...)
	}
	var order []string
	for _, k := range keys {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		order = append(order, "e."+string(k.Field)+dir)
	}
	p.order = strings.Join(order, ", ")
	return p, nil
}

// sql returns the statement that reads cols of up to limit events of the
// page from from (whose one argument, if any, is fromArg), and its
// arguments.
func (p *pageQuery) sql(cols, from string, fromArg any, limit int) (string, []any) {
	var args []any
	if fromArg != nil {
		args = append(args, fromArg)
	}
	args = append(append(args, p.where.args...), limit)
	return `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + p.where.where() +
		` ORDER BY ` + p.order + ` LIMIT ?`, args
}

// The select lists of a page's statements: its events' ids, or their ids
// and rows.
const (
	idColumn       = `e.id`
	idEventColumns = `e.id, ` + eventColumns
)

// readPage reads up to limit events of the page p from from (whose one
// argument, if any, is fromArg), in the page's order. While most of the
// recent pages' events were in the process's event cache, it reads the
// page's ids first (on SQLite, a filter without traits reads them from an
// index alone) and then only the rows it has not cached; otherwise it
// reads the rows at once, and offers them to the cache.
func (s *Store) readPage(ctx context.Context, p *pageQuery, from string, fromArg any, limit int) ([]*Event, error) {
	cache := &s.index().events
	idsFirst := cache.idsFirst()
	switch s.pageMode {
	case pageRows:
		idsFirst = false
	case pageIDs:
		idsFirst = true
	}
	if idsFirst {
		r, ok, err := s.readIDsFirst(ctx, cache, p, from, fromArg, limit)
		if err != nil {
			return nil, err
		}
		if ok {
			cache.sawLive(r.ids, p.deletions)
			return clonePage(r.evs, r.owned), nil
		}
		// An event went between the two reads: read the rows at once.
	}
	query, args := p.sql(idEventColumns, from, fromArg, limit)
	r, err := s.readRows(ctx, cache, false, query, args...)
	if err != nil {
		return nil, err
	}
	cache.observe(r.misses, len(r.evs))
	cache.sawLive(r.ids, p.deletions)
	return clonePage(r.evs, r.owned), nil
}

// readEvents are the events a read returned, in order, and their ids;
// owned marks those that are the read's own rather than the cache's (see
// eventCache.keep), which may be handed out as they are.
type readEvents struct {
	evs    []*Event
	ids    []int64
	owned  []bool
	misses int // how many readRows did not find cached
}

// add appends e, of id, to r.
func (r *readEvents) add(id int64, e *Event, owned bool) {
	r.evs, r.ids, r.owned = append(r.evs, e), append(r.ids, id), append(r.owned, owned)
}

// readIDsFirst reads the ids of the page, then the rows of those not
// cached. ok is false when one of those is gone by then.
func (s *Store) readIDsFirst(ctx context.Context, cache *eventCache, p *pageQuery, from string, fromArg any, limit int) (r readEvents, ok bool, err error) {
	query, args := p.sql(idColumn, from, fromArg, limit)
	if r.ids, err = s.readIDs(ctx, query, args...); err != nil {
		return r, false, err
	}
	r.evs, r.owned = make([]*Event, len(r.ids)), make([]bool, len(r.ids))
	var miss []int64
	for i, id := range r.ids {
		if e, hit := cache.shared(id); hit {
			r.evs[i] = e
		} else {
			miss = append(miss, id)
		}
	}
	cache.observe(len(miss), len(r.ids))
	if len(miss) == 0 {
		return r, true, nil
	}
	if s.beforeMisses != nil {
		s.beforeMisses()
	}
	read, err := s.readByIDs(ctx, cache, miss, false)
	if err != nil {
		return r, false, err
	}
	if len(read.evs) < len(miss) {
		return r, false, nil
	}
	at := make(map[int64]int, len(read.ids))
	for i, id := range read.ids {
		at[id] = i
	}
	for i, id := range r.ids {
		if r.evs[i] == nil {
			k := at[id]
			r.evs[i], r.owned[i] = read.evs[k], read.owned[k]
		}
	}
	return r, true, nil
}

// readByIDs reads the events of ids that exist (see readRows).
func (s *Store) readByIDs(ctx context.Context, cache *eventCache, ids []int64, keepAll bool) (readEvents, error) {
	from, arg := s.fromIDs(ids)
	return s.readRows(ctx, cache, keepAll, `SELECT `+idEventColumns+` FROM `+from, arg)
}

// readRows runs a read of idEventColumns and returns its events. A cached
// event is taken from the cache; the others are decoded, and offered to
// the cache (see eventCache.keep), which takes them all when keepAll is
// set.
func (s *Store) readRows(ctx context.Context, cache *eventCache, keepAll bool, query string, args ...any) (readEvents, error) {
	out := readEvents{evs: []*Event{}}
	rows, err := s.queryRows(ctx, query, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	// The text and bytes columns are scanned without a copy, and copied
	// only for an event not cached: a hit allocates nothing.
	var messageID, eventType, source, value sql.RawBytes
	for rows.Next() {
		var (
			r  eventRow
			id int64
		)
		if err := rows.Scan(&id, &messageID, &eventType, &r.Generated, &r.Expires, &source,
			&r.Encoding, &r.Compression, &value, &r.RawSize); err != nil {
			return out, err
		}
		if e, hit := cache.shared(id); hit {
			out.add(id, e, false)
			continue
		}
		out.misses++
		r.MessageID, r.EventType, r.Source = string(messageID), intern(eventType), intern(source)
		// A decompressed value is a new buffer; a value stored as it is
		// would be the driver's, which the event's raw payload must not
		// keep.
		r.Value = value
		if datablock.Compression(r.Compression) == datablock.CompressionNone {
			r.Value = bytes.Clone(value)
		}
		e, err := r.event()
		if err != nil {
			return out, err
		}
		out.add(id, e, !cache.keep(id, e, keepAll))
	}
	return out, rows.Err()
}

// Count returns how many events match f.
func (s *Store) Count(ctx context.Context, f *Filter) (int64, error) {
	match, args, err := s.matching(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.getRead(ctx, &n, `SELECT COUNT(*) FROM `+match, args...); err != nil {
		return 0, fmt.Errorf("count events of namespace %q: %w", s.ns, err)
	}
	return n, nil
}

// deleteIDs removes events by id, in tx.
func (s *Store) deleteIDs(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	list, arg := s.idList(ids)
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event WHERE id IN (SELECT c.id FROM `+list+`)`), arg); err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	s.forget(ids)
	return nil
}

// forget frees the cached events of ids, which this process deleted: they
// are not read again (ids are never reused).
func (s *Store) forget(ids []int64) { s.index().events.drop(ids) }

// dropEmptyRuns removes, in tx, the namespace's trait index runs that
// cover ids in [lo, hi] and have no event left. Runs whose events are only
// partly gone keep their entries until they are merged: readers check
// every candidate's row.
func (s *Store) dropEmptyRuns(ctx context.Context, tx *sqlx.Tx, lo, hi int64) error {
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait_run WHERE namespace = ? AND min_id <= ? AND max_id >= ?
		AND NOT EXISTS (SELECT 1 FROM event e WHERE e.id BETWEEN event_trait_run.min_id AND event_trait_run.max_id AND e.namespace = event_trait_run.namespace)`),
		s.ns, hi, lo); err != nil {
		return fmt.Errorf("delete trait index runs without events: %w", err)
	}
	return nil
}

// withoutEvents is the condition on an event_type row that no event of its
// type is left. It looks for the newest event through the type's time
// index: after an expiry or a delete of older events, PostgreSQL keeps
// their index entries until a vacuum, and a search from the oldest end
// would step over them all (as NOT EXISTS did, or read the whole table
// through a hash anti-join when its statistics were stale).
const withoutEvents = `(SELECT e.generated FROM event e WHERE e.namespace = event_type.namespace AND e.event_type = event_type.event_type
	ORDER BY e.generated DESC LIMIT 1) IS NULL`

// pruneDictionaries drops the event types (and their trait types) that no
// event has any more, in every namespace when ns is empty. On PostgreSQL
// it first takes the dictionary lock: it waits for the Records that hold
// it shared, so that it sees their events, and the Records after it wait
// for its commit, then read the count of deletions its deletions moved
// and write their rows again (see migration 0010).
func (s *Store) pruneDictionaries(ctx context.Context, tx *sqlx.Tx, ns string) error {
	cond, args := "", []any{}
	if ns != "" {
		cond, args = "namespace = ? AND ", []any{ns}
	}
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT strata_event_dict_lock()`); err != nil {
			return fmt.Errorf("take the dictionary lock: %w", err)
		}
	}
	types, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_type WHERE `+cond+withoutEvents), args...)
	if err != nil {
		return fmt.Errorf("prune event types: %w", err)
	}
	traits, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_type_trait WHERE `+cond+`NOT EXISTS
		(SELECT 1 FROM event_type t WHERE t.namespace = event_type_trait.namespace AND t.event_type = event_type_trait.event_type)`), args...)
	if err != nil {
		return fmt.Errorf("prune trait types: %w", err)
	}
	n1, err := types.RowsAffected()
	if err != nil {
		return fmt.Errorf("prune event types: %w", err)
	}
	n2, err := traits.RowsAffected()
	if err != nil {
		return fmt.Errorf("prune trait types: %w", err)
	}
	if n1+n2 == 0 {
		return nil
	}
	return s.dictionariesChanged(ctx, tx, ns)
}

// Delete removes the events that match f, in one transaction, and
// returns how many it removed. A nil or empty filter deletes the whole
// namespace.
func (s *Store) Delete(ctx context.Context, f *Filter) (int64, error) {
	match, args, err := s.matching(ctx, f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, tx.Rebind(`SELECT e.id FROM `+match), args...); err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		if err := s.deleteIDs(ctx, tx, ids); err != nil {
			return err
		}
		n = int64(len(ids))
		if n == 0 {
			return nil
		}
		if err := s.dropEmptyRuns(ctx, tx, slices.Min(ids), slices.Max(ids)); err != nil {
			return err
		}
		return s.pruneDictionaries(ctx, tx, s.ns)
	})
	if err != nil {
		return 0, fmt.Errorf("delete events of namespace %q: %w", s.ns, err)
	}
	return n, nil
}

// DistinctParams selects the distinct values of one trait.
type DistinctParams struct {
	Filter
	// Name is the trait.
	Name string
	// Limit caps the values returned. Zero means LimitDefault; more than
	// the store's MaxLimit is an error.
	Limit int
}

// Distinct returns the distinct values of a trait among the events that
// match the filter, ordered by type then value; none is an empty list.
// The values come from the trait index, never from decoding events.
func (s *Store) Distinct(ctx context.Context, p *DistinctParams) ([]Trait, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("%w: distinct values: no trait name", ErrInvalid)
	}
	limit, err := s.limit(p.Limit)
	if err != nil {
		return nil, err
	}
	match, args, err := s.matching(ctx, &p.Filter)
	if err != nil {
		return nil, err
	}
	var ids []int64
	if err := s.selectRead(ctx, &ids, `SELECT e.id FROM `+match, args...); err != nil {
		return nil, fmt.Errorf("distinct values of trait %q in namespace %q: %w", p.Name, s.ns, err)
	}
	vals, err := s.traitValues(ctx, p.Name, ids)
	if err != nil {
		return nil, fmt.Errorf("distinct values of trait %q in namespace %q: %w", p.Name, s.ns, err)
	}
	slices.SortFunc(vals, compareTraits)
	vals = slices.CompactFunc(vals, func(a, b Trait) bool { return compareTraits(a, b) == 0 })
	if vals == nil {
		vals = []Trait{} // as the dictionaries: none is an empty list, also in JSON
	}
	return vals[:min(len(vals), limit)], nil
}

// compareTraits orders traits of one name by type, then value.
func compareTraits(a, b Trait) int {
	if c := cmp.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	ea, eb := traitEntry(a, 0, 0), traitEntry(b, 0, 0)
	return compareEntries(a.Type)(ea, eb)
}

// MinMax returns the earliest and latest generated time of the events
// that match f; ErrNotFound when none does.
func (s *Store) MinMax(ctx context.Context, f *Filter) (time.Time, time.Time, error) {
	match, args, err := s.matching(ctx, f)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var r struct {
		Min sql.NullInt64 `db:"min"`
		Max sql.NullInt64 `db:"max"`
	}
	if err := s.getRead(ctx, &r, `SELECT MIN(e.generated) AS min, MAX(e.generated) AS max FROM `+match, args...); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("min and max of generated in namespace %q: %w", s.ns, err)
	}
	if !r.Min.Valid {
		return time.Time{}, time.Time{}, fmt.Errorf("min and max of generated in namespace %q: no event matches: %w", s.ns, ErrNotFound)
	}
	return time.UnixMicro(r.Min.Int64).UTC(), time.UnixMicro(r.Max.Int64).UTC(), nil
}

// Activity says when events of one type last happened.
type Activity struct {
	EventType string    `json:"event_type"`
	Last      time.Time `json:"last"`
	// Active is true when an event of the type was generated within the
	// window asked for.
	Active bool `json:"active"`
}

// Watchdog reports, per event type, whether an event was generated in the
// last window (up to now by the store's clock), ordered by type.
func (s *Store) Watchdog(ctx context.Context, window time.Duration) ([]Activity, error) {
	if window <= 0 {
		return nil, fmt.Errorf("%w: watchdog window %s: want a positive duration", ErrInvalid, window)
	}
	var rows []struct {
		EventType string        `db:"event_type"`
		Last      sql.NullInt64 `db:"last"`
	}
	err := s.selectRead(ctx, &rows, `SELECT t.event_type,
		(SELECT MAX(e.generated) FROM event e WHERE e.namespace = t.namespace AND e.event_type = t.event_type) AS last
		FROM event_type t WHERE t.namespace = ? ORDER BY t.event_type`, s.ns)
	if err != nil {
		return nil, fmt.Errorf("watchdog of namespace %q: %w", s.ns, err)
	}
	since := s.now().Add(-window)
	out := make([]Activity, 0, len(rows))
	for _, r := range rows {
		if !r.Last.Valid {
			continue
		}
		last := time.UnixMicro(r.Last.Int64).UTC()
		out = append(out, Activity{EventType: r.EventType, Last: last, Active: !last.Before(since)})
	}
	return out, nil
}

// TraitValues returns up to limit distinct values of one trait among the
// events of one type (limit zero means LimitDefault); an unknown type or
// trait has an empty list.
func (s *Store) TraitValues(ctx context.Context, eventType, name string, limit int) ([]Trait, error) {
	if eventType == "" {
		return nil, fmt.Errorf("%w: trait values: no event type", ErrInvalid)
	}
	return s.Distinct(ctx, &DistinctParams{Filter: Filter{EventType: eventType}, Name: name, Limit: limit})
}

// Expire removes, in every namespace, the events whose expiration time is
// at or before now, in transactions of at most batch events (zero means
// ExpireBatchDefault), and returns how many events and stored value bytes
// went. With dryRun it only counts them. It satisfies the reaper's
// expirer interface.
func (s *Store) Expire(ctx context.Context, now time.Time, batch int, dryRun bool) (rows, bytes int64, err error) {
	if batch < 0 {
		return 0, 0, fmt.Errorf("%w: expire batch %d: want a positive size", ErrInvalid, batch)
	}
	if batch == 0 {
		batch = ExpireBatchDefault
	}
	horizon := now.UTC().UnixMicro()
	size := "length(value)"
	if s.pg {
		size = "octet_length(value)"
	}
	if dryRun {
		var r struct {
			N int64 `db:"n"`
			B int64 `db:"b"`
		}
		if err := s.getRead(ctx, &r, `SELECT COUNT(*) AS n, COALESCE(SUM(`+size+`), 0) AS b FROM event WHERE expires <= ?`, horizon); err != nil {
			return 0, 0, fmt.Errorf("count expired events: %w", err)
		}
		return r.N, r.B, nil
	}
	// Nothing expired: no transaction, so that a run of the reaper with
	// nothing to do moves no count of deletions (which would make every
	// process read its cached trait pages again) and waits for no Record.
	var expired bool
	if err := s.getRead(ctx, &expired, `SELECT EXISTS (SELECT 1 FROM event WHERE expires <= ?)`, horizon); err != nil {
		return 0, 0, fmt.Errorf("expire events before %s: look for expired events: %w", now.UTC().Format(time.RFC3339), err)
	}
	if !expired {
		return 0, 0, nil
	}
	for {
		var (
			n          int
			batchBytes int64
			last       bool
		)
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			ids, size, more, err := s.expireBatch(ctx, tx, horizon, batch)
			if err != nil {
				return err
			}
			n, batchBytes, last = len(ids), size, !more
			s.forget(ids)
			if !last {
				return nil
			}
			// The last batch: the runs whose events have all expired go,
			// and the types left without events.
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait_run WHERE max_expires <= ?`), horizon); err != nil {
				return fmt.Errorf("delete expired trait index runs: %w", err)
			}
			return s.pruneDictionaries(ctx, tx, "")
		})
		if err != nil {
			return rows, bytes, fmt.Errorf("expire events before %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		rows += int64(n)
		bytes += batchBytes
		if s.afterExpireBatch != nil {
			s.afterExpireBatch(n)
		}
		if last {
			return rows, bytes, nil
		}
	}
}

// The statements of expireBatch: $1 is the horizon, $2 the batch size.
const (
	pgExpireBatch = `WITH c AS (SELECT ARRAY(SELECT ctid FROM event WHERE expires <= $1 ORDER BY expires LIMIT $2 + 1) AS a),
			d AS (DELETE FROM event WHERE ctid = ANY((SELECT a[1:$2] FROM c)::tid[]) AND expires <= $1 RETURNING id, octet_length(value) AS size)
		SELECT COALESCE(array_agg(id), '{}'), COALESCE(sum(size), 0), (SELECT cardinality(a) FROM c) > $2 FROM d`
	sqliteExpireBatch = `DELETE FROM event WHERE id IN (SELECT id FROM event WHERE expires <= ?1 ORDER BY expires LIMIT ?2)
		RETURNING id, length(value)`
)

// expireBatch deletes, in tx, the batch events that expire first at or
// before horizon, and returns their ids and stored value bytes, and
// whether more have expired.
//
// One statement selects and deletes them. On PostgreSQL it deletes by
// tuple address: deleting the list of ids looks each up in the primary
// key, which took 2 to 3 times as long. It also sees whether one more
// event has expired, so that the last batch is not followed by an empty
// one, whose scan would step over the dead index entries this one left.
// On SQLite the id is the row's address and deleted entries are gone.
func (s *Store) expireBatch(ctx context.Context, tx *sqlx.Tx, horizon int64, batch int) (ids []int64, bytes int64, more bool, err error) {
	if s.pg {
		var got pq.Int64Array
		err = tx.QueryRowxContext(ctx, pgExpireBatch, horizon, batch).Scan(&got, &bytes, &more)
		if err != nil {
			return nil, 0, false, fmt.Errorf("delete expired events: %w", err)
		}
		return got, bytes, more, nil
	}
	rows, err := tx.QueryContext(ctx, sqliteExpireBatch, horizon, batch)
	if err != nil {
		return nil, 0, false, fmt.Errorf("delete expired events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, size int64
		if err := rows.Scan(&id, &size); err != nil {
			return nil, 0, false, fmt.Errorf("delete expired events: %w", err)
		}
		ids = append(ids, id)
		bytes += size
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, fmt.Errorf("delete expired events: %w", err)
	}
	if len(ids) == batch {
		if err := tx.GetContext(ctx, &more, `SELECT EXISTS (SELECT 1 FROM event WHERE expires <= ?)`, horizon); err != nil {
			return nil, 0, false, fmt.Errorf("look for more expired events: %w", err)
		}
	}
	return ids, bytes, more, nil
}
