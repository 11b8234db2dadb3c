package sqlite

import (
	"context"
	"database/sql"
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
	FirstKept      sql.NullInt64 `db:"first_kept"` // oldest generation inside the horizon
	Live           bool          `db:"live"`       // newest instance of its name
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

// DataDeleteBefore deletes what retention no longer keeps, in batches of at
// most p.BatchSize rows per transaction.
func (s *DataSource) DataDeleteBefore(ctx context.Context, p *datasource.DataDeleteParams) (*datasource.DataDeleteResult, error) {
	if p.Horizon.IsZero() {
		return nil, fmt.Errorf("delete data: %w: a retention horizon is required (retention must be positive)", datasource.ErrInvalid)
	}
	batch := p.BatchSize
	if batch <= 0 {
		batch = datasource.DeleteBatchSizeDefault
	}
	horizon := micros(p.Horizon)
	var cands []retentionCandidate
	err := s.sel(ctx, &cands, `SELECT t.sequence_id, t.last_generation,
		(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at >= ?) AS first_kept,
		t.sequence_id = (SELECT n.sequence_id FROM taskmanager n WHERE n.name = t.name
			ORDER BY n.datestamp DESC, n.sequence_id DESC LIMIT 1) AS live
		FROM taskmanager t
		WHERE (SELECT g.created_at FROM generation g WHERE g.taskmanager_seq = t.sequence_id ORDER BY g.generation LIMIT 1) < ?
		ORDER BY t.sequence_id`, horizon, horizon)
	if err != nil {
		return nil, fmt.Errorf("delete data before %s: find candidates: %w", p.Horizon.Format(time.RFC3339), interpretError(err))
	}
	res := &datasource.DataDeleteResult{}
	for i := range cands {
		if err := s.deleteInstanceBefore(ctx, &cands[i], batch, p.DryRun, res); err != nil {
			return res, fmt.Errorf("delete data of taskmanager %d before %s: %w", cands[i].Seq, p.Horizon.Format(time.RFC3339), err)
		}
	}
	return res, nil
}

func (s *DataSource) deleteInstanceBefore(ctx context.Context, c *retentionCandidate, batch int, dryRun bool, res *datasource.DataDeleteResult) error {
	k := c.keepFrom()
	whole := k == math.MaxInt64
	if dryRun {
		var n struct {
			Rows  int64 `db:"rows"`
			Bytes int64 `db:"bytes"`
			Gens  int64 `db:"gens"`
		}
		err := s.get(ctx, &n, `SELECT
			(SELECT COUNT(*) FROM product WHERE taskmanager_seq = ? AND last_gen <= ?) AS rows,
			(SELECT COALESCE(SUM(length(value)), 0) FROM product WHERE taskmanager_seq = ? AND last_gen <= ?) AS bytes,
			(SELECT COUNT(*) FROM generation WHERE taskmanager_seq = ? AND generation < ?) AS gens`,
			c.Seq, k, c.Seq, k, c.Seq, k)
		if err != nil {
			return interpretError(err)
		}
		res.ProductVersions += n.Rows
		res.ProductBytes += n.Bytes
		res.Generations += n.Gens
		if whole {
			res.TaskManagers++
		}
		return nil
	}

	// Product versions valid only in deleted generations.
	for {
		var sizes []int64
		err := s.timedBatch(ctx, res, func(tx *sqlx.Tx) error {
			return tx.SelectContext(ctx, &sizes, `DELETE FROM product WHERE id IN
				(SELECT id FROM product WHERE taskmanager_seq = ? AND last_gen <= ? LIMIT ?) RETURNING length(value)`,
				c.Seq, k, batch)
		})
		if err != nil {
			return fmt.Errorf("delete product versions: %w", err)
		}
		res.ProductVersions += int64(len(sizes))
		for _, n := range sizes {
			res.ProductBytes += n
		}
		if len(sizes) < batch {
			break
		}
	}
	// Generations: numbers are contiguous, so delete them by range.
	for {
		var n int64
		err := s.timedBatch(ctx, res, func(tx *sqlx.Tx) error {
			r, err := tx.ExecContext(ctx, `DELETE FROM generation WHERE taskmanager_seq = ? AND generation IN
				(SELECT generation FROM generation WHERE taskmanager_seq = ? AND generation < ? ORDER BY generation LIMIT ?)`,
				c.Seq, c.Seq, k, batch)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("delete generations: %w", err)
		}
		res.Generations += n
		if n < int64(batch) {
			break
		}
	}
	if whole {
		err := s.timedBatch(ctx, res, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM taskmanager WHERE sequence_id = ?
				AND NOT EXISTS (SELECT 1 FROM generation WHERE taskmanager_seq = ?)`, c.Seq, c.Seq)
			return err
		})
		if err != nil {
			return fmt.Errorf("delete taskmanager: %w", err)
		}
		res.TaskManagers++
	}
	return nil
}

// timedBatch runs one delete transaction and records its duration.
func (s *DataSource) timedBatch(ctx context.Context, res *datasource.DataDeleteResult, fn func(tx *sqlx.Tx) error) error {
	start := time.Now()
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error { return interpretError(fn(tx)) })
	res.Batches++
	res.MaxBatch = max(res.MaxBatch, time.Since(start))
	return err
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
