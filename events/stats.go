package events

import (
	"context"
	"fmt"
)

// statsCheckEvery is how many events a process records between two looks
// at the event table's statistics (PostgreSQL only).
const statsCheckEvery = 1000

// statsKey names the statistics refresh among the background jobs of the
// merger, whose other keys are namespaces (never empty).
const statsKey = ""

// keepStatistics refreshes PostgreSQL's statistics of the event table once
// the events this process recorded since it last did have doubled it (by
// the row count of its last analyze, and always after the first
// statsCheckEvery events), and once after its first statsCheckEvery events
// in each namespace.
//
// The planner picks an event query's index from them, and autovacuum
// refreshes them only on its next round, up to a minute
// (autovacuum_naptime) after a load, and only once a tenth of the table
// has changed. Until then a table that had none, or a namespace they do
// not know, is planned as if it were empty: a page of one event type in a
// time window then walked the index of all types, reading ten times the
// rows it returned, and took 0.65 ms instead of 0.4. Doubling keeps the
// number of analyzes logarithmic in the table's size; beyond that
// autovacuum's own rule keeps them fresh.
//
// The refresh runs in the background, one at a time per database, so that
// the Record that makes it due returns once its batch has committed: an
// ANALYZE of the event table took 25 ms at 20,000 events, a seventh of the
// time of the bench's 200 batches. A refresh that fails, or that cannot
// start because one runs already, leaves the counts as they were: it is
// due again after the next batch.
func (s *Store) keepStatistics(recorded int) {
	if !s.pg {
		return
	}
	idx := s.index()
	idx.mu.Lock()
	idx.sinceAnalyze += int64(recorded)
	since := idx.sinceAnalyze
	due := since >= statsCheckEvery && since >= idx.nextStatsCheck
	// A namespace's count turns negative once it was analyzed for.
	newNamespace := false
	if n := idx.recordedIn[s.ns]; n >= 0 {
		n += int64(recorded)
		newNamespace = n >= statsCheckEvery
		if idx.recordedIn == nil {
			idx.recordedIn = map[string]int64{}
		}
		idx.recordedIn[s.ns] = n
	}
	idx.mu.Unlock()
	if !due && !newNamespace {
		return
	}
	idx.merges.start(statsKey, func(ctx context.Context) {
		if s.beforeAnalyze != nil {
			s.beforeAnalyze(ctx)
		}
		_ = s.refreshStatistics(ctx, idx, since, newNamespace)
	})
}

// refreshStatistics analyzes the event table if the since events recorded
// have doubled it, or at once for a new namespace, and then takes them
// off the count.
func (s *Store) refreshStatistics(ctx context.Context, idx *indexState, since int64, newNamespace bool) error {
	if !newNamespace {
		var rows float64
		if err := s.db.GetContext(ctx, &rows, `SELECT reltuples FROM pg_class WHERE oid = 'event'::regclass`); err != nil {
			return fmt.Errorf("read the event table's statistics: %w", err)
		}
		if float64(since) < max(rows, statsCheckEvery) {
			idx.mu.Lock()
			idx.nextStatsCheck = idx.sinceAnalyze + statsCheckEvery
			idx.mu.Unlock()
			return nil
		}
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE event`); err != nil {
		return fmt.Errorf("analyze the event table: %w", err)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	idx.sinceAnalyze -= since
	idx.nextStatsCheck = idx.sinceAnalyze + statsCheckEvery
	if newNamespace {
		idx.recordedIn[s.ns] = -1
	}
	return nil
}
