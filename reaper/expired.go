package reaper

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/datasource/postgres"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

// expiredStore is the raw SQL access the expired-product deletion needs,
// which the DataSource interface does not offer.
type expiredStore struct {
	db      *sqlx.DB
	horizon any    // the horizon as the backend stores times
	length  string // the SQL function giving a value's stored size
}

func (r *Reaper) expiredStore(horizon time.Time) (*expiredStore, bool) {
	switch ds := r.space.DataSource().(type) {
	case *sqlite.DataSource:
		return &expiredStore{db: ds.DB(), horizon: horizon.UnixMicro(), length: "length(value)"}, true
	case *postgres.DataSource:
		return &expiredStore{db: ds.DB(), horizon: horizon.UTC(), length: "octet_length(value)"}, true
	}
	return nil, false
}

// expiredWhere selects product versions that expired before the horizon
// and are no longer current: a version still valid in its instance's
// newest generation (last_gen = OpenGeneration) is never removed here.
const expiredWhere = `last_gen < ? AND expiration_time < ?`

// maxIDsPerStatement caps the ids one DELETE binds.
const maxIDsPerStatement = 10000

// deleteExpired removes product versions that expired before rep's
// horizon and are no longer current, rep.BatchSize rows per transaction
// (in a dry run it only counts them). Ids are found outside the write
// transaction, so each transaction only deletes by primary key (rechecking
// the condition).
func (r *Reaper) deleteExpired(ctx context.Context, rep *Report) error {
	st, ok := r.expiredStore(rep.Horizon)
	if !ok {
		r.log.Debug("backend without raw SQL access, expired products left alone",
			"backend", r.space.Backend())
		return nil
	}
	db := st.db
	if rep.DryRun {
		q := db.Rebind(`SELECT COUNT(*), COALESCE(SUM(` + st.length + `), 0) FROM product WHERE ` + expiredWhere)
		err := db.QueryRowxContext(ctx, q, datasource.OpenGeneration, st.horizon).
			Scan(&rep.ExpiredProducts.Rows, &rep.ExpiredProducts.Bytes)
		if err != nil {
			return fmt.Errorf("count expired products: %w", err)
		}
		return nil
	}
	// Ids travel as bind parameters: stay well below SQLite's limit.
	batch := min(rep.BatchSize, maxIDsPerStatement)
	sel := db.Rebind(`SELECT id FROM product WHERE id > ? AND ` + expiredWhere + ` ORDER BY id LIMIT ?`)
	var after int64
	for {
		var ids []int64
		if err := db.SelectContext(ctx, &ids, sel, after, datasource.OpenGeneration, st.horizon, batch); err != nil {
			return fmt.Errorf("find expired products: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		after = ids[len(ids)-1]
		q, args, err := sqlx.In(`DELETE FROM product WHERE id IN (?) AND `+expiredWhere+` RETURNING `+st.length,
			ids, datasource.OpenGeneration, st.horizon)
		if err != nil {
			return fmt.Errorf("delete expired products: %w", err)
		}
		q = db.Rebind(q)
		start := time.Now()
		var sizes []int64
		err = inTx(ctx, db, func(tx *sqlx.Tx) error { return tx.SelectContext(ctx, &sizes, q, args...) })
		rep.noteBatch(time.Since(start))
		if err != nil {
			return fmt.Errorf("delete expired products: %w", err)
		}
		rep.ExpiredProducts.Rows += int64(len(sizes))
		for _, n := range sizes {
			rep.ExpiredProducts.Bytes += n
		}
		if len(ids) < batch {
			return nil
		}
	}
}

// inTx runs fn in one transaction.
func inTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
