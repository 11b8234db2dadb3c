package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

// retentionCandidate is an instance with generations older than the horizon.
type retentionCandidate struct {
	Seq            int64         `db:"sequence_id"`
	LastGeneration int64         `db:"last_generation"`
	FirstStored    int64         `db:"first_stored"` // oldest generation still stored
	FirstKept      sql.NullInt64 `db:"first_kept"`   // oldest generation inside the horizon
	Live           bool          `db:"live"`         // newest instance of its name
}

// keepFrom is the first generation that stays; math.MaxInt64 means the
// whole instance goes.
func (c *retentionCandidate) keepFrom() int64 {
	k := int64(math.MaxInt64)
	if c.FirstKept.Valid {
		k = c.FirstKept.Int64
	}
	if c.Live {
		k = min(k, c.LastGeneration)
	}
	return k
}

// keepJoin joins the retention plan, a JSON array of [instance, first kept
// generation] pairs passed as the first parameter, as keep(seq, k).
const keepJoin = `(SELECT json_extract(j.value, '$[0]') AS seq, json_extract(j.value, '$[1]') AS k FROM json_each(?) AS j) AS keep`

// DataDeleteBefore deletes what retention no longer keeps: for each
// instance, the generations older than the first one it keeps (the oldest
// created at or after the horizon, and for the newest instance of a name at
// the latest its newest generation), the product versions valid only in
// those, and instances left with no generation. Work is done across
// instances, in transactions of at most p.BatchSize rows each: the plan of
// (instance, first kept generation) pairs travels as one JSON parameter
// that json_each unpacks, so reaping many small instances costs a few
// commits, not three per instance.
func (s *DataSource) DataDeleteBefore(ctx context.Context, p *datasource.DataDeleteParams) (*datasource.DataDeleteResult, error) {
	if p.Horizon.IsZero() {
		return nil, fmt.Errorf("delete data: %w: a retention horizon is required (retention must be positive)", datasource.ErrInvalid)
	}
	if p.BatchSize < 0 {
		return nil, fmt.Errorf("delete data: %w: batch size %d must be positive", datasource.ErrInvalid, p.BatchSize)
	}
	batch := p.BatchSize
	if batch == 0 {
		batch = datasource.DeleteBatchSizeDefault
	}
	horizon := micros(p.Horizon)
	when := p.Horizon.Format(time.RFC3339)

	var cands []retentionCandidate
	err := s.sel(ctx, &cands, `SELECT t.sequence_id, t.last_generation,
		(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id) AS first_stored,
		(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at >= ?) AS first_kept,
		t.sequence_id = (SELECT n.sequence_id FROM taskmanager n WHERE n.name = t.name
			ORDER BY n.datestamp DESC, n.sequence_id DESC LIMIT 1) AS live
		FROM taskmanager t
		WHERE EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at < ?)
		ORDER BY t.sequence_id`, horizon, horizon)
	if err != nil {
		return nil, fmt.Errorf("delete data before %s: find candidates: %w", when, interpretError(err))
	}
	var plan [][2]int64
	var whole []int64
	for i := range cands {
		c := &cands[i]
		k := c.keepFrom()
		if k <= c.FirstStored {
			continue // nothing older than what it keeps
		}
		plan = append(plan, [2]int64{c.Seq, k})
		if k == math.MaxInt64 {
			whole = append(whole, c.Seq)
		}
	}
	res := &datasource.DataDeleteResult{}
	if len(plan) == 0 {
		return res, nil
	}
	pj, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("delete data before %s: encode plan: %w", when, err)
	}
	planJSON := string(pj)

	if p.DryRun {
		var n struct {
			Rows  int64 `db:"product_versions"`
			Bytes int64 `db:"product_bytes"`
			Gens  int64 `db:"generations"`
		}
		err := s.get(ctx, &n, `SELECT
			(SELECT COUNT(*) FROM product p JOIN `+keepJoin+` ON p.taskmanager_seq = keep.seq WHERE p.last_gen <= keep.k) AS product_versions,
			(SELECT COALESCE(SUM(length(p.value)), 0) FROM product p JOIN `+keepJoin+`
				ON p.taskmanager_seq = keep.seq WHERE p.last_gen <= keep.k) AS product_bytes,
			(SELECT COUNT(*) FROM generation g JOIN `+keepJoin+` ON g.taskmanager_seq = keep.seq WHERE g.generation < keep.k) AS generations`,
			planJSON, planJSON, planJSON)
		if err != nil {
			return nil, fmt.Errorf("delete data before %s: count: %w", when, interpretError(err))
		}
		res.ProductVersions, res.ProductBytes, res.Generations = n.Rows, n.Bytes, n.Gens
		res.TaskManagers = int64(len(whole))
		return res, nil
	}

	// Product versions valid only in deleted generations.
	err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (n, size int64, err error) {
		var sizes []int64
		err = tx.SelectContext(ctx, &sizes, `DELETE FROM product WHERE id IN (
				SELECT p.id FROM `+keepJoin+` CROSS JOIN product p
				WHERE p.taskmanager_seq = keep.seq AND p.last_gen <= keep.k LIMIT ?)
			RETURNING length(value)`, planJSON, batch)
		for _, b := range sizes {
			size += b
		}
		return int64(len(sizes)), size, err
	}, func(n, size int64) {
		res.ProductVersions += n
		res.ProductBytes += size
	})
	if err != nil {
		return res, fmt.Errorf("delete data before %s: product versions: %w", when, err)
	}

	// Generations older than the first kept one.
	err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (int64, int64, error) {
		return execCount(tx.ExecContext(ctx, `DELETE FROM generation WHERE (taskmanager_seq, generation) IN (
				SELECT g.taskmanager_seq, g.generation FROM `+keepJoin+` CROSS JOIN generation g
				WHERE g.taskmanager_seq = keep.seq AND g.generation < keep.k LIMIT ?)`, planJSON, batch))
	}, func(n, _ int64) { res.Generations += n })
	if err != nil {
		return res, fmt.Errorf("delete data before %s: generations: %w", when, err)
	}

	// Instances left with no generation.
	if len(whole) > 0 {
		wj, err := json.Marshal(whole)
		if err != nil {
			return res, fmt.Errorf("delete data before %s: encode instances: %w", when, err)
		}
		err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (int64, int64, error) {
			return execCount(tx.ExecContext(ctx, `DELETE FROM taskmanager WHERE sequence_id IN (
					SELECT t.sequence_id FROM taskmanager t WHERE t.sequence_id IN (SELECT value FROM json_each(?))
					AND NOT EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = t.sequence_id) LIMIT ?)`,
				string(wj), batch))
		}, func(n, _ int64) { res.TaskManagers += n })
		if err != nil {
			return res, fmt.Errorf("delete data before %s: taskmanagers: %w", when, err)
		}
	}
	return res, nil
}

// execCount returns the rows an Exec affected, in deleteBatches' shape.
func execCount(r sql.Result, err error) (int64, int64, error) {
	if err != nil {
		return 0, 0, err
	}
	n, err := r.RowsAffected()
	return n, 0, err
}

// deleteBatches runs del, one write transaction each, until it deletes
// fewer than batch rows or ctx ends. After each commit it passes del's
// counts (rows, bytes) to add and counts the transaction and the longest
// one in res.
func (s *DataSource) deleteBatches(ctx context.Context, res *datasource.DataDeleteResult, batch int,
	del func(tx *sqlx.Tx) (n, size int64, err error), add func(n, size int64)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n, size int64
		start := time.Now()
		err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			n, size, err = del(tx)
			return interpretError(err)
		})
		if err != nil {
			return err
		}
		res.Batches++
		res.MaxBatch = max(res.MaxBatch, time.Since(start))
		add(n, size)
		if n < int64(batch) {
			return nil
		}
	}
}

// Stats counts what the database holds.
func (s *DataSource) Stats(ctx context.Context) (*datasource.Stats, error) {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	st := &datasource.Stats{SchemaVersion: v}
	if v == 0 {
		return st, nil
	}
	err = s.get(ctx, st, `SELECT
		(SELECT COUNT(*) FROM taskmanager) AS taskmanagers,
		(SELECT COUNT(*) FROM generation) AS generations,
		(SELECT COUNT(*) FROM product) AS product_versions,
		(SELECT COALESCE(SUM(length(value)), 0) FROM product) AS value_bytes`)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", interpretError(err))
	}
	return st, nil
}
