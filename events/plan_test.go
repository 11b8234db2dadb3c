package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/internal/pgtest"
)

// planRows sums, over the nodes of an EXPLAIN (ANALYZE, FORMAT JSON) plan
// that read relation rel, the rows they returned in all their loops.
func planRows(node map[string]any, rel string) float64 {
	var n float64
	if node["Relation Name"] == rel {
		n += node["Actual Rows"].(float64) * node["Actual Loops"].(float64)
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			n += planRows(k.(map[string]any), rel)
		}
	}
	return n
}

// openOnPostgres opens an event store with cfg over a fresh PostgreSQL
// database.
func openOnPostgres(t *testing.T, cfg *Config) *Store {
	t.Helper()
	return openOn(t, pgtest.NewDatabase(t), cfg)
}

// explain returns PostgreSQL's plan of query through q, one line a node.
func explain(t *testing.T, q sqlx.QueryerContext, query string, args ...any) string {
	t.Helper()
	var plan []string
	require.NoError(t, sqlx.SelectContext(context.Background(), q, &plan, `EXPLAIN `+query, args...))
	return strings.Join(plan, "\n")
}

// hosts returns sample(400) with 20 hosts, 20 events each.
func hosts() []*Event {
	evs := sample(400)
	for i, e := range evs {
		e.Traits[0].Value = fmt.Sprintf("h%d", i%20)
	}
	return evs
}

// checkTraitPlan runs a page query with an equality and a range trait
// filter over the events of hosts() and checks that the trait index
// yields exactly the 15 events that pass both, and that the statements
// that read them start from those ids and read no other event row.
func checkTraitPlan(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	q := &Query{Filter: Filter{Traits: []TraitFilter{
		{Name: "host", Value: "h3"},
		{Name: "count", Op: OpGt, Type: TypeInteger, Value: int64(100)},
	}}}
	got, err := s.Query(ctx, q)
	require.NoError(t, err)
	require.Len(t, got, 15, "h3 is on events 3, 23, … 383; 15 of them after 100")
	n, err := s.Count(ctx, &q.Filter)
	require.NoError(t, err)
	require.EqualValues(t, 15, n)

	p, err := s.page(ctx, q)
	require.NoError(t, err)
	it, err := s.candidates(ctx, p.traits, math.MinInt64, math.MaxInt64, false)
	require.NoError(t, err)
	ids := it.ids()
	require.Len(t, ids, 15, "the index answers both trait filters: no candidate fails one")
	from, arg := s.fromIDs(ids)
	query, args := p.sql(idEventColumns, from, arg, p.limit)
	checkFirstStep(t, s, query, args, sqliteIDsFirst, 15)
	// Count, Delete, Distinct and MinMax read the same events.
	match, args, err := s.matching(ctx, &q.Filter)
	require.NoError(t, err)
	checkFirstStep(t, s, `SELECT COUNT(*) FROM `+match, args, sqliteIDsFirst, 15)
}

// sqliteIDsFirst starts SQLite's plan of a statement over candidate ids.
const sqliteIDsFirst = "SCAN json_each VIRTUAL TABLE"

// checkFirstStep checks on SQLite that the plan of query starts with
// sqlite (the outermost loop), on PostgreSQL that it reads at most events
// rows of the event table; it returns PostgreSQL's plan.
func checkFirstStep(t *testing.T, s *Store, query string, args []any, sqlite string, events float64) map[string]any {
	t.Helper()
	ctx := context.Background()
	query = s.db.Rebind(query)
	if !s.pg {
		// SQLite's plan lists the loops outermost first.
		var plan []string
		rows, err := s.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		require.NotEmpty(t, plan)
		require.True(t, strings.HasPrefix(plan[0], sqlite), "%s\nstarts with %q: %q", query, sqlite, plan)
		return nil
	}
	var raw string
	require.NoError(t, s.db.QueryRowContext(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+query, args...).Scan(&raw))
	var plan []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal([]byte(raw), &plan))
	require.LessOrEqual(t, planRows(plan[0].Plan, "event"), events,
		"%s\nreads only the events that match, not the namespace's 400: %s", query, raw)
	return plan[0].Plan
}

// TestTraitQueryPlan checks that a page of events with trait filters is
// answered by the trait index and reads only its events' rows, whatever
// the planner's statistics say: none yet (a new database), or taken while
// the namespace was empty (a new namespace, or one that filled up since
// the last ANALYZE), which makes the namespace look rare.
func TestTraitQueryPlan(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(t *testing.T, cfg *Config) (*Store, *bundle)) {
		t.Run("NoStatistics", func(t *testing.T) {
			s, _ := open(t, nil)
			record(t, s, hosts())
			checkTraitPlan(t, s)
		})
		t.Run("NamespaceNewerThanStatistics", func(t *testing.T) {
			ctx := context.Background()
			crowd, b := open(t, &Config{Namespace: "crowd"})
			record(t, crowd, sample(400))
			_, err := crowd.db.ExecContext(ctx, `ANALYZE`)
			require.NoError(t, err)
			fresh, err := Open(ctx, b.space, &Config{Namespace: "fresh", Clock: b.clock.Now})
			require.NoError(t, err)
			record(t, fresh, hosts())
			checkTraitPlan(t, fresh)
		})
	})
}

// TestTypeQueryPlan checks that a page of one event type in a time window
// reads that type's events only, with no statistics (SQLite never has
// any unless ANALYZE runs).
func TestTypeQueryPlan(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func(t *testing.T, cfg *Config) (*Store, *bundle)) {
		ctx := context.Background()
		s, _ := open(t, nil)
		evs := sample(400)
		for i, e := range evs {
			e.EventType = fmt.Sprintf("type.%d", i%10)
		}
		record(t, s, evs)
		// Events 60 … 179 fall in the window; 12 of them are of type.3.
		q := &Query{Filter: Filter{EventType: "type.3", Start: base.Add(time.Hour), End: base.Add(3 * time.Hour)}}
		got, err := s.Query(ctx, q)
		require.NoError(t, err)
		require.Len(t, got, 12)
		p, err := s.page(ctx, q)
		require.NoError(t, err)
		query, args := p.sql(idEventColumns, s.fromAll(&q.Filter), nil, p.limit)
		checkFirstStep(t, s, query, args, "SEARCH e USING INDEX event_type_generated", 12)
		// Read ids first, the page comes from the index alone on SQLite.
		query, args = p.sql(idColumn, s.fromAll(&q.Filter), nil, p.limit)
		checkFirstStep(t, s, query, args, "SEARCH e USING COVERING INDEX event_type_generated", 12)
		n, err := s.Count(ctx, &q.Filter)
		require.NoError(t, err)
		require.EqualValues(t, 12, n)
	})
}

// TestRunListingPlanOnPostgres checks that PostgreSQL lists the trait
// index runs with a plain index scan even when its statistics predate a
// churn of merges (which leaves dead rows): a bitmap scan would visit the
// page of every dead row on every listing, an index scan skips them after
// it met them once. That takes index entries unique to one run (schema
// version 6): the entries of a key shared by many runs are deduplicated
// into lists that mix live and dead runs, which a scan cannot mark dead.
func TestRunListingPlanOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A cluster of its own: a snapshot's horizon spans every database of
	// a cluster, so another test's open transaction would keep the dead
	// runs from being marked.
	s := openOn(t, pgtest.NewCluster(t).NewDatabase(t), nil)
	// No autovacuum: only the listings themselves may clear the way.
	_, err := s.db.ExecContext(ctx, `ALTER TABLE event_trait_run SET (autovacuum_enabled = off)`)
	require.NoError(t, err)
	_, err = s.db.ExecContext(ctx, `INSERT INTO event_trait_run (namespace, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data)
		SELECT $1, 'n' || (g % 8), 1, g, g, g, 0, 0, 0, '\x00' FROM generate_series(1, 20000) g`, s.ns)
	require.NoError(t, err)
	_, err = s.db.ExecContext(ctx, `ANALYZE event_trait_run`)
	require.NoError(t, err)
	// Live runs among the dead ones all along, as merges leave them.
	_, err = s.db.ExecContext(ctx, `DELETE FROM event_trait_run WHERE entries % 500 NOT IN (1, 2)`)
	require.NoError(t, err)

	metas, _, err := s.listRuns(ctx, []string{"n1", "n2"})
	require.NoError(t, err)
	require.Len(t, metas, 40)

	// The functions' own settings, applied to their statements.
	for fn, query := range map[string]string{
		"strata_event_runs":       `SELECT r.id, r.name, r.type FROM event_trait_run r WHERE r.namespace = $1 AND r.name = ANY ($2)`,
		"strata_event_merge_runs": `SELECT r.id FROM event_trait_run r WHERE r.namespace = $1 AND r.entries < $2 ORDER BY r.id`,
	} {
		tx, err := s.db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		var settings []string
		require.NoError(t, tx.GetContext(ctx, pq.Array(&settings), `SELECT proconfig FROM pg_proc WHERE proname = $1`, fn))
		for _, kv := range settings {
			name, value, _ := strings.Cut(kv, "=")
			_, err := tx.ExecContext(ctx, `SELECT set_config($1, $2, true)`, name, value)
			require.NoError(t, err)
		}
		var args []any
		if fn == "strata_event_runs" {
			args = []any{s.ns, pq.StringArray{"n1", "n2"}}
		} else {
			args = []any{s.ns, int64(32768)}
		}
		joined := explain(t, tx, query, args...)
		require.Regexp(t, `Index (Only )?Scan using event_trait_run`, joined, fn)
		require.NotContains(t, joined, "Bitmap", "%s: %s", fn, joined)
		require.NotContains(t, joined, "Seq Scan", "%s: %s", fn, joined)
		// The first listing meets the dead runs and marks them; the next
		// reads a few pages.
		explain(t, tx, "(ANALYZE) "+query, args...)
		again := explain(t, tx, "(ANALYZE, BUFFERS) "+query, args...)
		require.NoError(t, tx.Rollback())
		require.Less(t, buffers(t, again), 100, "%s: %s", fn, again)
	}
}

// buffers returns the shared buffers the top node of an EXPLAIN (ANALYZE,
// BUFFERS) plan hit and read.
func buffers(t *testing.T, plan string) int {
	t.Helper()
	m := regexp.MustCompile(`Buffers: shared hit=(\d+)(?: read=(\d+))?`).FindStringSubmatch(plan)
	require.NotNil(t, m, plan)
	hit, _ := strconv.Atoi(m[1])
	read, _ := strconv.Atoi(m[2])
	return hit + read
}

// TestExpirePlanOnPostgres checks the plans of expiry on PostgreSQL with
// statistics that predate the events, as right after they were recorded:
// a batch is deleted by tuple address, not by a lookup of each id, and
// the event types are pruned by a probe of each type's time index, not by
// reading every event.
func TestExpirePlanOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOnPostgres(t, &Config{TTL: time.Hour})
	_, err := s.db.ExecContext(ctx, `ANALYZE event; ANALYZE event_type`)
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		record(t, s, hosts())
		s = s.WithNamespace(fmt.Sprintf("ns%d", i))
	}
	// EXPLAIN alone plans the deletes without running them.
	plan := explain(t, s.db, pgExpireBatch, base.Add(2*time.Hour).UnixMicro(), 100)
	require.Contains(t, plan, "Tid Scan on event", plan)
	for _, no := range []string{"Seq Scan", "Join", "Nested Loop", "event_pkey"} {
		require.NotContains(t, plan, no, plan)
	}
	plan = explain(t, s.db, `DELETE FROM event_type WHERE `+withoutEvents)
	require.Contains(t, plan, "Scan Backward using event_type_generated on event e", plan)
	require.NotContains(t, plan, "Seq Scan on event e", plan)
}

// TestStatisticsKeptOnPostgres checks that a table loaded faster than
// autovacuum's round has statistics, also for a namespace added later,
// and that they make a page of one event type in a time window use the
// index of types: without them it walks the index of all types.
func TestStatisticsKeptOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOnPostgres(t, nil)
	// Only the store analyzes the table in this test.
	_, err := s.db.ExecContext(ctx, `ALTER TABLE event SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	analyzed := func() float64 { return reltuples(t, s) }
	require.Less(t, analyzed(), 0.0, "a new table has no statistics")
	// 20,000 events: fewer are planned well without statistics.
	changes := map[int]float64{}
	last := analyzed()
	for i := range 200 {
		evs := make([]*Event, 100)
		for j := range evs {
			n := i*100 + j
			evs[j] = &Event{EventType: fmt.Sprintf("type.%d", n%10), Generated: base.Add(time.Duration(n) * time.Second)}
		}
		record(t, s, evs)
		s.index().merges.wait(ctx, statsKey)
		if rows := analyzed(); rows != last {
			changes[(i+1)*100], last = rows, rows
		}
	}
	// Analyzed at 1,000 events, then each time the table doubled.
	require.Equal(t, map[int]float64{1000: 1000, 2000: 2000, 4000: 4000, 8000: 8000, 16000: 16000}, changes)

	typeIndexed := func(s *Store) {
		t.Helper()
		plan := explain(t, s.db, `SELECT e.id FROM event e WHERE e.namespace = $1 AND e.event_type = $2
			AND e.generated >= $3 AND e.generated < $4 ORDER BY e.generated, e.message_id LIMIT 100`,
			s.ns, "type.3", base.Add(time.Hour).UnixMicro(), base.Add(2*time.Hour).UnixMicro())
		require.Contains(t, plan, "event_type_generated", plan)
	}
	typeIndexed(s)

	// A namespace the statistics do not know is analyzed for after its
	// first 1,000 events, although the table grew by far less than it
	// holds.
	other := s.WithNamespace("other")
	for i := range 10 {
		evs := make([]*Event, 100)
		for j := range evs {
			n := i*100 + j
			evs[j] = &Event{EventType: fmt.Sprintf("type.%d", n%10), Generated: base.Add(time.Duration(n) * 20 * time.Second)}
		}
		record(t, other, evs)
		s.index().merges.wait(ctx, statsKey)
		if i < 9 {
			require.Equal(t, 16000.0, analyzed())
		}
	}
	typeIndexed(other)
	require.Equal(t, 21000.0, analyzed())
}

// TestStatisticsRefreshedInTheBackground checks that on PostgreSQL the
// Record that makes the event table's statistics due returns without
// waiting for their refresh, and that the refresh then analyzes the table.
func TestStatisticsRefreshedInTheBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openOn(t, pgtest.NewDatabase(t), nil)
	_, err := s.db.ExecContext(ctx, `ALTER TABLE event SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	require.Negative(t, reltuples(t, s), "the new table was analyzed")

	started, release := make(chan struct{}), make(chan struct{})
	s.beforeAnalyze = func(context.Context) {
		close(started)
		<-release
	}
	recorded := make(chan error, 1)
	go func() {
		evs := sampleAs("s", statsCheckEvery)
		for i := 0; i < len(evs); i += 100 {
			if _, err := s.Record(ctx, evs[i:i+100]); err != nil {
				recorded <- err
				return
			}
		}
		recorded <- nil
	}()
	select {
	case err := <-recorded:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the Record waited for the statistics")
	}
	<-started
	require.Negative(t, reltuples(t, s), "analyzed before the refresh ran")
	close(release)
	s.index().merges.wait(ctx, statsKey)
	require.InDelta(t, statsCheckEvery, reltuples(t, s), 1, "the refresh analyzed the event table")
}

// reltuples is the event table's row count as of its last analyze: -1
// before the first.
func reltuples(t *testing.T, s *Store) float64 {
	t.Helper()
	var n float64
	require.NoError(t, s.db.GetContext(context.Background(), &n, `SELECT reltuples FROM pg_class WHERE oid = 'event'::regclass`))
	return n
}
