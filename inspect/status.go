package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ReaperStatus is what the reaper last recorded about itself.
type ReaperStatus struct {
	// Found is false when the reaper never recorded a report.
	Found bool `json:"found"`
	// Generation is the generation of ReaperName holding the report.
	Generation int64 `json:"generation,omitempty"`
	// Time is when the report was written.
	Time time.Time `json:"time,omitzero"`
	// State is the report's "state" field, when it has one.
	State string `json:"state,omitempty"`
	// Report is the last run report, as the reaper wrote it.
	Report json.RawMessage `json:"report,omitempty"`
}

// Status is the state of a whole dataspace.
type Status struct {
	// Now is when the status was taken.
	Now time.Time `json:"now"`
	// TaskManagers lists every task manager name, the reaper's included.
	TaskManagers []*TaskManager `json:"taskmanagers"`
	// Reaper is the reaper's last report.
	Reaper *ReaperStatus `json:"reaper"`
}

// Status reports the task managers with their last generation and cycle
// time, and the reaper's last run report (product ReaperReportKey of task
// manager ReaperName, read as plain JSON).
func (in *Inspector) Status(ctx context.Context) (*Status, error) {
	tms, err := in.TaskManagers(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Now: in.clock().UTC(), TaskManagers: tms, Reaper: &ReaperStatus{}}
	for _, tm := range tms {
		if tm.Name != ReaperName {
			continue
		}
		v, err := in.Product(ctx, &ProductParams{Name: ReaperName, Key: ReaperReportKey})
		if errors.Is(err, ErrProductNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the reaper's report: %w", err)
		}
		raw := v.JSON
		if v.Tabular {
			// A report is an object; an array of objects is shown whole.
			if raw, err = readJSON(v.stored); err != nil {
				return nil, fmt.Errorf("read the reaper's report: %w", err)
			}
		}
		st.Reaper = &ReaperStatus{Found: true, Generation: v.Block.Generation, Time: v.Product.Created, Report: raw}
		var fields struct {
			State any `json:"state"`
		}
		if json.Unmarshal(raw, &fields) == nil && fields.State != nil {
			st.Reaper.State = fmt.Sprint(fields.State)
		}
	}
	return st, nil
}
