package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

type generationRow struct {
	TaskManagerSeq int64        `db:"taskmanager_seq"`
	Number         int64        `db:"generation"`
	CreatedAt      time.Time    `db:"created_at"`
	SealedAt       sql.NullTime `db:"sealed_at"`
}

func (r *generationRow) toGeneration() *datasource.Generation {
	g := &datasource.Generation{
		TaskManagerSeq: r.TaskManagerSeq,
		Number:         r.Number,
		CreatedAt:      fromTS(r.CreatedAt),
	}
	if r.SealedAt.Valid {
		g.SealedAt = fromTS(r.SealedAt.Time)
	}
	return g
}

const generationColumns = `taskmanager_seq, generation, created_at, sealed_at`

// GenerationDuplicate seals p.Generation and opens the next one in one
// transaction; it touches no product row, so it takes constant time.
func (s *DataSource) GenerationDuplicate(ctx context.Context, p *datasource.GenerationDuplicateParams) (*datasource.Generation, error) {
	if p.At.IsZero() {
		return nil, fmt.Errorf("duplicate taskmanager %d gen %d: %w: time is required", p.TaskManagerSeq, p.Generation, datasource.ErrInvalid)
	}
	at := ts(p.At)
	next := p.Generation + 1
	err := s.inTx(ctx, "duplicate generation", func(tx *sqlx.Tx) error {
		// The row lock taken here makes a concurrent duplicate of the same
		// generation wait, then find last_generation moved on.
		res, err := tx.ExecContext(ctx, `UPDATE taskmanager SET last_generation = last_generation + 1
			WHERE sequence_id = $1 AND last_generation = $2`, p.TaskManagerSeq, p.Generation)
		if err != nil {
			return interpretError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return lastGenerationMismatch(ctx, tx, p.TaskManagerSeq, p.Generation, false)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE generation SET sealed_at = $3 WHERE taskmanager_seq = $1 AND generation = $2`,
			p.TaskManagerSeq, p.Generation, at); err != nil {
			return interpretError(err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO generation (taskmanager_seq, generation, created_at) VALUES ($1, $2, $3)`,
			p.TaskManagerSeq, next, at)
		return interpretError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("duplicate taskmanager %d gen %d: %w", p.TaskManagerSeq, p.Generation, err)
	}
	return &datasource.Generation{TaskManagerSeq: p.TaskManagerSeq, Number: next, CreatedAt: at}, nil
}

// lastGenerationMismatch checks that gen is the newest generation of an
// instance. It returns nil if so, an error wrapping ErrNotFound when the
// instance is missing and one wrapping ErrSealed when gen is not its newest
// generation. With share (q must then be a transaction) it locks the
// instance's row FOR SHARE until the end of the transaction, so that no
// duplicate seals gen meanwhile.
func lastGenerationMismatch(ctx context.Context, q sqlx.QueryerContext, seq, gen int64, share bool) error {
	query := `SELECT last_generation FROM taskmanager WHERE sequence_id = $1`
	if share {
		query += ` FOR SHARE`
	}
	var last int64
	err := sqlx.GetContext(ctx, q, &last, query, seq)
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
	err := s.retry(ctx, "get generation", func() error {
		return s.get(ctx, &row, `SELECT `+generationColumns+` FROM generation
			WHERE taskmanager_seq = $1 AND generation = $2`, seq, gen)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("taskmanager %d gen %d: %w", seq, gen, datasource.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get taskmanager %d gen %d: %w", seq, gen, interpretError(err))
	}
	return row.toGeneration(), nil
}

// GenerationLatest returns the newest generation of an instance: one
// primary-key lookup.
func (s *DataSource) GenerationLatest(ctx context.Context, seq int64) (int64, error) {
	var last int64
	err := s.retry(ctx, "last generation", func() error {
		return s.get(ctx, &last, `SELECT last_generation FROM taskmanager WHERE sequence_id = $1`, seq)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("last generation of taskmanager %d: %w", seq, datasource.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("last generation of taskmanager %d: %w", seq, interpretError(err))
	}
	return last, nil
}

// GenerationList pages through an instance's generations, oldest first. An
// unknown instance has none.
func (s *DataSource) GenerationList(ctx context.Context, p *datasource.GenerationListParams) ([]*datasource.Generation, error) {
	var limit sql.NullInt64 // NULL: LIMIT ALL
	if p.Limit > 0 {
		limit = sql.NullInt64{Int64: int64(p.Limit), Valid: true}
	}
	var rows []generationRow
	err := s.retry(ctx, "list generations", func() error {
		rows = rows[:0]
		return s.db.SelectContext(ctx, &rows, `SELECT `+generationColumns+` FROM generation
			WHERE taskmanager_seq = $1 AND generation > $2 ORDER BY generation LIMIT $3`, p.TaskManagerSeq, p.After, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("list generations of taskmanager %d: %w", p.TaskManagerSeq, interpretError(err))
	}
	out := make([]*datasource.Generation, len(rows))
	for i := range rows {
		out[i] = rows[i].toGeneration()
	}
	return out, nil
}
