package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

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

// retentionPlan holds, for every instance that loses something, the first
// generation it keeps, as the parallel arrays the delete statements unnest.
type retentionPlan struct {
	seqs  pq.Int64Array
	keeps pq.Int64Array
	whole pq.Int64Array // instances that go entirely
}

// keepJoin joins the plan's arrays, passed as $1 and $2, as keep(seq, k).
const keepJoin = `JOIN unnest($1::bigint[], $2::bigint[]) AS keep (seq, k)`

// DataDeleteBefore deletes what retention no longer keeps: for each
// instance, the generations older than the first one it keeps (the oldest
// created at or after the horizon, and for the newest instance of a name at
// the latest its newest generation), the product versions valid only in
// those, and instances left with no generation. Work is done across
// instances, in transactions of at most p.BatchSize rows, each retried on a
// transient failure.
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
	horizon := ts(p.Horizon)
	fail := func(what string, err error) (*datasource.DataDeleteResult, error) {
		return nil, fmt.Errorf("delete data before %s: %s: %w", p.Horizon.Format(time.RFC3339), what, err)
	}

	var cands []retentionCandidate
	err := s.retry(ctx, "find retention candidates", func() error {
		cands = cands[:0]
		return s.db.SelectContext(ctx, &cands, `SELECT t.sequence_id, t.last_generation,
			(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id) AS first_stored,
			(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at >= $1) AS first_kept,
			t.sequence_id = (SELECT n.sequence_id FROM taskmanager n WHERE n.name = t.name
				ORDER BY n.datestamp DESC, n.sequence_id DESC LIMIT 1) AS live
			FROM taskmanager t
			WHERE EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at < $1)
			ORDER BY t.sequence_id`, horizon)
	})
	if err != nil {
		return fail("find candidates", interpretError(err))
	}
	var plan retentionPlan
	for i := range cands {
		c := &cands[i]
		k := c.keepFrom()
		if k <= c.FirstStored {
			continue // nothing older than what it keeps
		}
		plan.seqs = append(plan.seqs, c.Seq)
		plan.keeps = append(plan.keeps, k)
		if k == math.MaxInt64 {
			plan.whole = append(plan.whole, c.Seq)
		}
	}
	res := &datasource.DataDeleteResult{}
	if len(plan.seqs) == 0 {
		return res, nil
	}

	if p.DryRun {
		err := s.retry(ctx, "count retention", func() error {
			return s.db.QueryRowxContext(ctx, `SELECT
				(SELECT COUNT(*) FROM product p `+keepJoin+` ON p.taskmanager_seq = keep.seq WHERE p.last_gen <= keep.k),
				(SELECT COALESCE(SUM(octet_length(p.value)), 0) FROM product p `+keepJoin+`
					ON p.taskmanager_seq = keep.seq WHERE p.last_gen <= keep.k),
				(SELECT COUNT(*) FROM generation g `+keepJoin+` ON g.taskmanager_seq = keep.seq WHERE g.generation < keep.k)`,
				plan.seqs, plan.keeps).Scan(&res.ProductVersions, &res.ProductBytes, &res.Generations)
		})
		if err != nil {
			return fail("count", interpretError(err))
		}
		res.TaskManagers = int64(len(plan.whole))
		return res, nil
	}

	// Product versions valid only in deleted generations.
	err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (n, size int64, err error) {
		err = tx.QueryRowxContext(ctx, `WITH doomed AS (
				SELECT p.id FROM product p `+keepJoin+` ON p.taskmanager_seq = keep.seq
				WHERE p.last_gen <= keep.k LIMIT $3
			), deleted AS (
				DELETE FROM product WHERE id IN (SELECT id FROM doomed) RETURNING octet_length(value) AS size
			)
			SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deleted`, plan.seqs, plan.keeps, batch).Scan(&n, &size)
		return n, size, err
	}, func(n, size int64) {
		res.ProductVersions += n
		res.ProductBytes += size
	})
	if err != nil {
		return res, fmt.Errorf("delete data before %s: product versions: %w", p.Horizon.Format(time.RFC3339), err)
	}

	// Generations older than the first kept one.
	err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (int64, int64, error) {
		return execCount(tx.ExecContext(ctx, `DELETE FROM generation WHERE (taskmanager_seq, generation) IN (
			SELECT g.taskmanager_seq, g.generation FROM generation g `+keepJoin+` ON g.taskmanager_seq = keep.seq
			WHERE g.generation < keep.k LIMIT $3)`, plan.seqs, plan.keeps, batch))
	}, func(n, _ int64) { res.Generations += n })
	if err != nil {
		return res, fmt.Errorf("delete data before %s: generations: %w", p.Horizon.Format(time.RFC3339), err)
	}

	// Instances left with no generation.
	if len(plan.whole) > 0 {
		err = s.deleteBatches(ctx, res, batch, func(tx *sqlx.Tx) (int64, int64, error) {
			return execCount(tx.ExecContext(ctx, `DELETE FROM taskmanager WHERE sequence_id IN (
				SELECT t.sequence_id FROM taskmanager t WHERE t.sequence_id = ANY($1::bigint[])
				AND NOT EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = t.sequence_id) LIMIT $2)`,
				plan.whole, batch))
		}, func(n, _ int64) { res.TaskManagers += n })
		if err != nil {
			return res, fmt.Errorf("delete data before %s: taskmanagers: %w", p.Horizon.Format(time.RFC3339), err)
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

// deleteBatches runs del, one transaction each (retried whole on a
// transient failure), until it deletes fewer than batch rows. After each
// commit it passes del's counts (rows, bytes) to add and counts the
// transaction and the longest one in res.
func (s *DataSource) deleteBatches(ctx context.Context, res *datasource.DataDeleteResult, batch int,
	del func(tx *sqlx.Tx) (n, size int64, err error), add func(n, size int64)) error {
	for {
		var n, size int64
		start := time.Now()
		err := s.inTx(ctx, "delete batch", func(tx *sqlx.Tx) error {
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
	err = s.retry(ctx, "stats", func() error {
		return s.db.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM taskmanager),
			(SELECT COUNT(*) FROM generation),
			(SELECT COUNT(*) FROM product),
			(SELECT COALESCE(SUM(octet_length(value)), 0) FROM product)`).
			Scan(&st.TaskManagers, &st.Generations, &st.ProductVersions, &st.ValueBytes)
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", interpretError(err))
	}
	return st, nil
}
