package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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

// afterRecord counts the batches this process recorded in the namespace
// and merges its runs every runFanout batches. A failed merge loses
// nothing (the runs stay as they were) and is tried again by the next
// batch, so it does not fail the Record that triggered it.
func (s *Store) afterRecord(ctx context.Context) {
	idx := s.index()
	idx.mu.Lock()
	idx.written[s.ns]++
	due := idx.written[s.ns] >= runFanout
	idx.mu.Unlock()
	if !due {
		return
	}
	if err := s.compact(ctx); err == nil || errors.Is(err, errMerged) {
		idx.mu.Lock()
		idx.written[s.ns] = 0
		idx.mu.Unlock()
	}
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

// merge replaces each group of runs by one run, in one transaction.
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
	var merged []newRun
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		runs, err := s.runsByID(ctx, tx, ids)
		if err != nil {
			return err
		}
		if len(runs) < len(ids) {
			return errMerged
		}
		// A run about to become final drops the entries of deleted
		// events; smaller ones keep them until then (readers check every
		// candidate's row, and a run left without events is dropped).
		var live []int64
		if final {
			if err := tx.SelectContext(ctx, &live, tx.Rebind(`SELECT id FROM event WHERE id BETWEEN ? AND ? AND namespace = ? ORDER BY id`), lo, hi, s.ns); err != nil {
				return fmt.Errorf("read the ids of live events: %w", err)
			}
		}
		_, runIDs, err := s.allocIDs(ctx, tx, 0, len(groups))
		if err != nil {
			return err
		}
		for gi, g := range groups {
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
				merged = append(merged, buildRun(runIDs[gi], g[0].Name, typ, entries, maxExp))
			}
		}
		list, arg := s.idList(ids)
		res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM event_trait_run WHERE id IN (SELECT c.id FROM `+list+`)`), arg)
		if err != nil {
			return fmt.Errorf("delete merged runs: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
			return errMerged
		}
		return s.insertRuns(ctx, tx, s.ns, merged)
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
// the sequences on PostgreSQL, from the event_seq counters on SQLite. Ids
// are never reused, so that no index run names the id of a deleted event
// for a new one.
func (s *Store) allocIDs(ctx context.Context, tx *sqlx.Tx, events, runs int) (evIDs, runIDs []int64, err error) {
	if s.pg {
		// Prepared by insertPostgres, outside any transaction.
		st, err := inTxStmt(ctx, tx, s.cachedStmt(pgAllocIDs), pgAllocIDs)
		if err != nil {
			return nil, nil, fmt.Errorf("allocate ids: %w", err)
		}
		var ev, rn pq.Int64Array
		if err := st.QueryRowContext(ctx, events, runs).Scan(&ev, &rn); err != nil {
			return nil, nil, fmt.Errorf("allocate ids: %w", err)
		}
		return ev, rn, nil
	}
	var lastEv, lastRun int64
	if err := tx.QueryRowContext(ctx, `UPDATE event_seq SET events = events + ?, runs = runs + ? RETURNING events, runs`, events, runs).Scan(&lastEv, &lastRun); err != nil {
		return nil, nil, fmt.Errorf("allocate ids: %w", err)
	}
	return idsUpTo(lastEv, events), idsUpTo(lastRun, runs), nil
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
