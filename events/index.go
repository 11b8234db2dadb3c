package events

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The trait index is a set of immutable runs per (namespace, trait name,
// type), see run. A query lists the runs of its traits' names (one small
// read), decodes the ones its process has not cached yet, and answers
// every trait filter from them: the most selective filter's matches, in
// generated order, are the candidates, and each candidate's other traits
// are looked up by event id in their runs. The candidates' event rows are
// then read by id, with the filters that are not on traits.

// IndexCacheDefault is how many bytes of decoded trait index runs a
// process keeps per database when Config.IndexCacheBytes is zero.
const IndexCacheDefault = 256 << 20

// indexState is what the processes' stores over one database share.
type indexState struct {
	// runs caches decoded runs, events decoded events.
	runs   clockCache[*run]
	events eventCache
	mu     sync.Mutex
	// written counts the batches recorded per namespace since its last
	// compaction; merges runs the compactions.
	written map[string]int
	merges  *merger
	// listings are the run listings of cachedListRuns, by namespace and
	// trait names.
	listings map[string]listing
	// upgraded is set once this process has moved the database's
	// version-2 trait index rows into runs (upgradeTraitIndex).
	upgraded atomic.Bool
	// dict caches the dictionaries' listings (PostgreSQL only); dictSeen
	// the dictionary rows a Record need not write.
	dict     dictCache
	dictSeen seenDictionaries
	// eventIDs and runIDs hand out the ids of the blocks this process took
	// from the sequences (PostgreSQL only).
	eventIDs, runIDs idBlocks
	// after holds what runs once a transaction has ended (afterTx).
	after map[*sqlx.Tx][]func()
	// sinceAnalyze counts the events this process recorded since it last
	// analyzed the event table, nextStatsCheck when keepStatistics looks
	// again, recordedIn the events it recorded per namespace until it
	// analyzed for that namespace (then -1; PostgreSQL only).
	sinceAnalyze, nextStatsCheck int64
	recordedIn                   map[string]int64
}

// afterTx registers fn to run once tx has ended, committed or not (inTx
// runs it).
func (idx *indexState) afterTx(tx *sqlx.Tx, fn func()) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.after == nil {
		idx.after = map[*sqlx.Tx][]func(){}
	}
	idx.after[tx] = append(idx.after[tx], fn)
}

// runAfterTx runs what was registered for tx.
func (idx *indexState) runAfterTx(tx *sqlx.Tx) {
	idx.mu.Lock()
	fns := idx.after[tx]
	delete(idx.after, tx)
	idx.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

var indexStates sync.Map // *sqlx.DB → *indexState

func (s *Store) index() *indexState {
	if st, ok := indexStates.Load(s.db); ok {
		return st.(*indexState)
	}
	st := &indexState{written: map[string]int{}, listings: map[string]listing{}, merges: newMerger()}
	st.runs.max = s.indexCache
	st.events.max = s.eventCache
	got, loaded := indexStates.LoadOrStore(s.db, st)
	if loaded {
		st.merges.close()
	} else {
		// Released with the datasource, once its merges have stopped.
		db := s.db
		s.closer.OnClose(func() {
			st.merges.close()
			indexStates.CompareAndDelete(db, st)
		})
	}
	return got.(*indexState)
}

// runMeta is a run as listed, without its data.
type runMeta struct {
	ID      int64  `db:"id"`
	Name    string `db:"name"`
	Type    int64  `db:"type"`
	Entries int64  `db:"entries"`
	MinID   int64  `db:"min_id"`
	MaxID   int64  `db:"max_id"`
	MaxExp  int64  `db:"max_expires"`
}

const runMetaColumns = `id, name, type, entries, min_id, max_id, max_expires`

// traitRuns are the runs of the trait names a statement needs.
type traitRuns map[string][]*run

// of returns the runs of name with type typ.
func (tr traitRuns) of(name string, typ TraitType) []*run {
	var out []*run
	for _, r := range tr[name] {
		if r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

// loadRuns returns the namespace's runs of names, decoded (from the cache
// when it has them), and the count of deletions of its listing (see
// listRuns). A run merged away between the listing and the read of its
// data makes it list again.
func (s *Store) loadRuns(ctx context.Context, names []string) (traitRuns, int64, error) {
	for attempt := 0; ; attempt++ {
		metas, deletions, err := s.cachedListRuns(ctx, names, attempt > 0)
		if err != nil {
			return nil, 0, err
		}
		ids := make([]int64, len(metas))
		for i, m := range metas {
			ids[i] = m.ID
		}
		runs, err := s.runsByID(ctx, s.rdb, ids)
		if err != nil {
			return nil, 0, err
		}
		if len(runs) < len(ids) && attempt < 5 {
			continue
		}
		out := traitRuns{}
		for _, m := range metas {
			if r := runs[m.ID]; r != nil {
				out[m.Name] = append(out[m.Name], r)
			}
		}
		return out, deletions, nil
	}
}

// runsByID returns the runs of ids that exist, from the cache or read
// through q (and cached).
func (s *Store) runsByID(ctx context.Context, q queryer, ids []int64) (map[int64]*run, error) {
	idx := s.index()
	runs := make(map[int64]*run, len(ids))
	var missing []int64
	for _, id := range ids {
		if r, ok := idx.runs.get(id); ok {
			runs[id] = r
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return runs, nil
	}
	got, err := s.readRuns(ctx, q, missing)
	if err != nil {
		return nil, err
	}
	for _, r := range got {
		runs[r.id] = r
	}
	return runs, nil
}

// listing is a listing of runs kept by cachedListRuns.
type listing struct {
	stamp int64
	metas []runMeta
}

// cachedListRuns returns listRuns(names), on SQLite from the process's
// cache while no run has been written since (unless fresh). SQLite commits
// one writer at a time and a run's id is taken in its transaction, so
// every run committed after a listing has a higher id than the newest the
// listing saw. Runs removed since (merged or empty) may still be listed:
// their entries name events that are gone or indexed again, and readers
// check every candidate's row. On PostgreSQL, where transactions commit in
// any order of their ids, it always lists.
func (s *Store) cachedListRuns(ctx context.Context, names []string, fresh bool) ([]runMeta, int64, error) {
	if s.pg {
		return s.listRuns(ctx, names)
	}
	var stamp sql.NullInt64
	if err := s.getRead(ctx, &stamp, `SELECT MAX(id) FROM event_trait_run`); err != nil {
		return nil, 0, fmt.Errorf("list trait index runs: %w", err)
	}
	key := s.ns + "\x00" + strings.Join(names, "\x00")
	idx := s.index()
	idx.mu.Lock()
	l, ok := idx.listings[key]
	idx.mu.Unlock()
	if ok && !fresh && l.stamp == stamp.Int64 {
		return l.metas, noDeletions, nil
	}
	metas, _, err := s.listRuns(ctx, names)
	if err != nil {
		return nil, 0, err
	}
	idx.mu.Lock()
	if len(idx.listings) >= 1024 {
		clear(idx.listings)
	}
	idx.listings[key] = listing{stamp: stamp.Int64, metas: metas}
	idx.mu.Unlock()
	return metas, noDeletions, nil
}

// listRuns lists the namespace's runs of names: id, name and type, read
// by hand (reflection would cost more than the query). On PostgreSQL it
// also returns the count of event deletions in the same snapshot
// (event_deletions, see cachedTraitPage); elsewhere, and when no run is
// listed, deletions is noDeletions.
func (s *Store) listRuns(ctx context.Context, names []string) (metas []runMeta, deletions int64, err error) {
	var rows *sql.Rows
	if s.pg {
		// The function pins a plain index scan (migration 0004).
		rows, err = s.queryRows(ctx, `SELECT (SELECT n FROM event_deletions), id, name, type FROM strata_event_runs(?, ?)`, s.ns, pq.StringArray(names))
	} else {
		args := make([]any, 0, 1+len(names))
		args = append(args, s.ns)
		for _, n := range names {
			args = append(args, n)
		}
		rows, err = s.queryRows(ctx, `SELECT NULL, id, name, type FROM event_trait_run WHERE namespace = ? AND name IN (`+placeholders(len(names), 1)+`)`, args...)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("list trait index runs: %w", err)
	}
	defer rows.Close()
	deletions = noDeletions
	for rows.Next() {
		var (
			m runMeta
			n sql.NullInt64
		)
		if err := rows.Scan(&n, &m.ID, &m.Name, &m.Type); err != nil {
			return nil, 0, fmt.Errorf("list trait index runs: %w", err)
		}
		if n.Valid {
			deletions = n.Int64
		}
		metas = append(metas, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list trait index runs: %w", err)
	}
	return metas, deletions, nil
}

// noDeletions stands for an unknown count of deletions: the pages are read
// from the database.
const noDeletions = -1

// queryer is a database or a transaction.
type queryer interface {
	sqlx.QueryerContext
	Rebind(string) string
}

// readRuns reads and decodes the runs of ids (those that still exist) and
// caches them.
func (s *Store) readRuns(ctx context.Context, q queryer, ids []int64) ([]*run, error) {
	from, arg := s.idList(ids)
	rows, err := q.QueryxContext(ctx, q.Rebind(`SELECT r.id, r.data FROM `+from+` CROSS JOIN event_trait_run r WHERE r.id = c.id`), arg)
	if err != nil {
		return nil, fmt.Errorf("read trait index runs: %w", err)
	}
	defer rows.Close()
	idx := s.index()
	var out []*run
	for rows.Next() {
		var (
			id   int64
			data []byte
		)
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("read trait index runs: %w", err)
		}
		r, err := decodeRun(id, data)
		if err != nil {
			return nil, err
		}
		idx.runs.put(r.id, r, r.memBytes)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read trait index runs: %w", err)
	}
	return out, nil
}

// idList returns a FROM item c(id) over ids and its one argument: unnest
// of an array on PostgreSQL, json_each of a JSON array on SQLite.
func (s *Store) idList(ids []int64) (string, any) {
	if s.pg {
		return `unnest(?::bigint[]) AS c(id)`, pq.Int64Array(ids)
	}
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, ']')
	return `(SELECT value AS id FROM json_each(?)) c`, string(b)
}

// cand is a candidate event: its generated time and id.
type cand struct{ gen, id int64 }

// compare orders candidates by (generated, id).
func (a cand) compare(b cand) int {
	if c := cmp.Compare(a.gen, b.gen); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// source is one run's matches of the driving filter, in (generated, id)
// order: pos lists them, or, when nil, they are the positions [at, end).
type source struct {
	r       *run
	pos     []int
	at, end int
}

func (src *source) head() cand {
	i := src.at
	if src.pos != nil {
		i = src.pos[src.at]
	}
	return cand{src.r.gens[i], src.r.ids[i]}
}

// candHeap merges sources by their heads.
type candHeap struct {
	srcs []*source
	desc bool
}

func (h *candHeap) Len() int { return len(h.srcs) }
func (h *candHeap) Less(i, j int) bool {
	c := h.srcs[i].head().compare(h.srcs[j].head())
	if h.desc {
		return c > 0
	}
	return c < 0
}
func (h *candHeap) Swap(i, j int) { h.srcs[i], h.srcs[j] = h.srcs[j], h.srcs[i] }
func (h *candHeap) Push(x any)    { h.srcs = append(h.srcs, x.(*source)) }
func (h *candHeap) Pop() any {
	x := h.srcs[len(h.srcs)-1]
	h.srcs = h.srcs[:len(h.srcs)-1]
	return x
}

// candIter yields the events whose traits match every trait filter, in
// (generated, id) order, or its reverse.
type candIter struct {
	h      candHeap
	checks []check
	last   cand
	any    bool
	peeked *cand
	// unread are candidates handed back (unread), next in line after
	// peeked.
	unread []cand
	// deletions is the count of event deletions as of the runs' listing,
	// or noDeletions (see listRuns).
	deletions int64
}

// locator finds the run that holds an event's entry, among runs of one
// trait whose id ranges may overlap (concurrent writers on PostgreSQL
// take ids from one sequence).
type locator struct {
	runs []*run // by minID
	// upTo[i] is the largest maxID of runs[:i+1]: a run before i can hold
	// an id only while upTo says so.
	upTo []int64
}

// newLocator returns the locator of runs (which it sorts).
func newLocator(runs []*run) locator {
	slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(a.minID, b.minID) })
	l := locator{runs: runs, upTo: make([]int64, len(runs))}
	for i, r := range runs {
		l.upTo[i] = r.maxID
		if i > 0 {
			l.upTo[i] = max(l.upTo[i], l.upTo[i-1])
		}
	}
	return l
}

// find returns the run and position of event id's entry.
func (l locator) find(id int64) (*run, int, bool) {
	// The last run that starts at or before id, then back while a run
	// can still reach it.
	j := sort.Search(len(l.runs), func(i int) bool { return l.runs[i].minID > id }) - 1
	for ; j >= 0 && l.upTo[j] >= id; j-- {
		if i, found := l.runs[j].find(id); found {
			return l.runs[j], i, true
		}
	}
	return nil, 0, false
}

// check is a filter the candidates are checked against, in its runs.
type check struct {
	f *traitFilter
	locator
}

// newCheck returns the check of f in runs.
func newCheck(f *traitFilter, runs []*run) check {
	return check{f: f, locator: newLocator(runs)}
}

// ok says whether the event id has the trait and it matches.
func (c check) ok(id int64) bool {
	r, i, found := c.find(id)
	return found && r.matchesAt(i, c.f)
}

// next returns the next candidate.
func (it *candIter) next() (cand, bool) {
	if it.peeked != nil {
		c := *it.peeked
		it.peeked = nil
		return c, true
	}
	if len(it.unread) > 0 {
		c := it.unread[0]
		it.unread = it.unread[1:]
		return c, true
	}
	for it.h.Len() > 0 {
		src := it.h.srcs[0]
		c := src.head()
		if src.at++; src.at == src.end {
			heap.Pop(&it.h)
		} else {
			heap.Fix(&it.h, 0)
		}
		// The same entry twice (an index run written twice) is one
		// candidate.
		if it.any && c == it.last {
			continue
		}
		it.last, it.any = c, true
		if it.passes(c.id) {
			return c, true
		}
	}
	return cand{}, false
}

// giveBack makes cs, which next returned last and in that order, the next
// candidates again.
func (it *candIter) giveBack(cs []cand) {
	if it.peeked != nil {
		cs = append(cs, *it.peeked)
		it.peeked = nil
	}
	it.unread = append(cs, it.unread...)
}

// ids returns the ids of every candidate left.
func (it *candIter) ids() []int64 {
	var out []int64
	for c, ok := it.next(); ok; c, ok = it.next() {
		out = append(out, c.id)
	}
	return out
}

// peek returns the next candidate without taking it.
func (it *candIter) peek() (cand, bool) {
	if it.peeked == nil {
		c, ok := it.next()
		if !ok {
			return cand{}, false
		}
		it.peeked = &c
	}
	return *it.peeked, true
}

func (it *candIter) passes(id int64) bool {
	for _, c := range it.checks {
		if !c.ok(id) {
			return false
		}
	}
	return true
}

// timeBounds returns f's time range as inclusive microseconds.
func timeBounds(f *Filter) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !f.Start.IsZero() {
		lo = f.Start.UnixMicro()
	}
	if !f.End.IsZero() {
		hi = f.End.UnixMicro() - 1
	}
	return lo, hi
}

// candidates returns the events of the namespace whose traits match every
// filter of fs and whose generated time is in [lo, hi], in (generated, id)
// order, descending with desc. The filter with the fewest matches drives:
// its matches are merged from its runs, and each is checked against the
// other filters' runs by event id. An event the index names may have been
// deleted since; the caller reads the event rows.
func (s *Store) candidates(ctx context.Context, fs []*traitFilter, lo, hi int64, desc bool) (*candIter, error) {
	var names []string
	for _, f := range fs {
		if !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	all, deletions, err := s.loadRuns(ctx, names)
	if err != nil {
		return nil, err
	}
	inTime := func(r *run) bool { return r.maxGen >= lo && r.minGen <= hi }
	checks := make([]check, len(fs))
	spans := make([][][][2]int, len(fs)) // per filter, per run
	drive, best := 0, math.MaxInt
	for i, f := range fs {
		var runs []*run
		for _, r := range all.of(f.name, f.typ) {
			if inTime(r) {
				runs = append(runs, r)
			}
		}
		checks[i] = newCheck(f, runs)
		n := 0
		spans[i] = make([][][2]int, len(runs))
		for j, r := range checks[i].runs {
			spans[i][j] = r.spans(f)
			for _, sp := range spans[i][j] {
				n += sp[1] - sp[0]
			}
		}
		if n < best {
			drive, best = i, n
		}
	}
	it := &candIter{h: candHeap{desc: desc}, deletions: deletions}
	it.checks = append(checks[:drive:drive], checks[drive+1:]...)
	df := fs[drive]
	for j, r := range checks[drive].runs {
		for _, sp := range spans[drive][j] {
			src := &source{r: r, at: sp[0], end: sp[1]}
			if df.op == OpEq {
				// Equal values are sorted by (generated, id): cut the
				// time range out by binary search.
				gens := r.gens[sp[0]:sp[1]]
				src.at = sp[0] + sort.Search(len(gens), func(i int) bool { return gens[i] >= lo })
				src.end = sp[0] + sort.Search(len(gens), func(i int) bool { return gens[i] > hi })
			} else {
				for i := sp[0]; i < sp[1]; i++ {
					if g := r.gens[i]; g >= lo && g <= hi {
						src.pos = append(src.pos, i)
					}
				}
				slices.SortFunc(src.pos, func(a, b int) int {
					return cand{r.gens[a], r.ids[a]}.compare(cand{r.gens[b], r.ids[b]})
				})
				src.at, src.end = 0, len(src.pos)
			}
			if src.at >= src.end {
				continue
			}
			if desc {
				src.reverse()
			}
			it.h.srcs = append(it.h.srcs, src)
		}
	}
	heap.Init(&it.h)
	return it, nil
}

// reverse makes a source yield its matches last first.
func (src *source) reverse() {
	if src.pos == nil {
		src.pos = make([]int, 0, src.end-src.at)
		for i := src.at; i < src.end; i++ {
			src.pos = append(src.pos, i)
		}
		src.at, src.end = 0, len(src.pos)
	}
	slices.Reverse(src.pos[src.at:src.end])
}

// traitValues returns the values of trait name that the events of ids
// have, from the trait index.
func (s *Store) traitValues(ctx context.Context, name string, ids []int64) ([]Trait, error) {
	all, _, err := s.loadRuns(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	l := newLocator(all[name])
	var out []Trait
	for _, id := range ids {
		if r, i, ok := l.find(id); ok {
			out = append(out, r.trait(name, i))
		}
	}
	return out, nil
}
