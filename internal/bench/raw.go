package bench

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
	"github.com/strata-dataspace/strata/dataspace"
)

// NamePrefix starts the name of every task manager a workload creates;
// Cleanup removes them.
const NamePrefix = "strata.bench."

// rawTable holds the raw-SQL references' rows; Cleanup drops it.
const rawTable = "strata_bench_raw"

// NewEnv returns an Env over space at the given scale, with Raw set to the
// backend's own pool (the single writer connection on SQLite).
func NewEnv(space *dataspace.DataSpace, scale float64) (*Env, error) {
	if scale <= 0 {
		return nil, fmt.Errorf("bench scale %v: want a positive number (1 is BENCH.md's sizes)", scale)
	}
	e := &Env{Space: space, Scale: scale}
	switch ds := space.DataSource().(type) {
	case *sqlite.DataSource:
		e.Raw = ds.DB()
	case *postgres.DataSource:
		e.Raw = ds.DB()
	default:
		return nil, fmt.Errorf("bench: backend %s has no raw SQL pool", space.Backend())
	}
	return e, nil
}

// Cleanup deletes every task manager the workloads created (their
// generations and products go with them) and the raw reference table.
func (e *Env) Cleanup(ctx context.Context) error {
	if _, err := e.Raw.ExecContext(ctx, e.Raw.Rebind(`DELETE FROM taskmanager WHERE name LIKE ?`), NamePrefix+"%"); err != nil {
		return fmt.Errorf("remove benchmark task managers: %w", err)
	}
	if _, err := e.Raw.ExecContext(ctx, `DROP TABLE IF EXISTS `+rawTable); err != nil {
		return fmt.Errorf("drop %s: %w", rawTable, err)
	}
	return nil
}

func (e *Env) result(workload, metric string, v float64) Result {
	return Result{Workload: workload, Backend: e.Backend(), Metric: metric, Value: v}
}

// storedBy counts the product rows and stored value bytes of an instance.
func (e *Env) storedBy(ctx context.Context, seq int64) (rows, bytes int64, err error) {
	err = e.Raw.QueryRowxContext(ctx, e.Raw.Rebind(`SELECT count(*), COALESCE(sum(length(value)), 0) FROM product WHERE taskmanager_seq = ?`), seq).
		Scan(&rows, &bytes)
	return rows, bytes, err
}

// getAlloc returns the bytes allocated by one GetBytes of key (an upper bound of
// its peak memory).
func getAlloc(ctx context.Context, b *datablock.DataBlock, key string) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := b.GetBytes(ctx, key)
	if err != nil {
		return 0, err
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.TotalAlloc - before.TotalAlloc, nil
}

func (e *Env) postgres() bool { return e.Backend() == "postgres" }

// resetRaw (re)creates the empty reference table.
func (e *Env) resetRaw(ctx context.Context) error {
	ddl := `CREATE TABLE ` + rawTable + ` (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB NOT NULL)`
	if e.postgres() {
		ddl = `CREATE TABLE ` + rawTable + ` (id BIGSERIAL PRIMARY KEY, k TEXT NOT NULL, v BYTEA NOT NULL)`
	}
	for _, q := range []string{`DROP TABLE IF EXISTS ` + rawTable, ddl, `CREATE INDEX ` + rawTable + `_k ON ` + rawTable + ` (k)`} {
		if _, err := e.Raw.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare %s: %w", rawTable, err)
		}
	}
	return nil
}

// rawRows returns n ~1 KB JSON values.
func rawRows(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = json.Marshal(kbValue(i))
	}
	return out
}

// fillRaw inserts vals in one transaction.
func (e *Env) fillRaw(ctx context.Context, vals [][]byte) error {
	tx, err := e.Raw.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PreparexContext(ctx, e.Raw.Rebind(`INSERT INTO `+rawTable+` (k, v) VALUES (?, ?)`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, v := range vals {
		if _, err := stmt.ExecContext(ctx, key(i), v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// copyRaw inserts vals with COPY FROM STDIN in one transaction (PostgreSQL).
func (e *Env) copyRaw(ctx context.Context, vals [][]byte) error {
	tx, err := e.Raw.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `COPY `+rawTable+` (k, v) FROM STDIN`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, v := range vals {
		if _, err := stmt.ExecContext(ctx, key(i), v); err != nil {
			return err
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return err
	}
	return tx.Commit()
}

// rawW1: single-row autocommit INSERTs, and n rows in one transaction
// (plus COPY on PostgreSQL).
func (e *Env) rawW1(ctx context.Context, n int) ([]Result, error) {
	vals := rawRows(n)
	if err := e.resetRaw(ctx); err != nil {
		return nil, err
	}
	q := e.Raw.Rebind(`INSERT INTO ` + rawTable + ` (k, v) VALUES (?, ?)`)
	start := time.Now()
	for i, v := range vals {
		if _, err := e.Raw.ExecContext(ctx, q, key(i), v); err != nil {
			return nil, err
		}
	}
	single := time.Since(start)
	if err := e.resetRaw(ctx); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := e.fillRaw(ctx, vals); err != nil {
		return nil, err
	}
	tx := time.Since(start)
	out := []Result{
		e.result("RAW-W1", "rows_per_s", perSecond(n, single)),
		e.result("RAW-W1b", "rows_per_s", perSecond(n, tx)),
		e.result("RAW-W1b", "ms_per_batch", ms(tx)),
	}
	if e.postgres() {
		if err := e.resetRaw(ctx); err != nil {
			return nil, err
		}
		start = time.Now()
		if err := e.copyRaw(ctx, vals); err != nil {
			return nil, err
		}
		d := time.Since(start)
		out = append(out, e.result("RAW-W1b-copy", "rows_per_s", perSecond(n, d)), e.result("RAW-W1b-copy", "ms_per_batch", ms(d)))
	}
	return out, nil
}

// rawW2: n single-row SELECTs by key.
func (e *Env) rawW2(ctx context.Context, n int) ([]Result, error) {
	if err := e.resetRaw(ctx); err != nil {
		return nil, err
	}
	if err := e.fillRaw(ctx, rawRows(n)); err != nil {
		return nil, err
	}
	q := e.Raw.Rebind(`SELECT v FROM ` + rawTable + ` WHERE k = ?`)
	start := time.Now()
	for i := range n {
		var v []byte
		if err := e.Raw.QueryRowxContext(ctx, q, key(i)).Scan(&v); err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
	}
	return []Result{e.result("RAW-W2", "rows_per_s", perSecond(n, time.Since(start)))}, nil
}

// rawW3: copying a generation's n rows with INSERT … SELECT, what a store
// that copies every product at every cycle pays.
func (e *Env) rawW3(ctx context.Context, n int) ([]Result, error) {
	if err := e.resetRaw(ctx); err != nil {
		return nil, err
	}
	if err := e.fillRaw(ctx, rawRows(n)); err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := e.Raw.ExecContext(ctx, `INSERT INTO `+rawTable+` (k, v) SELECT k, v FROM `+rawTable); err != nil {
		return nil, err
	}
	return []Result{e.result("RAW-W3", "ms_per_copy", ms(time.Since(start)))}, nil
}

// zlibSize is the size of v's JSON compressed with zlib at its default
// level, the Python original's codec: a stored-size reference on the same
// data.
func zlibSize(v any) (int, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(raw); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), nil
}

// rawW4: put and get n uncompressed blobs of size bytes.
func (e *Env) rawW4(ctx context.Context, n, size int) ([]Result, error) {
	if err := e.resetRaw(ctx); err != nil {
		return nil, err
	}
	blob := []byte(strings.Repeat(`{"id":1,"host":"node-00001.cluster.example","state":"idle"},`, size/60+1)[:size])
	q := e.Raw.Rebind(`INSERT INTO ` + rawTable + ` (k, v) VALUES (?, ?)`)
	start := time.Now()
	for i := range n {
		if _, err := e.Raw.ExecContext(ctx, q, key(i), blob); err != nil {
			return nil, err
		}
	}
	put := time.Since(start)
	q = e.Raw.Rebind(`SELECT v FROM ` + rawTable + ` WHERE k = ?`)
	start = time.Now()
	for i := range n {
		var v []byte
		if err := e.Raw.QueryRowxContext(ctx, q, key(i)).Scan(&v); err != nil {
			return nil, err
		}
	}
	get := time.Since(start)
	mb := float64(n*size) / 1e6
	return []Result{
		e.result("RAW-W4", "put_mb_per_s", mb/put.Seconds()),
		e.result("RAW-W4", "get_mb_per_s", mb/get.Seconds()),
	}, nil
}

// rawW5: the last generation by name straight from the task manager table.
func (e *Env) rawW5(ctx context.Context, names []string, lookups int) ([]Result, error) {
	q := e.Raw.Rebind(`SELECT last_generation FROM taskmanager WHERE name = ? ORDER BY datestamp DESC, sequence_id DESC LIMIT 1`)
	start := time.Now()
	for i := range lookups {
		var g int64
		if err := e.Raw.QueryRowxContext(ctx, q, names[i%len(names)]).Scan(&g); err != nil {
			return nil, err
		}
	}
	return []Result{e.result("RAW-W5", "lookups_per_s", perSecond(lookups, time.Since(start)))}, nil
}
