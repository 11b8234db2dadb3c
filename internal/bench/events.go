package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/events"
)

// The event workloads E1–E5 (and E1b) of BENCH.md: 20,000 events of 10
// types spread over 24 h, 8 traits each (3 string, 2 integer, 2 float, 1
// datetime), recorded in batches of 100. Each workload records into its
// own namespace (strata.bench.E…) and deletes it at the end.

func init() {
	Register(Workload{ID: "E1", Description: "record 20,000 events in batches of 100", Run: runE1})
	Register(Workload{ID: "E1b", Description: "record 1,000,000 events, then E2 and E3 at that size (E2b, E3b)", Run: runE1b})
	Register(Workload{ID: "E2", Description: "query a 1 h window of one event type", Run: runE2})
	Register(Workload{ID: "E3", Description: "query a string trait eq AND an integer trait gt, limit 100", Run: runE3})
	Register(Workload{ID: "E4", Description: "list event types; list the trait types of one type", Run: runE4})
	Register(Workload{ID: "E5", Description: "expire the older half of 20,000 events (TTL)", Run: runE5})
}

// evTypes are the ten event types of the E workloads.
var evTypes = []string{
	"compute.instance.create.end", "compute.instance.delete.end", "compute.instance.update",
	"compute.instance.resize.end", "network.create.end", "network.delete.end",
	"volume.create.end", "volume.delete.end", "image.upload", "identity.authenticate",
}

// evStart is when the workloads' 24 hours begin.
var evStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	evBatch = 100
	evSpan  = 24 * time.Hour
	// evHosts is how many values the host trait takes (E3's string eq).
	evHosts = 100
)

// evGen returns event i of n: its time spread evenly over 24 h (computed
// in microseconds: in nanoseconds, 24 h times 1,000,000 events overflows).
func evGen(r *rand.Rand, i, n int) *events.Event {
	gen := evStart.Add(time.Duration(evSpan.Microseconds()*int64(i)/int64(n)) * time.Microsecond)
	host := fmt.Sprintf("host-%d", r.IntN(evHosts))
	user := fmt.Sprintf("user-%d", r.IntN(1000))
	state := []string{"active", "building", "deleted", "error", "paused"}[r.IntN(5)]
	vcpus := int64(r.IntN(1000))
	mem := int64(r.IntN(65536))
	load := float64(r.IntN(10000)) / 100
	disk := float64(r.IntN(100000)) / 10
	launched := gen.Add(-time.Duration(r.IntN(3600)) * time.Second)
	raw, _ := json.Marshal(map[string]any{"host": host, "user": user, "state": state, "vcpus": vcpus, "memory_mb": mem,
		"load": load, "disk_gb": disk, "launched_at": launched.Format(time.RFC3339)})
	return &events.Event{
		EventType: evTypes[i%len(evTypes)],
		Generated: gen,
		Traits: []events.Trait{
			{Name: "host", Type: events.TypeString, Value: host},
			{Name: "user", Type: events.TypeString, Value: user},
			{Name: "state", Type: events.TypeString, Value: state},
			{Name: "vcpus", Type: events.TypeInteger, Value: vcpus},
			{Name: "memory_mb", Type: events.TypeInteger, Value: mem},
			{Name: "load", Type: events.TypeFloat, Value: load},
			{Name: "disk_gb", Type: events.TypeFloat, Value: disk},
			{Name: "launched_at", Type: events.TypeDatetime, Value: launched},
		},
		Raw: raw,
	}
}

// evStore opens a fresh namespace for a workload; drop deletes it.
func evStore(ctx context.Context, env *Env, workload string, cfg *events.Config) (*events.Store, func(), error) {
	var c events.Config
	if cfg != nil {
		c = *cfg
	}
	c.Namespace = fmt.Sprintf("%s%s.%d", NamePrefix, workload, time.Now().UnixNano())
	s, err := events.Open(ctx, env.Space, &c)
	if err != nil {
		return nil, nil, err
	}
	drop := func() { _, _ = s.Delete(context.WithoutCancel(ctx), nil) }
	return s, drop, nil
}

// evRecord records n generated events in batches of 100 and returns the
// time it took.
func evRecord(ctx context.Context, env *Env, s *events.Store, workload string, n int) (time.Duration, error) {
	r := rand.New(rand.NewPCG(1, 2))
	var took time.Duration
	batch := make([]*events.Event, 0, evBatch)
	for start := 0; start < n; start += evBatch {
		batch = batch[:0]
		for i := start; i < min(n, start+evBatch); i++ {
			batch = append(batch, evGen(r, i, n))
		}
		t0 := time.Now()
		res, err := s.Record(ctx, batch)
		took += time.Since(t0)
		if err != nil {
			return 0, err
		}
		if res.Stored != len(batch) {
			return 0, fmt.Errorf("%s: stored %d of %d events", workload, res.Stored, len(batch))
		}
		if (start/evBatch)%50 == 0 {
			env.progress(workload, "record", min(n, start+evBatch), n)
		}
	}
	return took, nil
}

// evQueries is how many queries a query workload runs.
func evQueries(env *Env) int { return max(50, env.N(2000)) }

func runE1(ctx context.Context, env *Env) ([]Result, error) {
	n := env.N(20000)
	s, drop, err := evStore(ctx, env, "E1", nil)
	if err != nil {
		return nil, err
	}
	defer drop()
	took, err := evRecord(ctx, env, s, "E1", n)
	if err != nil {
		return nil, err
	}
	out := []Result{env.result("E1", "events_per_s", perSecond(n, took))}
	raw, err := evRawE1(ctx, env, n)
	if err != nil {
		return nil, err
	}
	return append(out, raw...), nil
}

// evQueryE2 runs q queries of a random 1 h window and type.
func evQueryE2(ctx context.Context, s *events.Store, q int) (time.Duration, error) {
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Now()
	for range q {
		start := evStart.Add(time.Duration(r.IntN(23*60)) * time.Minute)
		_, err := s.Query(ctx, &events.Query{Filter: events.Filter{Start: start, End: start.Add(time.Hour), EventType: evTypes[r.IntN(len(evTypes))]}})
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// evQueryE3 runs q queries of host eq AND vcpus gt 500, limit 100.
func evQueryE3(ctx context.Context, s *events.Store, q int) (time.Duration, error) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Now()
	for range q {
		_, err := s.Query(ctx, &events.Query{Limit: 100, Filter: events.Filter{Traits: []events.TraitFilter{
			{Name: "host", Op: events.OpEq, Type: events.TypeString, Value: fmt.Sprintf("host-%d", r.IntN(evHosts))},
			{Name: "vcpus", Op: events.OpGt, Type: events.TypeInteger, Value: int64(500)},
		}}})
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

func runE1b(ctx context.Context, env *Env) ([]Result, error) {
	n := env.N(1000000)
	s, drop, err := evStore(ctx, env, "E1b", nil)
	if err != nil {
		return nil, err
	}
	defer drop()
	took, err := evRecord(ctx, env, s, "E1b", n)
	if err != nil {
		return nil, err
	}
	q := evQueries(env)
	d2, err := evQueryE2(ctx, s, q)
	if err != nil {
		return nil, err
	}
	d3, err := evQueryE3(ctx, s, q)
	if err != nil {
		return nil, err
	}
	return []Result{
		env.result("E1b", "events_per_s", perSecond(n, took)),
		env.result("E2b", "queries_per_s", perSecond(q, d2)),
		env.result("E3b", "queries_per_s", perSecond(q, d3)),
	}, nil
}

// evLoaded records the 20,000 events of a query workload.
func evLoaded(ctx context.Context, env *Env, workload string) (*events.Store, func(), error) {
	s, drop, err := evStore(ctx, env, workload, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := evRecord(ctx, env, s, workload, env.N(20000)); err != nil {
		drop()
		return nil, nil, err
	}
	return s, drop, nil
}

func runE2(ctx context.Context, env *Env) ([]Result, error) {
	return evQueryWorkload(ctx, env, "E2", evQueryE2)
}

func runE3(ctx context.Context, env *Env) ([]Result, error) {
	return evQueryWorkload(ctx, env, "E3", evQueryE3)
}

// evQueryWorkload runs E2 or E3 (workload): it times the workload's
// queries over 20,000 recorded events, then the same queries on the raw
// table (RAW-E2 or RAW-E3).
func evQueryWorkload(ctx context.Context, env *Env, workload string, queries func(context.Context, *events.Store, int) (time.Duration, error)) ([]Result, error) {
	s, drop, err := evLoaded(ctx, env, workload)
	if err != nil {
		return nil, err
	}
	defer drop()
	q := evQueries(env)
	d, err := queries(ctx, s, q)
	if err != nil {
		return nil, err
	}
	out := []Result{env.result(workload, "queries_per_s", perSecond(q, d))}
	raw, err := evRawQueries(ctx, env, env.N(20000), q, "RAW-"+workload)
	if err != nil {
		return nil, err
	}
	return append(out, raw), nil
}

func runE4(ctx context.Context, env *Env) ([]Result, error) {
	s, drop, err := evLoaded(ctx, env, "E4")
	if err != nil {
		return nil, err
	}
	defer drop()
	q := max(100, env.N(5000))
	t0 := time.Now()
	for range q {
		if _, err := s.EventTypes(ctx); err != nil {
			return nil, err
		}
	}
	types := time.Since(t0)
	r := rand.New(rand.NewPCG(7, 8))
	t0 = time.Now()
	for range q {
		if _, err := s.TraitTypes(ctx, evTypes[r.IntN(len(evTypes))]); err != nil {
			return nil, err
		}
	}
	traits := time.Since(t0)
	raw, err := evRawRoundTrip(ctx, env, q)
	if err != nil {
		return nil, err
	}
	return []Result{
		env.result("E4", "event_types_queries_per_s", perSecond(q, types)),
		env.result("E4", "trait_types_queries_per_s", perSecond(q, traits)),
		raw,
	}, nil
}

// evRawRoundTrip is E4's raw reference: q prepared SELECT 1 in a row, the
// most queries per second one client gets from this database. E4's
// listings are one small query each, so on PostgreSQL they are bounded by
// the round trip, which varies from machine to machine.
func evRawRoundTrip(ctx context.Context, env *Env, q int) (Result, error) {
	st, err := env.Raw.PreparexContext(ctx, `SELECT 1`)
	if err != nil {
		return Result{}, fmt.Errorf("RAW-E4: %w", err)
	}
	defer st.Close()
	t0 := time.Now()
	for range q {
		var one int
		if err := st.GetContext(ctx, &one); err != nil {
			return Result{}, fmt.Errorf("RAW-E4: %w", err)
		}
	}
	return env.result("RAW-E4", "select_1_queries_per_s", perSecond(q, time.Since(t0))), nil
}

func runE5(ctx context.Context, env *Env) ([]Result, error) {
	const ttl = 7 * 24 * time.Hour
	s, drop, err := evStore(ctx, env, "E5", &events.Config{TTL: ttl})
	if err != nil {
		return nil, err
	}
	defer drop()
	n := env.N(20000)
	if _, err := evRecord(ctx, env, s, "E5", n); err != nil {
		return nil, err
	}
	// The older half expired: generated before 12:00 of the first day.
	now := evStart.Add(evSpan / 2).Add(ttl).Add(-time.Microsecond)
	t0 := time.Now()
	rows, _, err := s.Expire(ctx, now, 0, false)
	took := time.Since(t0)
	if err != nil {
		return nil, err
	}
	if rows < int64(n/2)-1 || rows > int64(n/2)+1 {
		return nil, fmt.Errorf("E5: expired %d events, want about %d", rows, n/2)
	}
	return []Result{
		env.result("E5", "seconds", took.Seconds()),
		env.result("E5", "events_expired", float64(rows)),
		env.result("E5", "ms_per_10000_events", float64(took.Microseconds())/1000*10000/float64(rows)),
	}, nil
}

// evRawTable is the raw-SQL reference of the E workloads: one table with
// the traits as JSON (jsonb on PostgreSQL), as a plain event store keeps
// them.
const evRawTable = "strata_bench_events_raw"

func (env *Env) evRawReset(ctx context.Context) error {
	ddl := `CREATE TABLE ` + evRawTable + ` (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, event_type TEXT NOT NULL, generated INTEGER NOT NULL, traits TEXT NOT NULL)`
	if env.Backend() == "postgres" {
		ddl = `CREATE TABLE ` + evRawTable + ` (id BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL, event_type TEXT NOT NULL, generated BIGINT NOT NULL, traits JSONB NOT NULL)`
	}
	for _, q := range []string{`DROP TABLE IF EXISTS ` + evRawTable, ddl,
		`CREATE INDEX ` + evRawTable + `_type ON ` + evRawTable + ` (event_type, generated)`,
		`CREATE INDEX ` + evRawTable + `_gen ON ` + evRawTable + ` (generated)`} {
		if _, err := env.Raw.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare %s: %w", evRawTable, err)
		}
	}
	return nil
}

type evRawRow struct {
	id, typ string
	gen     int64
	traits  []byte
}

func evRawRows(n int) []evRawRow {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]evRawRow, n)
	for i := range out {
		e := evGen(r, i, n)
		m := map[string]any{}
		for _, t := range e.Traits {
			m[t.Name] = t.Value
		}
		b, _ := json.Marshal(m)
		out[i] = evRawRow{id: fmt.Sprintf("raw-%d", i), typ: e.EventType, gen: e.Generated.UnixMicro(), traits: b}
	}
	return out
}

// evRawFill inserts rows with one 100-row INSERT per commit.
func (env *Env) evRawFill(ctx context.Context, rows []evRawRow) error {
	for start := 0; start < len(rows); start += evBatch {
		chunk := rows[start:min(len(rows), start+evBatch)]
		var b strings.Builder
		args := make([]any, 0, 4*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, r.id, r.typ, r.gen, string(r.traits))
		}
		if _, err := env.Raw.ExecContext(ctx, env.Raw.Rebind(`INSERT INTO `+evRawTable+` (message_id, event_type, generated, traits) VALUES `+b.String()), args...); err != nil {
			return fmt.Errorf("fill %s: %w", evRawTable, err)
		}
	}
	return nil
}

// evRawE1: the single table with JSON traits, 100-row INSERT per commit
// (RAW-E1), and on PostgreSQL COPY into it (RAW-E1-copy).
func evRawE1(ctx context.Context, env *Env, n int) ([]Result, error) {
	rows := evRawRows(n)
	if err := env.evRawReset(ctx); err != nil {
		return nil, err
	}
	defer env.Raw.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+evRawTable)
	t0 := time.Now()
	if err := env.evRawFill(ctx, rows); err != nil {
		return nil, err
	}
	out := []Result{env.result("RAW-E1", "events_per_s", perSecond(n, time.Since(t0)))}
	if env.Backend() != "postgres" {
		return out, nil
	}
	if err := env.evRawReset(ctx); err != nil {
		return nil, err
	}
	t0 = time.Now()
	tx, err := env.Raw.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `COPY `+evRawTable+` (message_id, event_type, generated, traits) FROM STDIN`)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r.id, r.typ, r.gen, string(r.traits)); err != nil {
			return nil, err
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return nil, err
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return append(out, env.result("RAW-E1-copy", "events_per_s", perSecond(n, time.Since(t0)))), nil
}

// evRawQueries runs E2's or E3's queries (which is "RAW-E2" or "RAW-E3")
// on the raw table, filtering on the JSON traits.
func evRawQueries(ctx context.Context, env *Env, n, q int, which string) (Result, error) {
	if err := env.evRawReset(ctx); err != nil {
		return Result{}, err
	}
	defer env.Raw.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+evRawTable)
	if err := env.evRawFill(ctx, evRawRows(n)); err != nil {
		return Result{}, err
	}
	e2 := `SELECT message_id, event_type, generated, traits FROM ` + evRawTable + ` WHERE event_type = ? AND generated >= ? AND generated < ? ORDER BY generated, message_id LIMIT 100`
	e3 := `SELECT message_id, event_type, generated, traits FROM ` + evRawTable + ` WHERE json_extract(traits, '$.host') = ? AND json_extract(traits, '$.vcpus') > ? ORDER BY generated, message_id LIMIT 100`
	if env.Backend() == "postgres" {
		e3 = `SELECT message_id, event_type, generated, traits FROM ` + evRawTable + ` WHERE traits->>'host' = ? AND (traits->>'vcpus')::bigint > ? ORDER BY generated, message_id LIMIT 100`
	}
	e2, e3 = env.Raw.Rebind(e2), env.Raw.Rebind(e3)
	type row struct {
		MessageID string `db:"message_id"`
		EventType string `db:"event_type"`
		Generated int64  `db:"generated"`
		Traits    []byte `db:"traits"`
	}
	t0 := time.Now()
	if which == "RAW-E2" {
		r := rand.New(rand.NewPCG(3, 4))
		for range q {
			start := evStart.Add(time.Duration(r.IntN(23*60)) * time.Minute)
			var rows []row
			if err := env.Raw.SelectContext(ctx, &rows, e2, evTypes[r.IntN(len(evTypes))], start.UnixMicro(), start.Add(time.Hour).UnixMicro()); err != nil {
				return Result{}, fmt.Errorf("RAW-E2: %w", err)
			}
		}
	} else {
		r := rand.New(rand.NewPCG(5, 6))
		for range q {
			var rows []row
			if err := env.Raw.SelectContext(ctx, &rows, e3, fmt.Sprintf("host-%d", r.IntN(evHosts)), 500); err != nil {
				return Result{}, fmt.Errorf("RAW-E3: %w", err)
			}
		}
	}
	return env.result(which, "queries_per_s", perSecond(q, time.Since(t0))), nil
}
