package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

type taskManagerRow struct {
	SequenceID     int64     `db:"sequence_id"`
	TaskManagerID  string    `db:"taskmanager_id"`
	Name           string    `db:"name"`
	Datestamp      time.Time `db:"datestamp"`
	LastGeneration int64     `db:"last_generation"`
}

func (r *taskManagerRow) toTaskManager() *datasource.TaskManager {
	return &datasource.TaskManager{
		SequenceID:     r.SequenceID,
		TaskManagerID:  r.TaskManagerID,
		Name:           r.Name,
		Datestamp:      fromTS(r.Datestamp),
		LastGeneration: r.LastGeneration,
	}
}

const taskManagerColumns = `sequence_id, taskmanager_id, name, datestamp, last_generation`

// TaskManagerStore records a new instance with generation 1 open, in one
// transaction.
func (s *DataSource) TaskManagerStore(ctx context.Context, p *datasource.TaskManagerStoreParams) (*datasource.TaskManager, error) {
	if p.Name == "" || p.TaskManagerID == "" || p.Datestamp.IsZero() {
		return nil, fmt.Errorf("store taskmanager %q: %w: name, id and datestamp are required", p.Name, datasource.ErrInvalid)
	}
	row := taskManagerRow{TaskManagerID: p.TaskManagerID, Name: p.Name, Datestamp: ts(p.Datestamp), LastGeneration: 1}
	err := s.inTx(ctx, "store taskmanager", func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &row.SequenceID, `INSERT INTO taskmanager (taskmanager_id, name, datestamp, last_generation)
			VALUES ($1, $2, $3, 1) RETURNING sequence_id`, row.TaskManagerID, row.Name, row.Datestamp)
		if err != nil {
			return interpretError(err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO generation (taskmanager_seq, generation, created_at) VALUES ($1, 1, $2)`,
			row.SequenceID, row.Datestamp)
		return interpretError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("store taskmanager %q (%s): %w", p.Name, p.TaskManagerID, err)
	}
	return row.toTaskManager(), nil
}

// TaskManagerGet returns the instance with the given id, or the newest
// instance of the name.
func (s *DataSource) TaskManagerGet(ctx context.Context, p *datasource.TaskManagerGetParams) (*datasource.TaskManager, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("get taskmanager: %w: name is required", datasource.ErrInvalid)
	}
	var row taskManagerRow
	err := s.retry(ctx, "get taskmanager", func() error {
		if p.TaskManagerID != "" {
			return s.get(ctx, &row, `SELECT `+taskManagerColumns+` FROM taskmanager
				WHERE name = $1 AND taskmanager_id = $2`, p.Name, p.TaskManagerID)
		}
		return s.get(ctx, &row, `SELECT `+taskManagerColumns+` FROM taskmanager
			WHERE name = $1 ORDER BY datestamp DESC, sequence_id DESC LIMIT 1`, p.Name)
	})
	if errors.Is(err, sql.ErrNoRows) {
		if p.TaskManagerID != "" {
			return nil, fmt.Errorf("taskmanager %q id %s: %w", p.Name, p.TaskManagerID, datasource.ErrNotFound)
		}
		return nil, fmt.Errorf("taskmanager %q: %w", p.Name, datasource.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get taskmanager %q: %w", p.Name, interpretError(err))
	}
	return row.toTaskManager(), nil
}

// TaskManagerList lists instances ordered by datestamp, then sequence id.
func (s *DataSource) TaskManagerList(ctx context.Context, p *datasource.TaskManagerListParams) ([]*datasource.TaskManager, error) {
	var (
		where []string
		args  []any
	)
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if p.Name != "" {
		arg("name = $%d", p.Name)
	}
	if !p.Start.IsZero() {
		arg("datestamp >= $%d", ts(p.Start))
	}
	if !p.End.IsZero() {
		arg("datestamp <= $%d", ts(p.End))
	}
	q := `SELECT ` + taskManagerColumns + ` FROM taskmanager`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY datestamp, sequence_id`
	var rows []taskManagerRow
	err := s.retry(ctx, "list taskmanagers", func() error {
		rows = rows[:0]
		return s.db.SelectContext(ctx, &rows, q, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("list taskmanagers: %w", interpretError(err))
	}
	out := make([]*datasource.TaskManager, len(rows))
	for i := range rows {
		out[i] = rows[i].toTaskManager()
	}
	return out, nil
}
