package reaper

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

// The SQLite backend's DataDeleteBefore works one instance at a time, with
// at least three transactions per instance: reaping many small instances
// then costs a commit per few rows. reapSQLite applies the same retention
// (the conformance suite's contract, checked by this package's tests on
// both backends) with batches across instances, as the PostgreSQL backend
// does: the plan of (instance, first kept generation) pairs travels as one
// JSON parameter that json_each unpacks.

// sqliteCandidate is an instance with generations older than the horizon.
type sqliteCandidate struct {
	Seq            int64         `db:"sequence_id"`
	LastGeneration int64         `db:"last_generation"`
	FirstStored    int64         `db:"first_stored"`
	FirstKept      sql.NullInt64 `db:"first_kept"`
	Live           bool          `db:"live"`
}

// reapSQLite deletes what retention no longer keeps on a SQLite database:
// for each instance the generations older than the first one it keeps (the
// oldest created at or after the horizon, and for the newest instance of a
// name at the latest its newest generation), the product versions valid
// only in those, and instances left with no generation; at most batch rows
// per transaction.
func (r *Reaper) reapSQLite(ctx context.Context, db *sqlx.DB, horizon time.Time, batch int, rep *Report) (*datasource.DataDeleteResult, error) {
	h := horizon.UnixMicro()
	var cands []sqliteCandidate
	err := db.SelectContext(ctx, &cands, `SELECT t.sequence_id, t.last_generation,
		(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id) AS first_stored,
		(SELECT MIN(g.generation) FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at >= ?) AS first_kept,
		t.sequence_id = (SELECT n.sequence_id FROM taskmanager n WHERE n.name = t.name
			ORDER BY n.datestamp DESC, n.sequence_id DESC LIMIT 1) AS live
		FROM taskmanager t
		WHERE EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = t.sequence_id AND g.created_at < ?)
		ORDER BY t.sequence_id`, h, h)
	if err != nil {
		return nil, fmt.Errorf("find retention candidates: %w", err)
	}
	var plan [][2]int64
	var whole []int64
	for _, c := range cands {
		k := int64(math.MaxInt64)
		if c.FirstKept.Valid {
			k = c.FirstKept.Int64
		}
		if c.Live {
			k = min(k, c.LastGeneration)
		}
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
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("retention plan: %w", err)
	}

	// Product versions valid only in deleted generations.
	err = sqliteBatches(ctx, db, rep, batch, func(tx *sqlx.Tx) (n, size int64, err error) {
		var sizes []int64
		err = tx.SelectContext(ctx, &sizes, `DELETE FROM product WHERE id IN (
				SELECT p.id FROM json_each(?) AS j CROSS JOIN product p
				WHERE p.taskmanager_seq = json_extract(j.value, '$[0]') AND p.last_gen <= json_extract(j.value, '$[1]')
				LIMIT ?)
			RETURNING length(value)`, string(planJSON), batch)
		for _, b := range sizes {
			size += b
		}
		return int64(len(sizes)), size, err
	}, func(n, size int64) {
		res.ProductVersions += n
		res.ProductBytes += size
	})
	if err != nil {
		return res, fmt.Errorf("delete product versions: %w", err)
	}
	// Generations older than the first kept one.
	err = sqliteBatches(ctx, db, rep, batch, func(tx *sqlx.Tx) (int64, int64, error) {
		n, err := execRows(tx.ExecContext(ctx, `DELETE FROM generation WHERE (taskmanager_seq, generation) IN (
				SELECT g.taskmanager_seq, g.generation FROM json_each(?) AS j CROSS JOIN generation g
				WHERE g.taskmanager_seq = json_extract(j.value, '$[0]') AND g.generation < json_extract(j.value, '$[1]')
				LIMIT ?)`, string(planJSON), batch))
		return n, 0, err
	}, func(n, _ int64) { res.Generations += n })
	if err != nil {
		return res, fmt.Errorf("delete generations: %w", err)
	}
	// Instances left with no generation.
	for len(whole) > 0 {
		chunk := whole[:min(batch, len(whole))]
		whole = whole[len(chunk):]
		ids, err := json.Marshal(chunk)
		if err != nil {
			return res, fmt.Errorf("delete taskmanagers: %w", err)
		}
		start := time.Now()
		var n int64
		err = inTx(ctx, db, func(tx *sqlx.Tx) error {
			var err error
			n, err = execRows(tx.ExecContext(ctx, `DELETE FROM taskmanager WHERE sequence_id IN (SELECT value FROM json_each(?))
				AND NOT EXISTS (SELECT 1 FROM generation g WHERE g.taskmanager_seq = taskmanager.sequence_id)`, string(ids)))
			return err
		})
		rep.noteBatch(time.Since(start))
		if err != nil {
			return res, fmt.Errorf("delete taskmanagers: %w", err)
		}
		res.TaskManagers += n
	}
	return res, nil
}

// sqliteBatches runs del, one transaction each, until it deletes fewer
// than batch rows. After each commit it passes del's counts (rows, bytes)
// to add and notes the transaction's duration in rep.
func sqliteBatches(ctx context.Context, db *sqlx.DB, rep *Report, batch int,
	del func(tx *sqlx.Tx) (n, size int64, err error), add func(n, size int64)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n, size int64
		start := time.Now()
		err := inTx(ctx, db, func(tx *sqlx.Tx) error {
			var err error
			n, size, err = del(tx)
			return err
		})
		rep.noteBatch(time.Since(start))
		if err != nil {
			return err
		}
		add(n, size)
		if n < int64(batch) {
			return nil
		}
	}
}

// execRows returns the rows an Exec affected.
func execRows(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
