package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/strata-dataspace/strata/datasource"
)

type taskManagerRow struct {
	SequenceID     int64  `db:"sequence_id"`
	TaskManagerID  string `db:"taskmanager_id"`
	Name           string `db:"name"`
	Datestamp      int64  `db:"datestamp"`
	LastGeneration int64  `db:"last_generation"`
}

func (r *taskManagerRow) toTaskManager() *datasource.TaskManager {
	return &datasource.TaskManager{
		SequenceID:     r.SequenceID,
		TaskManagerID:  r.TaskManagerID,
		Name:           r.Name,
		Datestamp:      fromMicros(r.Datestamp),
		LastGeneration: r.LastGeneration,
	}
}

const taskManagerColumns = `sequence_id, taskmanager_id, name, datestamp, last_generation`

// TaskManagerStore records a new instance with generation 1 open.
func (s *DataSource) TaskManagerStore(ctx context.Context, p *datasource.TaskManagerStoreParams) (*datasource.TaskManager, error) {
	if p.Name == "" || p.TaskManagerID == "" || p.Datestamp.IsZero() {
		return nil, fmt.Errorf("store taskmanager %q: %w: name, id and datestamp are required", p.Name, datasource.ErrInvalid)
	}
	row := taskManagerRow{TaskManagerID: p.TaskManagerID, Name: p.Name, Datestamp: micros(p.Datestamp), LastGeneration: 1}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO taskmanager (taskmanager_id, name, datestamp, last_generation) VALUES (?, ?, ?, 1)`,
			row.TaskManagerID, row.Name, row.Datestamp)
		if err != nil {
			return interpretError(err)
		}
		if row.SequenceID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO generation (taskmanager_seq, generation, created_at) VALUES (?, 1, ?)`,
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
	var (
		row taskManagerRow
		err error
	)
	if p.TaskManagerID != "" {
		err = s.get(ctx, &row, `SELECT `+taskManagerColumns+` FROM taskmanager WHERE name = ? AND taskmanager_id = ?`,
			p.Name, p.TaskManagerID)
	} else {
		err = s.get(ctx, &row, `SELECT `+taskManagerColumns+` FROM taskmanager WHERE name = ?
			ORDER BY datestamp DESC, sequence_id DESC LIMIT 1`, p.Name)
	}
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

// TaskManagerList lists instances ordered by datestamp.
func (s *DataSource) TaskManagerList(ctx context.Context, p *datasource.TaskManagerListParams) ([]*datasource.TaskManager, error) {
	var (
		where []string
		args  []any
	)
	if p.Name != "" {
		where, args = append(where, "name = ?"), append(args, p.Name)
	}
	if !p.Start.IsZero() {
		where, args = append(where, "datestamp >= ?"), append(args, micros(p.Start))
	}
	if !p.End.IsZero() {
		where, args = append(where, "datestamp <= ?"), append(args, micros(p.End))
	}
	q := `SELECT ` + taskManagerColumns + ` FROM taskmanager`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY datestamp, sequence_id`
	var rows []taskManagerRow
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list taskmanagers: %w", interpretError(err))
	}
	out := make([]*datasource.TaskManager, len(rows))
	for i := range rows {
		out[i] = rows[i].toTaskManager()
	}
	return out, nil
}
