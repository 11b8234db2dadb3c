package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/reaper"
)

func init() {
	Register(Workload{
		ID: "W6",
		Description: "reap: 200 task manager instances 30 days old with 50 products each, superseded by 50 fresh " +
			"instances of the same names; retention 7 days (deletes everything older than 7 days in the database)",
		Run: runW6,
	})
}

// runW6 writes N(200) old instances (30 days old, one generation of N(50)
// products each) of N(50) names, then one fresh instance of each name with
// N(50) products, and times one reaper run with a retention of 7 days. The
// old instances go whole; every fresh one must stay intact.
func runW6(ctx context.Context, env *Env) ([]Result, error) {
	ds := env.Space.DataSource()
	now := time.Now()
	const retention = 7 * 24 * time.Hour

	// The run deletes everything past the retention, not only W6's data:
	// refuse a database that holds other old data.
	dry, err := ds.DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: now.Add(-retention), DryRun: true})
	if err != nil {
		return nil, err
	}
	if n := dry.Generations + dry.ProductVersions + dry.TaskManagers; n > 0 {
		return nil, fmt.Errorf("the database holds %d rows older than 7 days, which W6's reap would delete: run it on a scratch database", n)
	}

	oldTMs, products, names := env.N(200), env.N(50), env.N(50)
	run := uuid.NewString()[:8]
	name := func(j int) string { return fmt.Sprintf("w6-%s-%03d", run, j) }
	items := make([]datablock.Item, products)
	for i := range items {
		items[i] = datablock.Item{Key: key(i), Value: kbValue(i)}
	}
	block := env.Space.Config().Block
	old := block
	oldAt := now.Add(-30 * 24 * time.Hour)
	old.Clock = func() time.Time { return oldAt }
	writeOld := func(step string, name func(int) string) ([]int64, error) {
		seqs := make([]int64, 0, oldTMs)
		for i := range oldTMs {
			b, err := datablock.New(ctx, ds, name(i%names), &old)
			if err != nil {
				return nil, err
			}
			if err := b.PutItems(ctx, items...); err != nil {
				return nil, err
			}
			seqs = append(seqs, b.TaskManager().SequenceID)
			env.progress("W6", step, i+1, oldTMs)
		}
		return seqs, nil
	}
	if _, err := writeOld("write old task managers", name); err != nil {
		return nil, err
	}
	for j := range names {
		b, err := datablock.New(ctx, ds, name(j), &block)
		if err != nil {
			return nil, err
		}
		if err := b.PutItems(ctx, items...); err != nil {
			return nil, err
		}
		env.progress("W6", "write fresh task managers", j+1, names)
	}

	r, err := reaper.New(env.Space, &reaper.Config{Retention: retention})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep, err := r.RunOnce(ctx)
	elapsed := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("reap: %w", err)
	}

	// Every fresh instance stays whole and is the only one of its name.
	intact := 1.0
	for j := range names {
		tms, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: name(j)})
		if err != nil {
			return nil, err
		}
		if len(tms) != 1 {
			intact = 0
			continue
		}
		ps, err := ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: tms[0].SequenceID, Generation: tms[0].LastGeneration})
		if err != nil {
			return nil, err
		}
		if len(ps) != products {
			intact = 0
		}
	}
	rows := float64(rep.Rows())

	results := []Result{
		env.result("W6", "seconds", elapsed.Seconds()),
		env.result("W6", "rows_deleted", rows),
		env.result("W6", "rows_per_s", rows/elapsed.Seconds()),
		env.result("W6", "max_batch_ms", rep.MaxBatchMS),
		env.result("W6", "batches", float64(rep.Batches)),
		env.result("W6", "fresh_intact", intact),
	}
	if env.Raw == nil {
		return results, nil
	}

	// Raw-SQL reference: the same old instances written again under other
	// names, deleted by three statements in one transaction.
	rawSeqs, err := writeOld("write old task managers for the raw reference", func(j int) string {
		return fmt.Sprintf("w6-raw-%s-%03d", run, j)
	})
	if err != nil {
		return nil, err
	}
	start = time.Now()
	rawRows, err := w6RawDelete(ctx, env.Raw, rawSeqs)
	rawElapsed := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	return append(results,
		env.result("RAW-W6", "seconds", rawElapsed.Seconds()),
		env.result("RAW-W6", "rows_per_s", float64(rawRows)/rawElapsed.Seconds()),
	), nil
}

// w6RawDelete deletes task manager instances with their generations and
// product rows in one transaction and returns the rows deleted.
func w6RawDelete(ctx context.Context, db *sqlx.DB, seqs []int64) (int64, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	for _, q := range []string{
		`DELETE FROM product WHERE taskmanager_seq IN (?)`,
		`DELETE FROM generation WHERE taskmanager_seq IN (?)`,
		`DELETE FROM taskmanager WHERE sequence_id IN (?)`,
	} {
		q, args, err := sqlx.In(q, seqs)
		if err != nil {
			return 0, err
		}
		r, err := tx.ExecContext(ctx, db.Rebind(q), args...)
		if err != nil {
			return 0, err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, tx.Commit()
}
