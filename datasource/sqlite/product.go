package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

type productRow struct {
	TaskManagerSeq      int64  `db:"taskmanager_seq"`
	Key                 string `db:"key"`
	FirstGen            int64  `db:"first_gen"`
	LastGen             int64  `db:"last_gen"`
	Encoding            uint8  `db:"encoding"`
	Compression         uint8  `db:"compression"`
	Value               []byte `db:"value"`
	StoredSize          int64  `db:"stored_size"`
	RawSize             int64  `db:"raw_size"`
	CreateTime          int64  `db:"create_time"`
	ExpirationTime      int64  `db:"expiration_time"`
	ScheduledCreateTime int64  `db:"scheduled_create_time"`
	Creator             string `db:"creator"`
	SchemaID            int64  `db:"schema_id"`
	State               string `db:"state"`
	GenerationTime      int64  `db:"generation_time"`
	MissedUpdateCount   int64  `db:"missed_update_count"`
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
		CreateTime:          fromMicros(r.CreateTime),
		ExpirationTime:      fromMicros(r.ExpirationTime),
		ScheduledCreateTime: fromMicros(r.ScheduledCreateTime),
		Creator:             r.Creator,
		SchemaID:            r.SchemaID,
		State:               r.State,
		GenerationTime:      fromMicros(r.GenerationTime),
		MissedUpdateCount:   r.MissedUpdateCount,
	}
}

// productColumns lists the columns read; withValue adds the value itself.
func productColumns(withValue bool) string {
	cols := `taskmanager_seq, key, first_gen, last_gen, encoding, compression, length(value) AS stored_size, raw_size,
		create_time, expiration_time, scheduled_create_time, creator, schema_id, state, generation_time, missed_update_count`
	if withValue {
		cols += `, value`
	}
	return cols
}

// ProductPut writes a batch of products into the newest generation, in one
// transaction.
func (s *DataSource) ProductPut(ctx context.Context, p *datasource.ProductPutParams) error {
	products, err := datasource.DedupeProducts(p.Products)
	if err != nil {
		return fmt.Errorf("put into taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	g := p.Generation
	closeStmt, err := s.writeStmt(ctx, `UPDATE product SET last_gen = ?
			WHERE taskmanager_seq = ? AND key = ? AND last_gen = ? AND first_gen < ?`)
	if err != nil {
		return fmt.Errorf("put into taskmanager %d gen %d: %w", p.TaskManagerSeq, g, interpretError(err))
	}
	insStmt, err := s.writeStmt(ctx, `INSERT INTO product (taskmanager_seq, key, first_gen, last_gen, encoding, compression,
			value, raw_size, create_time, expiration_time, scheduled_create_time, creator, schema_id, state, generation_time,
			missed_update_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (taskmanager_seq, key, first_gen) DO UPDATE SET encoding = excluded.encoding,
			compression = excluded.compression, value = excluded.value, raw_size = excluded.raw_size,
			create_time = excluded.create_time, expiration_time = excluded.expiration_time,
			scheduled_create_time = excluded.scheduled_create_time, creator = excluded.creator,
			schema_id = excluded.schema_id, state = excluded.state, generation_time = excluded.generation_time,
			missed_update_count = excluded.missed_update_count`)
	if err != nil {
		return fmt.Errorf("put into taskmanager %d gen %d: %w", p.TaskManagerSeq, g, interpretError(err))
	}
	err = s.writeTx(ctx, func(tx *sqlx.Tx) error {
		if err := lastGenerationMismatch(ctx, tx, p.TaskManagerSeq, g); err != nil {
			return err
		}
		closeStmt, insStmt := tx.StmtxContext(ctx, closeStmt), tx.StmtxContext(ctx, insStmt)
		for _, pr := range products {
			if _, err := closeStmt.ExecContext(ctx, g, p.TaskManagerSeq, pr.Key, datasource.OpenGeneration, g); err != nil {
				return fmt.Errorf("product %q: %w", pr.Key, interpretError(err))
			}
			value := pr.Value
			if value == nil {
				value = []byte{}
			}
			if _, err := insStmt.ExecContext(ctx, p.TaskManagerSeq, pr.Key, g, datasource.OpenGeneration, pr.Encoding, pr.Compression,
				value, pr.RawSize, micros(pr.CreateTime), micros(pr.ExpirationTime), micros(pr.ScheduledCreateTime),
				pr.Creator, pr.SchemaID, pr.State, micros(pr.GenerationTime), pr.MissedUpdateCount); err != nil {
				return fmt.Errorf("product %q: %w", pr.Key, interpretError(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %d products into taskmanager %d gen %d: %w", len(products), p.TaskManagerSeq, g, err)
	}
	return nil
}

// ProductGet returns the version of a product valid in a generation.
func (s *DataSource) ProductGet(ctx context.Context, p *datasource.ProductGetParams) (*datasource.Product, error) {
	var row productRow
	err := s.get(ctx, &row, `SELECT `+productColumns(!p.WithoutValue)+` FROM product
		WHERE taskmanager_seq = ? AND key = ? AND first_gen <= ? AND last_gen > ?
		AND `+generationExists+` ORDER BY first_gen DESC LIMIT 1`,
		p.TaskManagerSeq, p.Key, p.Generation, p.Generation, p.TaskManagerSeq, p.Generation)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("product %q in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, datasource.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get product %q in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	return row.toProduct(), nil
}

// ProductList returns the products valid in a generation, ordered by key.
func (s *DataSource) ProductList(ctx context.Context, p *datasource.ProductListParams) ([]*datasource.Product, error) {
	var rows []productRow
	err := s.sel(ctx, &rows, `SELECT `+productColumns(p.WithValues)+` FROM product
		WHERE taskmanager_seq = ? AND last_gen > ? AND first_gen <= ? AND `+generationExists+` ORDER BY key`,
		p.TaskManagerSeq, p.Generation, p.Generation, p.TaskManagerSeq, p.Generation)
	if err != nil {
		return nil, fmt.Errorf("list products of taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	return toProducts(rows), nil
}

// ProductHistory returns stored versions in insertion order.
func (s *DataSource) ProductHistory(ctx context.Context, p *datasource.ProductHistoryParams) ([]*datasource.Product, error) {
	q := `SELECT ` + productColumns(p.WithValues) + ` FROM product WHERE taskmanager_seq = ?`
	args := []any{p.TaskManagerSeq}
	if p.Key != "" {
		q += ` AND key = ?`
		args = append(args, p.Key)
	}
	var rows []productRow
	if err := s.sel(ctx, &rows, q+` ORDER BY id`, args...); err != nil {
		return nil, fmt.Errorf("product history of taskmanager %d: %w", p.TaskManagerSeq, interpretError(err))
	}
	return toProducts(rows), nil
}

// ProductExpired lists the products of a generation expired at p.At.
func (s *DataSource) ProductExpired(ctx context.Context, p *datasource.ProductExpiredParams) ([]*datasource.Product, error) {
	var rows []productRow
	err := s.sel(ctx, &rows, `SELECT `+productColumns(false)+` FROM product
		WHERE taskmanager_seq = ? AND last_gen > ? AND first_gen <= ? AND expiration_time <= ?
		AND `+generationExists+` ORDER BY key`,
		p.TaskManagerSeq, p.Generation, p.Generation, micros(p.At), p.TaskManagerSeq, p.Generation)
	if err != nil {
		return nil, fmt.Errorf("list expired products of taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	return toProducts(rows), nil
}

// ProductMarkExpired sets the expiration time of a product version.
func (s *DataSource) ProductMarkExpired(ctx context.Context, p *datasource.ProductMarkExpiredParams) error {
	res, err := s.w.ExecContext(ctx, `UPDATE product SET expiration_time = ?
		WHERE taskmanager_seq = ? AND key = ? AND first_gen <= ? AND last_gen > ? AND `+generationExists,
		micros(p.At), p.TaskManagerSeq, p.Key, p.Generation, p.Generation, p.TaskManagerSeq, p.Generation)
	if err != nil {
		return fmt.Errorf("mark product %q expired in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, interpretError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mark product %q expired in taskmanager %d gen %d: %w", p.Key, p.TaskManagerSeq, p.Generation, datasource.ErrNotFound)
	}
	return nil
}

// generationExists restricts a product query to a generation that exists
// (not beyond the newest, not deleted by retention); it takes the task
// manager sequence id and the generation as arguments.
const generationExists = `EXISTS (SELECT 1 FROM generation WHERE taskmanager_seq = ? AND generation = ?)`

func toProducts(rows []productRow) []*datasource.Product {
	out := make([]*datasource.Product, len(rows))
	for i := range rows {
		out[i] = rows[i].toProduct()
	}
	return out
}
