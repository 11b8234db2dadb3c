package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/strata-dataspace/strata/datasource"
)

type productRow struct {
	TaskManagerSeq      int64     `db:"taskmanager_seq"`
	Key                 string    `db:"key"`
	FirstGen            int64     `db:"first_gen"`
	LastGen             int64     `db:"last_gen"`
	Encoding            uint8     `db:"encoding"`
	Compression         uint8     `db:"compression"`
	Value               []byte    `db:"value"`
	StoredSize          int64     `db:"stored_size"`
	RawSize             int64     `db:"raw_size"`
	CreateTime          time.Time `db:"create_time"`
	ExpirationTime      time.Time `db:"expiration_time"`
	ScheduledCreateTime time.Time `db:"scheduled_create_time"`
	Creator             string    `db:"creator"`
	SchemaID            int64     `db:"schema_id"`
	State               string    `db:"state"`
	GenerationTime      time.Time `db:"generation_time"`
	MissedUpdateCount   int64     `db:"missed_update_count"`
}

func (r *productRow) toProduct() *datasource.Product {
	return &datasource.Product{
		TaskManagerSeq:      r.TaskManagerSeq,
		Key:                 r.Key,
		FirstGeneration:     r.FirstGen,
		LastGeneration:      r.LastGen,
		Encoding:            r.Encoding,
		Compression:         r.Compression,
		Value:               r.Value,
		StoredSize:          r.StoredSize,
		RawSize:             r.RawSize,
		CreateTime:          fromTS(r.CreateTime),
		ExpirationTime:      fromTS(r.ExpirationTime),
		ScheduledCreateTime: fromTS(r.ScheduledCreateTime),
		Creator:             r.Creator,
		SchemaID:            r.SchemaID,
		State:               r.State,
		GenerationTime:      fromTS(r.GenerationTime),
		MissedUpdateCount:   r.MissedUpdateCount,
	}
}

// productColumns lists the columns read; withValue adds the value itself.
// octet_length of a value stored out of line reads only its TOAST pointer.
func productColumns(withValue bool) string {
	cols := `taskmanager_seq, key, first_gen, last_gen, encoding, compression, octet_length(value) AS stored_size, raw_size,
		create_time, expiration_time, scheduled_create_time, creator, schema_id, state, generation_time, missed_update_count`
	if withValue {
		cols += `, value`
	}
	return cols
}

// insertColumns are the columns ProductPut writes, in the order of
// insertArgs.
const insertColumns = `taskmanager_seq, key, first_gen, last_gen, encoding, compression, value, raw_size,
	create_time, expiration_time, scheduled_create_time, creator, schema_id, state, generation_time, missed_update_count`

func insertArgs(seq, gen int64, p *datasource.Product) []any {
	value := p.Value
	if value == nil {
		value = []byte{}
	}
	return []any{seq, p.Key, gen, datasource.OpenGeneration, int64(p.Encoding), int64(p.Compression), value, p.RawSize,
		ts(p.CreateTime), ts(p.ExpirationTime), ts(p.ScheduledCreateTime), p.Creator, p.SchemaID, p.State,
		ts(p.GenerationTime), p.MissedUpdateCount}
}

// ProductPut writes a batch of products into the newest generation, in one
// transaction: it locks the instance's row FOR SHARE (a concurrent
// GenerationDuplicate waits for it), removes this generation's own versions
// of the keys, closes the versions inherited from earlier generations at
// this one, and inserts the new versions, through COPY for a batch.
func (s *DataSource) ProductPut(ctx context.Context, p *datasource.ProductPutParams) error {
	products, err := datasource.DedupeProducts(p.Products)
	if err != nil {
		return fmt.Errorf("put into taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	seq, g := p.TaskManagerSeq, p.Generation
	if len(products) == 1 {
		return s.putOne(ctx, seq, g, products[0])
	}
	keys := make([]string, len(products))
	for i, pr := range products {
		keys[i] = pr.Key
	}
	err = s.inTx(ctx, "put products", func(tx *sqlx.Tx) error {
		if err := lastGenerationMismatch(ctx, tx, seq, g, true); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM product WHERE taskmanager_seq = $1 AND first_gen = $2 AND key = ANY($3::text[])`,
			seq, g, pq.StringArray(keys)); err != nil {
			return interpretError(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE product SET last_gen = $2
			WHERE taskmanager_seq = $1 AND last_gen = $3 AND first_gen < $2 AND key = ANY($4::text[])`,
			seq, g, datasource.OpenGeneration, pq.StringArray(keys)); err != nil {
			return interpretError(err)
		}
		err := insertProducts(ctx, tx, seq, g, products)
		if pq.As(err, pqerror.UniqueViolation) != nil {
			// A concurrent put of the same key committed its version
			// first; running again replaces it (the last put wins).
			return fmt.Errorf("%w: %w", errConflict, err)
		}
		return interpretError(err)
	})
	if err != nil {
		return fmt.Errorf("put %d products into taskmanager %d gen %d: %w", len(products), seq, g, err)
	}
	return nil
}

// putOneSQL writes one product in a single statement, so that a single put
// costs one round trip: it locks the instance's row FOR SHARE, closes the
// version inherited from an earlier generation and upserts this
// generation's version, all only when $3 is the newest generation.
const putOneSQL = `WITH tm AS (
	SELECT last_generation FROM taskmanager WHERE sequence_id = $1 FOR SHARE
), closed AS (
	UPDATE product SET last_gen = $3
	WHERE taskmanager_seq = $1 AND key = $2 AND last_gen = $4 AND first_gen < $3
		AND EXISTS (SELECT 1 FROM tm WHERE last_generation = $3)
)
INSERT INTO product (` + insertColumns + `)
SELECT $1::bigint, $2::text, $3::bigint, $4::bigint, $5::smallint, $6::smallint, $7::bytea, $8::bigint,
	$9::timestamptz, $10::timestamptz, $11::timestamptz, $12::text, $13::bigint, $14::text, $15::timestamptz, $16::bigint
FROM tm WHERE last_generation = $3
ON CONFLICT (taskmanager_seq, key, first_gen) DO UPDATE SET encoding = EXCLUDED.encoding,
	compression = EXCLUDED.compression, value = EXCLUDED.value, raw_size = EXCLUDED.raw_size,
	create_time = EXCLUDED.create_time, expiration_time = EXCLUDED.expiration_time,
	scheduled_create_time = EXCLUDED.scheduled_create_time, creator = EXCLUDED.creator,
	schema_id = EXCLUDED.schema_id, state = EXCLUDED.state, generation_time = EXCLUDED.generation_time,
	missed_update_count = EXCLUDED.missed_update_count`

// putOne writes a single product with putOneSQL. Running it again is
// harmless (the upsert replaces the same version), so it is retried like a
// read. When nothing was written, the generation is not writable and the
// error says why.
func (s *DataSource) putOne(ctx context.Context, seq, g int64, pr *datasource.Product) error {
	var n int64
	err := s.retry(ctx, "put product", func() error {
		st, err := s.stmt(ctx, putOneSQL)
		if err != nil {
			return interpretError(err)
		}
		res, err := st.ExecContext(ctx, insertArgs(seq, g, pr)...)
		if err != nil {
			return interpretError(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = s.retry(ctx, "check generation", func() error {
			return lastGenerationMismatch(ctx, s.db, seq, g, false)
		})
		if err == nil {
			// The generation was sealed between the put and the check.
			err = fmt.Errorf("%w: generation %d was sealed meanwhile: write to the newest generation", datasource.ErrSealed, g)
		}
	}
	if err != nil {
		return fmt.Errorf("put 1 products into taskmanager %d gen %d: %w", seq, g, err)
	}
	return nil
}

// insertProducts inserts new open versions: one INSERT for a single
// product, COPY FROM STDIN for more.
func insertProducts(ctx context.Context, tx *sqlx.Tx, seq, gen int64, products []*datasource.Product) error {
	if len(products) == 1 {
		_, err := tx.ExecContext(ctx, `INSERT INTO product (`+insertColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, insertArgs(seq, gen, products[0])...)
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `COPY product (`+insertColumns+`) FROM STDIN`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, pr := range products {
		// Errors surface late, from the final Exec, for rows sent earlier.
		if _, err := stmt.ExecContext(ctx, insertArgs(seq, gen, pr)...); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// validIn restricts a product query to the versions valid in a generation
// that exists (not beyond the newest, not deleted by retention); $1 is the
// task manager's sequence id and $2 the generation.
const validIn = `taskmanager_seq = $1 AND first_gen <= $2 AND last_gen > $2
	AND EXISTS (SELECT 1 FROM generation WHERE taskmanager_seq = $1 AND generation = $2)`

// ProductGet returns the version of a product valid in a generation.
func (s *DataSource) ProductGet(ctx context.Context, p *datasource.ProductGetParams) (*datasource.Product, error) {
	var row productRow
	err := s.retry(ctx, "get product", func() error {
		return s.get(ctx, &row, `SELECT `+productColumns(!p.WithoutValue)+` FROM product
			WHERE `+validIn+` AND key = $3 ORDER BY first_gen DESC LIMIT 1`,
			p.TaskManagerSeq, p.Generation, p.Key)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("product %q in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, datasource.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get product %q in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	return row.toProduct(), nil
}

// ProductList returns the products valid in a generation, ordered by key;
// a generation that does not exist has none.
func (s *DataSource) ProductList(ctx context.Context, p *datasource.ProductListParams) ([]*datasource.Product, error) {
	rows, err := s.selectProducts(ctx, "list products", `SELECT `+productColumns(p.WithValues)+` FROM product
		WHERE `+validIn+` ORDER BY key`, p.TaskManagerSeq, p.Generation)
	if err != nil {
		return nil, fmt.Errorf("list products of taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	return rows, nil
}

// ProductHistory returns stored versions in insertion order.
func (s *DataSource) ProductHistory(ctx context.Context, p *datasource.ProductHistoryParams) ([]*datasource.Product, error) {
	q := `SELECT ` + productColumns(p.WithValues) + ` FROM product WHERE taskmanager_seq = $1`
	args := []any{p.TaskManagerSeq}
	if p.Key != "" {
		q += ` AND key = $2`
		args = append(args, p.Key)
	}
	rows, err := s.selectProducts(ctx, "product history", q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("product history of taskmanager %d: %w", p.TaskManagerSeq, err)
	}
	return rows, nil
}

// ProductExpired lists the products of a generation expired at p.At,
// without values.
func (s *DataSource) ProductExpired(ctx context.Context, p *datasource.ProductExpiredParams) ([]*datasource.Product, error) {
	rows, err := s.selectProducts(ctx, "list expired products", `SELECT `+productColumns(false)+` FROM product
		WHERE `+validIn+` AND expiration_time <= $3 ORDER BY key`, p.TaskManagerSeq, p.Generation, ts(p.At))
	if err != nil {
		return nil, fmt.Errorf("list expired products of taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	return rows, nil
}

// ProductMarkExpired sets the expiration time of the product version valid
// in a generation.
func (s *DataSource) ProductMarkExpired(ctx context.Context, p *datasource.ProductMarkExpiredParams) error {
	var n int64
	err := s.retry(ctx, "mark product expired", func() error {
		res, err := s.db.ExecContext(ctx, `UPDATE product SET expiration_time = $4 WHERE `+validIn+` AND key = $3`,
			p.TaskManagerSeq, p.Generation, p.Key, ts(p.At))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("mark product %q expired in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("mark product %q expired in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, datasource.ErrNotFound)
	}
	return nil
}

// selectProducts runs a product query (a read, retried) and converts the
// rows; it never returns a nil slice without an error.
func (s *DataSource) selectProducts(ctx context.Context, what, q string, args ...any) ([]*datasource.Product, error) {
	var rows []productRow
	err := s.retry(ctx, what, func() error {
		rows = rows[:0]
		return s.db.SelectContext(ctx, &rows, q, args...)
	})
	if err != nil {
		return nil, interpretError(err)
	}
	out := make([]*datasource.Product, len(rows))
	for i := range rows {
		out[i] = rows[i].toProduct()
	}
	return out, nil
}
