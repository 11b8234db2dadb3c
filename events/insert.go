package events

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

// inTx runs fn in one transaction of the store's database (on SQLite the
// single writer connection, BEGIN IMMEDIATE), then what fn registered with
// afterTx. An error of a full database or disk wraps datasource.ErrFull.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return s.full(fmt.Errorf("begin: %w", err))
	}
	defer s.index().runAfterTx(tx)
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return s.full(err)
	}
	if err := tx.Commit(); err != nil {
		return s.full(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// full marks err with datasource.ErrFull when the backend reports that the
// database, or the disk it keeps its files on, is full.
func (s *Store) full(err error) error {
	if (s.pg && postgres.IsFull(err)) || (!s.pg && sqlite.IsFull(err)) {
		return fmt.Errorf("%w: %w", datasource.ErrFull, err)
	}
	return err
}

// dropDuplicates removes from todo the events whose message_id exists and
// returns those ids.
func dropDuplicates(todo []*pending, existing map[string]bool) ([]*pending, []string) {
	if len(existing) == 0 {
		return todo, nil
	}
	var dups []string
	kept := todo[:0:0]
	for _, p := range todo {
		if existing[p.ev.MessageID] {
			dups = append(dups, p.ev.MessageID)
			continue
		}
		kept = append(kept, p)
	}
	return kept, dups
}

// written is what a Record's transaction wrote, for the process's caches
// once it has committed: the message ids it found recorded already, the
// events it stored (with their ids), the batch's trait index runs, and the
// dictionary rows it wrote with the count of dictionary deletions it read
// (see seenDictionaries).
type written struct {
	dups          []string
	stored        []*pending
	runs          []newRun
	dictRows      []dictRow
	dictDeletions int64
}

// remember keeps what w wrote in the process's caches.
func (s *Store) remember(w *written) {
	idx := s.index()
	for _, p := range w.stored {
		idx.events.offer(p.id, p.ev)
	}
	s.cacheRuns(w.runs)
	if len(w.dictRows) > 0 {
		idx.dictSeen.saw(w.dictRows, w.dictDeletions)
	}
}

// insertPostgres stores a batch through COPY: it looks up existing
// message_ids, takes ids from the sequences, copies the events, then
// writes the batch's trait index runs and dictionary entries in one
// statement, in one transaction.
func (s *Store) insertPostgres(ctx context.Context, todo []*pending) (*written, error) {
	w := &written{}
	// Prepared once and reused: an unprepared statement with arguments
	// costs lib/pq a second round trip.
	tail, err := s.stmt(ctx, pgRecordTail)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids, found []string
		for _, p := range todo {
			if !p.fresh {
				ids = append(ids, p.ev.MessageID)
			}
		}
		if len(ids) > 0 {
			if err := tx.SelectContext(ctx, &found, `SELECT message_id FROM event WHERE namespace = $1 AND message_id = ANY($2::text[])`, s.ns, pq.StringArray(ids)); err != nil {
				return fmt.Errorf("look up message ids: %w", err)
			}
		}
		existing := make(map[string]bool, len(found))
		for _, id := range found {
			existing[id] = true
		}
		var kept []*pending
		kept, w.dups = dropDuplicates(todo, existing)
		if len(kept) == 0 {
			return nil
		}
		evIDs, runIDs, err := s.allocIDs(ctx, tx, len(kept), countRuns(kept))
		if err != nil {
			return err
		}
		for i, p := range kept {
			p.id = evIDs[i]
		}
		w.stored = kept
		if err := copyIn(ctx, tx, `COPY event (id, namespace, message_id, event_type, generated, expires, source, encoding, compression, value, raw_size) FROM STDIN`,
			func(row func(args ...any) error) error {
				for _, p := range kept {
					e := p.ev
					if err := row(p.id, s.ns, e.MessageID, e.EventType, e.Generated.UnixMicro(), e.Expires.UnixMicro(), e.Source,
						int64(p.val.encoding), int64(p.val.compression), p.val.data, int64(p.val.rawSize)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
			if pq.As(err, pqerror.UniqueViolation) != nil {
				return fmt.Errorf("%w: %w", errRace, err)
			}
			return fmt.Errorf("copy events: %w", err)
		}
		w.runs = batchRuns(kept, runIDs)
		// The runs go with the dictionary rows, in one statement, last:
		// so that the dictionary lock is held for as short as can be, and
		// never while waiting for another transaction's events.
		types, tt := batchDictionaries(kept)
		seen := &s.index().dictSeen
		epoch := seen.epoch()
		newTypes, newTT, keys := seen.unseen(s.ns, types, tt, epoch)
		st, err := inTxStmt(ctx, tx, tail, pgRecordTail)
		if err != nil {
			return fmt.Errorf("record the trait index runs and dictionaries: %w", err)
		}
		deletions, added, err := recordTail(ctx, st, s.ns, w.runs, newTypes, newTT)
		if err != nil {
			return err
		}
		if deletions != epoch {
			// Rows were deleted since they were seen: write them all,
			// under the lock the first statement took.
			newTypes, newTT, keys = seen.unseen(s.ns, types, tt, deletions)
			_, more, err := recordTail(ctx, st, s.ns, nil, newTypes, newTT)
			if err != nil {
				return err
			}
			added += more
		}
		w.dictRows, w.dictDeletions = keys, deletions
		if added > 0 {
			if err := s.dictionariesChanged(ctx, tx, s.ns); err != nil {
				return err
			}
		}
		if s.beforeRecordCommit != nil {
			s.beforeRecordCommit()
		}
		return nil
	})
	return w, err
}

// The statements of insertPostgres besides its COPYs.
const (
	// pgRecordTail writes a batch's trait index runs and dictionary rows,
	// and returns the count of dictionary deletions, read under the
	// dictionary lock taken shared until the transaction ends (see
	// migration 0010).
	pgRecordTail = `WITH r AS (INSERT INTO event_trait_run (id, namespace, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data)
			SELECT id, $1, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data
			FROM unnest($6::bigint[], $7::text[], $8::smallint[], $9::int[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bytea[])
				AS u(id, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data)),
		c AS (SELECT strata_event_dict_deletions() AS n),
		t AS (INSERT INTO event_type (namespace, event_type) SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING RETURNING 1),
		k AS (INSERT INTO event_type_trait (namespace, event_type, name, type)
			SELECT $1, t, n, k FROM unnest($3::text[], $4::text[], $5::smallint[]) AS u(t, n, k) ON CONFLICT DO NOTHING RETURNING 1)
		SELECT (SELECT n FROM c), (SELECT count(*) FROM t) + (SELECT count(*) FROM k)`
)

// recordTail writes runs, event types and trait types with st
// (pgRecordTail in the Record's transaction), and returns the count of
// dictionary deletions and how many dictionary rows were new.
func recordTail(ctx context.Context, st *sqlx.Stmt, ns string, runs []newRun, types []string, tt []traitTypeRow) (deletions, added int64, err error) {
	ttTypes := make([]string, len(tt))
	ttNames := make([]string, len(tt))
	ttKinds := make([]int64, len(tt))
	for i, k := range tt {
		ttTypes[i], ttNames[i], ttKinds[i] = k.typ, k.name, int64(k.kind)
	}
	var (
		ids, entries, minIDs, maxIDs, minGens, maxGens, expires, kinds pq.Int64Array
		names                                                          pq.StringArray
		data                                                           pq.ByteaArray
	)
	for _, r := range runs {
		ids, names, kinds = append(ids, r.id), append(names, r.name), append(kinds, int64(r.typ))
		entries, minIDs, maxIDs = append(entries, int64(len(r.entries))), append(minIDs, r.minID), append(maxIDs, r.maxID)
		minGens, maxGens, expires = append(minGens, r.minGen), append(maxGens, r.maxGen), append(expires, r.maxExpires)
		data = append(data, r.data)
	}
	if err := st.QueryRowContext(ctx, ns, pq.StringArray(types), pq.StringArray(ttTypes), pq.StringArray(ttNames), pq.Int64Array(ttKinds),
		ids, names, kinds, entries, minIDs, maxIDs, minGens, maxGens, expires, data).Scan(&deletions, &added); err != nil {
		return 0, 0, fmt.Errorf("record the trait index runs and dictionaries: %w", err)
	}
	return deletions, added, nil
}

// inTxStmt returns st (prepared outside tx by s.stmt) for use in tx, or,
// when the statement cache was full and st is nil, query prepared in tx.
func inTxStmt(ctx context.Context, tx *sqlx.Tx, st *sqlx.Stmt, query string) (*sqlx.Stmt, error) {
	if st != nil {
		return tx.StmtxContext(ctx, st), nil
	}
	return tx.PreparexContext(ctx, query)
}

// copyIn runs one COPY … FROM STDIN through a prepared statement of tx.
func copyIn(ctx context.Context, tx *sqlx.Tx, stmt string, rows func(row func(args ...any) error) error) error {
	st, err := tx.PrepareContext(ctx, stmt)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := rows(func(args ...any) error {
		_, err := st.ExecContext(ctx, args...)
		return err
	}); err != nil {
		return err
	}
	// Errors of rows sent earlier surface here.
	_, err = st.ExecContext(ctx)
	return err
}

// insertSQLite stores a batch with multi-row INSERTs on the single writer
// connection (BEGIN IMMEDIATE, so the id allocation cannot race).
func (s *Store) insertSQLite(ctx context.Context, todo []*pending) (*written, error) {
	if err := s.prepareInserts(ctx); err != nil {
		return nil, err
	}
	w := &written{}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		existing := map[string]bool{}
		var given []*pending
		for _, p := range todo {
			if !p.fresh {
				given = append(given, p)
			}
		}
		for start := 0; start < len(given); start += 500 {
			chunk := given[start:min(start+500, len(given))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, s.ns)
			for _, p := range chunk {
				args = append(args, p.ev.MessageID)
			}
			var found []string
			if err := tx.SelectContext(ctx, &found, `SELECT message_id FROM event WHERE namespace = ? AND message_id IN (`+placeholders(len(chunk), 1)+`)`, args...); err != nil {
				return fmt.Errorf("look up message ids: %w", err)
			}
			for _, id := range found {
				existing[id] = true
			}
		}
		var kept []*pending
		kept, w.dups = dropDuplicates(todo, existing)
		if len(kept) == 0 {
			return nil
		}
		evIDs, runIDs, deletions, err := s.allocIDsSQLite(ctx, tx, len(kept), countRuns(kept))
		if err != nil {
			return err
		}
		for i, p := range kept {
			p.id = evIDs[i]
		}
		w.stored = kept
		args := make([]any, 0, len(kept)*insertEvent.cols)
		for _, p := range kept {
			e := p.ev
			args = append(args, p.id, s.ns, e.MessageID, e.EventType, e.Generated.UnixMicro(), e.Expires.UnixMicro(), e.Source,
				int64(p.val.encoding), int64(p.val.compression), p.val.data, int64(p.val.rawSize))
		}
		if err := s.insertRows(ctx, tx, insertEvent, args); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		w.runs = batchRuns(kept, runIDs)
		if err := s.insertRuns(ctx, tx, s.ns, w.runs); err != nil {
			return err
		}
		types, tt := batchDictionaries(kept)
		newTypes, newTT, keys := s.index().dictSeen.unseen(s.ns, types, tt, deletions)
		w.dictRows, w.dictDeletions = keys, deletions
		targs := make([]any, 0, 2*len(newTypes))
		for _, t := range newTypes {
			targs = append(targs, s.ns, t)
		}
		if err := s.insertRows(ctx, tx, insertType, targs); err != nil {
			return fmt.Errorf("record event types: %w", err)
		}
		ttArgs := make([]any, 0, 4*len(newTT))
		for _, k := range newTT {
			ttArgs = append(ttArgs, s.ns, k.typ, k.name, int64(k.kind))
		}
		if err := s.insertRows(ctx, tx, insertTypeTrait, ttArgs); err != nil {
			return fmt.Errorf("record trait types: %w", err)
		}
		if s.beforeRecordCommit != nil {
			s.beforeRecordCommit()
		}
		return nil
	})
	return w, err
}

// seenDictionaries holds the dictionary rows (event types and trait
// types, by namespace) this process has seen committed, and the count of
// dictionary deletions they were seen at. While a Record reads the same
// count in its transaction, no row has been deleted since, and it skips
// writing them: 90 conflicting inserts were a tenth of a bench batch. No
// deletion can come between the count's read and the commit: SQLite runs
// one write transaction at a time, and on PostgreSQL the Record holds the
// dictionary lock shared, which a prune takes exclusive before it deletes
// (see migration 0010).
type seenDictionaries struct {
	mu        sync.Mutex
	deletions int64
	rows      map[dictRow]struct{}
}

// seenRowsMax bounds seenDictionaries: past it, the rows are forgotten.
const seenRowsMax = 100000

// dictRow is a dictionary row of a namespace: an event type (name empty,
// kind zero) or a trait type.
type dictRow struct {
	ns string
	traitTypeRow
}

// unseen returns the rows of types and tt not seen at deletions, and
// their keys, for saw once they are committed.
func (d *seenDictionaries) unseen(ns string, types []string, tt []traitTypeRow, deletions int64) (newTypes []string, newTT []traitTypeRow, keys []dictRow) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := func(k dictRow) bool {
		_, ok := d.rows[k]
		return ok && d.deletions == deletions
	}
	for _, t := range types {
		if k := (dictRow{ns, traitTypeRow{typ: t}}); !seen(k) {
			newTypes, keys = append(newTypes, t), append(keys, k)
		}
	}
	for _, r := range tt {
		if k := (dictRow{ns, r}); !seen(k) {
			newTT, keys = append(newTT, r), append(keys, k)
		}
	}
	return newTypes, newTT, keys
}

// epoch returns the count of deletions the rows were seen at.
func (d *seenDictionaries) epoch() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deletions
}

// saw records the rows of keys (from unseen) as committed by a
// transaction that read deletions. Rows skipped as seen are kept from
// before, unless the deletions moved since: then they are written again.
func (d *seenDictionaries) saw(keys []dictRow, deletions int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rows == nil || d.deletions != deletions || len(d.rows) > seenRowsMax {
		d.deletions, d.rows = deletions, map[dictRow]struct{}{}
	}
	for _, k := range keys {
		d.rows[k] = struct{}{}
	}
}

// insertChunks are the row counts of the multi-row INSERT statements
// insertRows prepares: any number of rows is written by at most a few
// statements of these shapes, each prepared once per database and reused,
// so a batch costs no parsing and the statement cache stays small.
var insertChunks = []int{256, 64, 16, 4, 1}

// sqliteInsert is a multi-row INSERT of insertSQLite: prefix + "(?, …),
// (?, …)" + suffix, cols values a row.
type sqliteInsert struct {
	prefix, suffix string
	cols           int
}

// The multi-row INSERTs of insertSQLite.
var (
	insertEvent     = sqliteInsert{`INSERT INTO event (id, namespace, message_id, event_type, generated, expires, source, encoding, compression, value, raw_size) VALUES `, "", 11}
	insertRun       = sqliteInsert{`INSERT INTO event_trait_run (id, namespace, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data) VALUES `, "", 11}
	insertType      = sqliteInsert{`INSERT INTO event_type (namespace, event_type) VALUES `, ` ON CONFLICT DO NOTHING`, 2}
	insertTypeTrait = sqliteInsert{`INSERT INTO event_type_trait (namespace, event_type, name, type) VALUES `, ` ON CONFLICT DO NOTHING`, 4}
	sqliteInserts   = []sqliteInsert{insertEvent, insertRun, insertType, insertTypeTrait}
)

// sql is the statement of ins for rows rows.
func (ins sqliteInsert) sql(rows int) string {
	return ins.prefix + placeholders(rows, ins.cols) + ins.suffix
}

// prepareInserts prepares, once per database and outside any transaction
// (the single writer connection would wait for itself), every shape
// insertRows runs.
func (s *Store) prepareInserts(ctx context.Context) error {
	if _, done := preparedWriters.Load(s.db); done {
		return nil
	}
	for _, ins := range sqliteInserts {
		for _, n := range insertChunks {
			if _, err := s.stmt(ctx, ins.sql(n)); err != nil {
				return fmt.Errorf("prepare %s: %w", strings.TrimSuffix(ins.prefix, " VALUES "), err)
			}
		}
	}
	preparedWriters.Store(s.db, true)
	return nil
}

// preparedWriters records the SQLite writer pools prepareInserts has set up.
var preparedWriters sync.Map

// insertRows runs ins over args as multi-row INSERTs of the insertChunks
// shapes, in tx.
func (s *Store) insertRows(ctx context.Context, tx *sqlx.Tx, ins sqliteInsert, args []any) error {
	rows := len(args) / ins.cols
	for done := 0; done < rows; {
		n := insertChunks[len(insertChunks)-1]
		for _, c := range insertChunks {
			if rows-done >= c {
				n = c
				break
			}
		}
		query := ins.sql(n)
		chunk := args[done*ins.cols : (done+n)*ins.cols]
		var err error
		if st := s.cachedStmt(query); st == nil {
			_, err = tx.ExecContext(ctx, query, chunk...)
		} else {
			_, err = tx.StmtxContext(ctx, st).ExecContext(ctx, chunk...)
		}
		if err != nil {
			return err
		}
		done += n
	}
	return nil
}

// placeholders returns rows groups of cols question marks: "(?, ?), (?, ?)";
// with cols 1 and rows n, a plain list "?, ?".
func placeholders(rows, cols int) string {
	var b strings.Builder
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	if cols == 1 {
		group = "?"
	}
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group)
	}
	return b.String()
}

// newRun is a trait index run ready to insert.
type newRun struct {
	id                           int64
	name                         string
	typ                          TraitType
	entries                      []entry // sorted
	minID, maxID, minGen, maxGen int64
	maxExpires                   int64
	data                         []byte
}

// buildRun encodes run id of trait name and type typ over entries, which
// are sorted (compareEntries), and whose events expire at the latest at
// maxExpires.
func buildRun(id int64, name string, typ TraitType, entries []entry, maxExpires int64) newRun {
	r := newRun{id: id, name: name, typ: typ, entries: entries, maxExpires: maxExpires,
		minID: math.MaxInt64, maxID: math.MinInt64, minGen: math.MaxInt64, maxGen: math.MinInt64}
	for _, e := range entries {
		r.minID, r.maxID = min(r.minID, e.id), max(r.maxID, e.id)
		r.minGen, r.maxGen = min(r.minGen, e.gen), max(r.maxGen, e.gen)
	}
	r.data = encodeRun(typ, entries)
	return r
}

// row is the run's row of event_trait_run in namespace ns, in the column
// order of insertRuns.
func (r *newRun) row(ns string) []any {
	return []any{r.id, ns, r.name, int64(r.typ), int64(len(r.entries)), r.minID, r.maxID, r.minGen, r.maxGen, r.maxExpires, r.data}
}

// runKey is the trait name and type of a run.
type runKey struct {
	name string
	typ  TraitType
}

// countRuns returns how many runs a batch writes: one per trait name and
// type.
func countRuns(kept []*pending) int {
	var b runBuilder
	for _, p := range kept {
		for _, t := range p.ev.Traits {
			b.slot(runKey{t.Name, t.Type})
		}
	}
	return len(b.keys)
}

// runBuilder groups index entries into runs, one per trait name and type,
// in the order the keys first appear. A batch has a few keys: they are
// looked up by comparing them all, and through a map only once there are
// more than runBuilderScan (hashing each entry's key was a third of the
// time of building a bench batch's runs).
type runBuilder struct {
	keys    []runKey
	entries [][]entry // by slot, as keys
	maxExp  []int64
	byKey   map[runKey]int // past runBuilderScan keys
	// size is the capacity a new run's entries start with (zero: none).
	size int
}

const runBuilderScan = 16

// slot returns the index of k in b.keys, adding it if new.
func (b *runBuilder) slot(k runKey) int {
	if b.byKey != nil {
		if i, ok := b.byKey[k]; ok {
			return i
		}
	} else {
		for i := range b.keys {
			if b.keys[i] == k {
				return i
			}
		}
	}
	i := len(b.keys)
	b.keys = append(b.keys, k)
	b.entries = append(b.entries, make([]entry, 0, b.size))
	b.maxExp = append(b.maxExp, math.MinInt64)
	switch {
	case b.byKey != nil:
		b.byKey[k] = i
	case len(b.keys) > runBuilderScan:
		b.byKey = make(map[runKey]int, 2*len(b.keys))
		for j, key := range b.keys {
			b.byKey[key] = j
		}
	}
	return i
}

// add adds the entry of an event that expires at expires to the run of k.
func (b *runBuilder) add(k runKey, e entry, expires int64) {
	i := b.slot(k)
	b.entries[i] = append(b.entries[i], e)
	b.maxExp[i] = max(b.maxExp[i], expires)
}

// build sorts each run's entries and encodes the runs, with the run ids
// ids (one per key).
func (b *runBuilder) build(ids []int64) []newRun {
	out := make([]newRun, len(b.keys))
	for i, k := range b.keys {
		es := b.entries[i]
		slices.SortFunc(es, compareEntries(k.typ))
		out[i] = buildRun(ids[i], k.name, k.typ, es, b.maxExp[i])
	}
	return out
}

// batchRuns returns the runs of a batch of events with their ids, with
// the run ids ids (countRuns of them).
func batchRuns(kept []*pending, ids []int64) []newRun {
	b := runBuilder{size: len(kept)}
	for _, p := range kept {
		gen, exp := p.ev.Generated.UnixMicro(), p.ev.Expires.UnixMicro()
		for _, t := range p.ev.Traits {
			b.add(runKey{t.Name, t.Type}, traitEntry(t, gen, p.id), exp)
		}
	}
	return b.build(ids)
}

// cacheRuns keeps runs just written in the process's cache: the next
// merge and the next queries need them.
func (s *Store) cacheRuns(runs []newRun) {
	idx := s.index()
	for _, nr := range runs {
		r := nr.run()
		idx.runs.put(r.id, r, r.memBytes)
	}
}

// insertRuns writes runs of namespace ns in tx: COPY on PostgreSQL,
// multi-row INSERTs on SQLite.
func (s *Store) insertRuns(ctx context.Context, tx *sqlx.Tx, ns string, runs []newRun) error {
	if len(runs) == 0 {
		return nil
	}
	if s.pg {
		err := copyIn(ctx, tx, `COPY event_trait_run (id, namespace, name, type, entries, min_id, max_id, min_generated, max_generated, max_expires, data) FROM STDIN`,
			func(row func(args ...any) error) error {
				for _, r := range runs {
					if err := row(r.row(ns)...); err != nil {
						return err
					}
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("copy trait index runs: %w", err)
		}
		return nil
	}
	args := make([]any, 0, len(runs)*insertRun.cols)
	for _, r := range runs {
		args = append(args, r.row(ns)...)
	}
	if err := s.insertRows(ctx, tx, insertRun, args); err != nil {
		return fmt.Errorf("insert trait index runs: %w", err)
	}
	return nil
}
