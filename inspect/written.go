package inspect

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

// written is what one generation wrote: product versions and their bytes.
type written struct {
	count int64
	bytes int64
}

// sqlBacked is implemented by the SQLite and PostgreSQL datasources. When
// the datasource has it, the per-generation counts of a page of
// generations are one aggregate query with bound parameters instead of
// reading every version of the task manager.
type sqlBacked interface {
	DB() *sqlx.DB
}

// readerBacked is implemented by the SQLite datasource, whose DB is its
// one writer connection: reading through its reader pool instead neither
// waits for nor holds up the writer (a channel writing its cycle).
type readerBacked interface {
	Reader() *sqlx.DB
}

// writtenIn counts the product versions first written in each generation
// of [from, to] of an instance.
func (in *Inspector) writtenIn(ctx context.Context, seq, from, to int64) (map[int64]written, error) {
	out := make(map[int64]written, to-from+1)
	if sb, ok := in.ds.(sqlBacked); ok {
		db := sb.DB()
		if rb, ok := in.ds.(readerBacked); ok {
			db = rb.Reader()
		}
		size := "length(value)"
		if db.DriverName() == "postgres" {
			size = "octet_length(value)"
		}
		q := db.Rebind(`SELECT first_gen, COUNT(*), COALESCE(SUM(` + size + `), 0) FROM product
			WHERE taskmanager_seq = ? AND first_gen >= ? AND first_gen <= ? GROUP BY first_gen`)
		rows, err := db.QueryContext(ctx, q, seq, from, to)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var g int64
			var w written
			if err := rows.Scan(&g, &w.count, &w.bytes); err != nil {
				return nil, err
			}
			out[g] = w
		}
		return out, rows.Err()
	}
	versions, err := in.ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: seq})
	if err != nil {
		return nil, fmt.Errorf("product history: %w", err)
	}
	for _, v := range versions {
		if v.FirstGeneration >= from && v.FirstGeneration <= to {
			w := out[v.FirstGeneration]
			w.count++
			w.bytes += v.StoredSize
			out[v.FirstGeneration] = w
		}
	}
	return out, nil
}
