package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

type generationRow struct {
	TaskManagerSeq int64         `db:"taskmanager_seq"`
	Number         int64         `db:"generation"`
	CreatedAt      int64         `db:"created_at"`
	SealedAt       sql.NullInt64 `db:"sealed_at"`
}

func (r *generationRow) toGeneration() *datasource.Generation {
	return &datasource.Generation{
		TaskManagerSeq: r.TaskManagerSeq,
		Number:         r.Number,
		CreatedAt:      fromMicros(r.CreatedAt),
		SealedAt:       fromMicros(r.SealedAt.Int64),
	}
}

// GenerationDuplicate seals p.Generation and opens the next one; it touches
// no product row.
func (s *DataSource) GenerationDuplicate(ctx context.Context, p *datasource.GenerationDuplicateParams) (*datasource.Generation, error) {
	if p.At.IsZero() {
		return nil, fmt.Errorf("duplicate taskmanager %d gen %d: %w: time is required", p.TaskManagerSeq, p.Generation, datasource.ErrInvalid)
	}
	at := micros(p.At)
	next := p.Generation + 1
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE taskmanager SET last_generation = ? WHERE sequence_id = ? AND last_generation = ?`,
			next, p.TaskManagerSeq, p.Generation)
		if err != nil {
			return interpretError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return lastGenerationMismatch(ctx, tx, p.TaskManagerSeq, p.Generation)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE generation SET sealed_at = ? WHERE taskmanager_seq = ? AND generation = ?`,
			at, p.TaskManagerSeq, p.Generation); err != nil {
			return interpretError(err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO generation (taskmanager_seq, generation, created_at) VALUES (?, ?, ?)`,
			p.TaskManagerSeq, next, at)
		return interpretError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("duplicate taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	return &datasource.Generation{TaskManagerSeq: p.TaskManagerSeq, Number: next, CreatedAt: fromMicros(at)}, nil
}

// lastGenerationMismatch explains why generation gen of an instance is not
// writable: the instance is missing (ErrNotFound) or gen is not its newest
// generation (ErrSealed).
func lastGenerationMismatch(ctx context.Context, q sqlx.QueryerContext, seq, gen int64) error {
	var last int64
	err := sqlx.GetContext(ctx, q, &last, `SELECT last_generation FROM taskmanager WHERE sequence_id = ?`, seq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("taskmanager %d: %w", seq, datasource.ErrNotFound)
	}
	if err != nil {
		return interpretError(err)
	}
	if gen == last {
		return nil
	}
	return fmt.Errorf("%w: generation %d is not the newest (%d): write to the newest generation", datasource.ErrSealed, gen, last)
}

// GenerationGet returns one generation.
func (s *DataSource) GenerationGet(ctx context.Context, seq, gen int64) (*datasource.Generation, error) {
	var row generationRow
	err := s.get(ctx, &row, `SELECT taskmanager_seq, generation, created_at, sealed_at FROM generation
		WHERE taskmanager_seq = ? AND generation = ?`, seq, gen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("taskmanager %d gen %d: %w", seq, gen, datasource.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get taskmanager %d gen %d: %w", seq, gen, interpretError(err))
	}
	return row.toGeneration(), nil
}

// GenerationLatest returns the newest generation of an instance.
func (s *DataSource) GenerationLatest(ctx context.Context, seq int64) (int64, error) {
	var last int64
	err := s.get(ctx, &last, `SELECT last_generation FROM taskmanager WHERE sequence_id = ?`, seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("last generation of taskmanager %d: %w", seq, datasource.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("last generation of taskmanager %d: %w", seq, interpretError(err))
	}
	return last, nil
}

// GenerationList pages through an instance's generations, oldest first.
func (s *DataSource) GenerationList(ctx context.Context, p *datasource.GenerationListParams) ([]*datasource.Generation, error) {
	limit := int64(p.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var rows []generationRow
	err := s.sel(ctx, &rows, `SELECT taskmanager_seq, generation, created_at, sealed_at FROM generation
		WHERE taskmanager_seq = ? AND generation > ? ORDER BY generation LIMIT ?`, p.TaskManagerSeq, p.After, limit)
	if err != nil {
		return nil, fmt.Errorf("list generations of taskmanager %d: %w", p.TaskManagerSeq, interpretError(err))
	}
	out := make([]*datasource.Generation, len(rows))
	for i := range rows {
		out[i] = rows[i].toGeneration()
	}
	return out, nil
}
