package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Runs are merged in tiers, as in a log-structured merge tree: a run's
// tier is floor(log8(entries)), and when runFanout runs of one trait name
// and type share a tier, the oldest of them are merged into one, without
// the entries of events deleted since. A run of runFinal entries or more
// is not merged again, so a merge never rewrites more than runFanout ×
// runFinal entries; a trait keeps about runFanout runs per tier below
// that plus one per runFinal entries: about 40 at 1,000,000 events.
const (
	runFanout = 8
	runFinal  = 32768
)

// runTier is the tier of a run of n entries.
func runTier(n int64) int {
	t := 0
	for ; n >= runFanout; n /= runFanout {
		t++
	}
	return t
}

// errMerged says another process merged or dropped a run first.
var errMerged = errors.New("events: trait index runs changed during the merge")

// runBacklog is how many batches a namespace may record while its merge
// runs: the Record that reaches it waits for the merge, so that runs do not
// pile up faster than they are merged.
const runBacklog = 4 * runFanout

// afterRecord counts the batches this process recorded in the namespace
// and, every runFanout batches, starts a merge of its runs in the
// background: a Record returns once its batch has committed, not after
// the merges it made due. One merge runs per namespace at a time. A
// failed merge loses nothing (the runs stay as they were) and is tried
// again after the next batch.
func (s *Store) afterRecord(ctx context.Context) {
	idx := s.index()
	idx.mu.Lock()
	idx.written[s.ns]++
	n := idx.written[s.ns]
	idx.mu.Unlock()
	if n < runFanout {
		return
	}
	if n >= runBacklog {
		if s.beforeMergeWait != nil {
			s.beforeMergeWait()
		}
		idx.merges.wait(ctx, s.ns)
	}
	idx.merges.start(s.ns, func(ctx context.Context) { s.mergeDue(ctx, idx) })
}

// mergeDue compacts the namespace and takes the batches counted before
// it off the count.
func (s *Store) mergeDue(ctx context.Context, idx *indexState) {
	idx.mu.Lock()
	n := idx.written[s.ns]
	idx.mu.Unlock()
	if s.beforeMerge != nil {
		s.beforeMerge(ctx)
	}
	if err := s.compact(ctx); err == nil || errors.Is(err, errMerged) {
		idx.mu.Lock()
		idx.written[s.ns] = max(0, idx.written[s.ns]-n)
		idx.mu.Unlock()
	}
}

// merger runs the background jobs of one datasource: the merges, at most
// one per namespace, and the refresh of the statistics (statsKey).
// Closing it cancels them and waits for them to end; a merge cut short
// changes nothing.
type merger struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// running holds a channel per namespace being merged, closed when the
	// merge ends.
	running map[string]chan struct{}
	closed  bool
}

func newMerger() *merger {
	ctx, cancel := context.WithCancel(context.Background())
	return &merger{ctx: ctx, cancel: cancel, running: map[string]chan struct{}{}}
}

// start runs fn for ns in a goroutine unless one runs for ns already or
// the merger is closed.
func (m *merger) start(ns string, fn func(context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.running[ns] != nil {
		return
	}
	done := make(chan struct{})
	m.running[ns] = done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		fn(m.ctx)
		m.mu.Lock()
		delete(m.running, ns)
		m.mu.Unlock()
	}()
}

// wait returns once no merge runs for ns, or when ctx is done.
func (m *merger) wait(ctx context.Context, ns string) {
	m.mu.Lock()
	done := m.running[ns]
	m.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// close cancels the running merges, waits for them and starts no more.
func (m *merger) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// compact merges the namespace's runs while some tier of a trait holds
// runFanout of them.
func (s *Store) compact(ctx context.Context) error {
	for range 8 {
		var metas []runMeta
		list := `SELECT ` + runMetaColumns + ` FROM event_trait_run WHERE namespace = ? AND entries < ? ORDER BY id`
		if s.pg {
			// The function pins a plain index scan (migration 0004).
			list = `SELECT ` + runMetaColumns + ` FROM strata_event_merge_runs(?, ?)`
		}
		if err := s.selectRead(ctx, &metas, list, s.ns, s.runFinal); err != nil {
			return fmt.Errorf("list trait index runs to merge: %w", err)
		}
		type tierKey struct {
			name string
			typ  int64
			tier int
		}
		tiers := map[tierKey][]runMeta{}
		var groups [][]runMeta
		for _, m := range metas {
			k := tierKey{m.Name, m.Type, runTier(m.Entries)}
			tiers[k] = append(tiers[k], m)
			if len(tiers[k]) == runFanout {
				groups = append(groups, tiers[k])
			}
		}
		if len(groups) == 0 {
			return nil
		}
		if err := s.merge(ctx, groups); err != nil {
			return fmt.Errorf("merge trait index runs of namespace %q: %w", s.ns, err)
		}
	}
	return nil
}

// merge replaces each group of runs by one run, in one transaction. The
// runs are read and merged before it, so that the transaction only swaps
// them: on SQLite it holds the one writer connection, which Records wait
// for. If another process merged or dropped one of the runs meanwhile,
// nothing changes (errMerged).
func (s *Store) merge(ctx context.Context, groups [][]runMeta) error {
	var ids []int64
	lo, hi := groups[0][0].MinID, groups[0][0].MaxID
	final := false
	for _, g := range groups {
		var n int64
		for _, m := range g {
			ids = append(ids, m.ID)
			lo, hi = min(lo, m.MinID), max(hi, m.MaxID)
			n += m.Entries
		}
		final = final || n >= s.runFinal
	}
	runs, err := s.runsByID(ctx, s.rdb, ids)
	if err != nil {
		return err
	}
	if len(runs) < len(ids) {
		return errMerged
	}
	// A run about to become final drops the entries of deleted events;
	// smaller ones keep them until then (readers check every candidate's
	// row, and a run left without events is dropped). An event deleted
	// after this read keeps its entry, which matches nothing.
	var live []int64
	if final {
		if err := s.selectRead(ctx, &live, `SELECT id FROM event WHERE id BETWEEN ? AND ? AND namespace = ? ORDER BY id`, lo, hi, s.ns); err != nil {
			return fmt.Errorf("read the ids of live events: %w", err)
		}
	}
	type mergedGroup struct {
		name    string
		typ     TraitType
		entries []entry
		maxExp  int64
	}
	var todo []mergedGroup
	for _, g := range groups {
		lists := make([][]entry, len(g))
		maxExp := g[0].MaxExp
		for i, m := range g {
			r := runs[m.ID]
			for j := range r.len() {
				if _, ok := slices.BinarySearch(live, r.ids[j]); ok || !final {
					lists[i] = append(lists[i], r.entry(j))
				}
			}
			maxExp = max(maxExp, m.MaxExp)
		}
		typ := TraitType(g[0].Type)
		if entries := mergeSorted(lists, compareEntries(typ)); len(entries) > 0 {
			todo = append(todo, mergedGroup{g[0].Name, typ, entries, maxExp})
		}
	}
	var merged []newRun
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, runIDs, err := s.allocIDs(ctx, tx, 0, len(todo))
		if err != nil {
			return err
		}
		for i, m := range todo {
			merged = append(merged, buildRun(runIDs[i], m.name, m.typ, m.entries, m.maxExp))
		}
		list, arg := s.idList(ids)
		res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait_run WHERE id IN (SELECT c.id FROM `+list+`)`), arg)
		if err != nil {
			return fmt.Errorf("delete merged runs: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
			return errMerged
		}
		if err := s.insertRuns(ctx, tx, s.ns, merged); err != nil {
			return err
		}
		if s.beforeMergeCommit != nil {
			s.beforeMergeCommit()
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.index().runs.drop(ids)
	s.cacheRuns(merged)
	return nil
}

// mergeSorted merges lists sorted by cmp into one sorted list, pairwise.
func mergeSorted(lists [][]entry, cmp func(a, b entry) int) []entry {
	if len(lists) == 0 {
		return nil
	}
	for len(lists) > 1 {
		next := lists[:0:0]
		for i := 0; i < len(lists); i += 2 {
			if i+1 == len(lists) {
				next = append(next, lists[i])
				break
			}
			a, b := lists[i], lists[i+1]
			out := make([]entry, 0, len(a)+len(b))
			for len(a) > 0 && len(b) > 0 {
				if cmp(b[0], a[0]) < 0 {
					out, b = append(out, b[0]), b[1:]
				} else {
					out, a = append(out, a[0]), a[1:]
				}
			}
			next = append(next, append(append(out, a...), b...))
		}
		lists = next
	}
	return lists[0]
}

// allocIDs takes events new event ids and runs new run ids, in tx: from
// blocks of the sequences on PostgreSQL (see idBlocks), from the event_seq
// counters on SQLite. Ids are never reused, so that no index run names the
// id of a deleted event for a new one.
func (s *Store) allocIDs(ctx context.Context, tx *sqlx.Tx, events, runs int) (evIDs, runIDs []int64, err error) {
	if s.pg {
		idx := s.index()
		if evIDs, err = idx.eventIDs.take(ctx, tx, "event_id_seq", events); err != nil {
			return nil, nil, fmt.Errorf("allocate ids: %w", err)
		}
		if runIDs, err = idx.runIDs.take(ctx, tx, "event_trait_run_id_seq", runs); err != nil {
			return nil, nil, fmt.Errorf("allocate ids: %w", err)
		}
		return evIDs, runIDs, nil
	}
	evIDs, runIDs, _, err = s.allocIDsSQLite(ctx, tx, events, runs)
	return evIDs, runIDs, err
}

// idBlocks hands out the ids of blocks a process took from a PostgreSQL
// sequence. The sequence steps by the block's size (1024, migration 0011),
// so one nextval returning v makes [v, v+step) this process's alone: a
// Record takes its ids without a round trip, but for one batch in ten.
type idBlocks struct {
	mu        sync.Mutex
	next, end int64
}

// take returns n ids of seq, taking new blocks with q as needed. A block
// is as long as the sequence's step, read with each nextval.
func (b *idBlocks) take(ctx context.Context, q sqlx.QueryerContext, seq string, n int) ([]int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int64, 0, n)
	for len(out) < n {
		if b.next == b.end {
			var v, step int64
			if err := q.QueryRowxContext(ctx, `SELECT nextval($1::regclass), seqincrement FROM pg_sequence WHERE seqrelid = $1::regclass`, seq).Scan(&v, &step); err != nil {
				return nil, fmt.Errorf("take a block of %s: %w", seq, err)
			}
			b.next, b.end = v, v+max(step, 1)
		}
		for ; len(out) < n && b.next < b.end; b.next++ {
			out = append(out, b.next)
		}
	}
	return out, nil
}

// allocIDsSQLite is allocIDs on SQLite; it also returns the count of
// deletions from the event dictionaries, read in the same statement.
func (s *Store) allocIDsSQLite(ctx context.Context, tx *sqlx.Tx, events, runs int) (evIDs, runIDs []int64, dictDeletions int64, err error) {
	var lastEv, lastRun int64
	if err := tx.QueryRowContext(ctx, `UPDATE event_seq SET events = events + ?, runs = runs + ? RETURNING events, runs, dict_deletions`, events, runs).Scan(&lastEv, &lastRun, &dictDeletions); err != nil {
		return nil, nil, 0, fmt.Errorf("allocate ids: %w", err)
	}
	return idsUpTo(lastEv, events), idsUpTo(lastRun, runs), dictDeletions, nil
}

// idsUpTo returns the n ids that end with last.
func idsUpTo(last int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = last - int64(n) + 1 + int64(i)
	}
	return ids
}

// upgradeTraitIndex moves the rows of the version-2 trait index
// (event_trait, one row per trait) of every namespace into runs, the
// traits of up to 1,000 events per transaction, and deletes them. A
// database that never had them costs one read per process.
func (s *Store) upgradeTraitIndex(ctx context.Context) error {
	idx := s.index()
	if idx.upgraded.Load() {
		return nil
	}
	for {
		var done int
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			if s.pg {
				// One process at a time moves the rows.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('strata.events.upgrade'))`); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, `SELECT DISTINCT event_id FROM event_trait ORDER BY event_id LIMIT 1000`); err != nil {
				return fmt.Errorf("read event ids: %w", err)
			}
			if len(ids) == 0 {
				return nil
			}
			lo, hi := ids[0], ids[len(ids)-1]
			var rows []struct {
				EventID   int64           `db:"event_id"`
				Name      string          `db:"name"`
				Type      int64           `db:"type"`
				VString   sql.NullString  `db:"v_string"`
				VInt      sql.NullInt64   `db:"v_int"`
				VFloat    sql.NullFloat64 `db:"v_float"`
				Namespace string          `db:"namespace"`
				Generated int64           `db:"generated"`
				Expires   int64           `db:"expires"`
			}
			if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT t.event_id, t.name, t.type, t.v_string, t.v_int, t.v_float, e.namespace, e.generated, e.expires
				FROM event_trait t JOIN event e ON e.id = t.event_id WHERE t.event_id BETWEEN ? AND ?`), lo, hi); err != nil {
				return fmt.Errorf("read trait rows: %w", err)
			}
			var namespaces []string
			builders := map[string]*runBuilder{}
			for _, r := range rows {
				b := builders[r.Namespace]
				if b == nil {
					b = &runBuilder{}
					builders[r.Namespace] = b
					namespaces = append(namespaces, r.Namespace)
				}
				b.add(runKey{r.Name, TraitType(r.Type)}, entry{s: r.VString.String, n: r.VInt.Int64, f: r.VFloat.Float64, gen: r.Generated, id: r.EventID}, r.Expires)
			}
			for _, ns := range namespaces {
				b := builders[ns]
				_, runIDs, err := s.allocIDs(ctx, tx, 0, len(b.keys))
				if err != nil {
					return err
				}
				if err := s.insertRuns(ctx, tx, ns, b.build(runIDs)); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait WHERE event_id BETWEEN ? AND ?`), lo, hi); err != nil {
				return fmt.Errorf("delete moved trait rows: %w", err)
			}
			done = len(ids)
			return nil
		})
		if err != nil {
			return fmt.Errorf("move the trait index rows of schema version 2 into runs: %w", err)
		}
		if done == 0 {
			idx.upgraded.Store(true)
			return nil
		}
	}
}
