package reaper

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
)

// TaskManagerName is the task manager whose DataBlock holds the reaper's
// run reports: one generation per recorded run.
const TaskManagerName = "strata.reaper"

// ReportKey is the product key of the run report in the reaper's DataBlock.
const ReportKey = "report"

// Removed counts what one kind of deletion removed (or, in a dry run,
// would remove).
type Removed struct {
	// Rows is the number of rows.
	Rows int64 `json:"rows"`
	// Bytes is the stored size of the values in those rows, where the kind
	// has values.
	Bytes int64 `json:"bytes"`
}

// ExpirerReport is what one Expirer removed in a run.
type ExpirerReport struct {
	// Name is the Expirer's Name().
	Name string `json:"name"`
	Removed
	// Error is the Expirer's error, if it failed.
	Error string `json:"error,omitempty"`
}

// Kind is one line of a report: a kind of data and what was removed of it.
type Kind struct {
	// Kind is "generations", "product_versions", "taskmanagers",
	// "expired_products" or "expirer:<name>".
	Kind string `json:"kind"`
	Removed
}

// Report describes one reaper run.
type Report struct {
	// Started is when the run began (by the reaper's clock).
	Started time.Time `json:"started"`
	// Finished is when the run ended.
	Finished time.Time `json:"finished"`
	// State is the reaper's state as the run ended: STEADY, ERROR when
	// part of the run failed, SHUTTINGDOWN when it was stopped.
	State State `json:"state"`
	// DryRun is set when the run only counted what it would delete.
	DryRun bool `json:"dry_run"`
	// Skipped is set when another reaper held the database's lock, so this
	// run did nothing.
	Skipped bool `json:"skipped"`
	// SkipReason says why the run was skipped.
	SkipReason string `json:"skip_reason,omitempty"`
	// RetentionSeconds is the retention the run applied.
	RetentionSeconds float64 `json:"retention_seconds"`
	// Horizon is Started minus the retention: generations created before
	// it may go.
	Horizon time.Time `json:"horizon"`
	// BatchSize bounds the rows deleted per transaction.
	BatchSize int `json:"batch_size"`

	// Generations counts the deleted generation rows.
	Generations Removed `json:"generations"`
	// ProductVersions counts the product versions deleted with their
	// generations, and their stored bytes.
	ProductVersions Removed `json:"product_versions"`
	// TaskManagers counts the task manager instances left with nothing and
	// deleted.
	TaskManagers Removed `json:"taskmanagers"`
	// ExpiredProducts counts the product versions deleted because they had
	// expired before the horizon and are no longer current. A dry run may
	// count here versions also counted in ProductVersions.
	ExpiredProducts Removed `json:"expired_products"`
	// Expirers reports each configured Expirer (events and the like).
	Expirers []ExpirerReport `json:"expirers,omitempty"`

	// Batches counts the delete transactions.
	Batches int `json:"batches"`
	// MaxBatchMS is the longest delete transaction, in milliseconds.
	MaxBatchMS float64 `json:"max_batch_ms"`
	// LastError is the run's error, if any part of it failed.
	LastError string `json:"last_error,omitempty"`
}

// Kinds lists what the run removed, one line per kind, Expirers last.
func (r *Report) Kinds() []Kind {
	out := []Kind{
		{"generations", r.Generations},
		{"product_versions", r.ProductVersions},
		{"taskmanagers", r.TaskManagers},
		{"expired_products", r.ExpiredProducts},
	}
	for _, e := range r.Expirers {
		out = append(out, Kind{"expirer:" + e.Name, e.Removed})
	}
	return out
}

// Rows is the total number of rows the run removed.
func (r *Report) Rows() int64 {
	var n int64
	for _, k := range r.Kinds() {
		n += k.Rows
	}
	return n
}

// Bytes is the total stored size of the values the run removed.
func (r *Report) Bytes() int64 {
	var n int64
	for _, k := range r.Kinds() {
		n += k.Bytes
	}
	return n
}

// Duration is how long the run took.
func (r *Report) Duration() time.Duration { return r.Finished.Sub(r.Started) }

func (r *Report) noteBatch(d time.Duration) {
	r.Batches++
	r.MaxBatchMS = max(r.MaxBatchMS, float64(d)/float64(time.Millisecond))
}

// record stores rep as the product ReportKey of a new generation of the
// task manager TaskManagerName (generation 1 holds the first report).
func (r *Reaper) record(ctx context.Context, rep *Report) error {
	opts := r.space.Config().Block
	opts.Clock = r.cfg.Clock.Now
	b, err := datablock.Open(ctx, r.space.DataSource(), TaskManagerName, &opts)
	if err != nil {
		return fmt.Errorf("record reaper report: %w", err)
	}
	has, err := b.Has(ctx, ReportKey)
	if err != nil {
		return fmt.Errorf("record reaper report: %w", err)
	}
	if has {
		if b, err = b.Duplicate(ctx); err != nil {
			return fmt.Errorf("record reaper report: %w", err)
		}
	}
	if err := b.Put(ctx, ReportKey, rep); err != nil {
		return fmt.Errorf("record reaper report: %w", err)
	}
	return nil
}

// LastReport returns the report of the last recorded reaper run in space.
// When no run was recorded the error wraps datasource.ErrNotFound.
func LastReport(ctx context.Context, space *dataspace.DataSpace) (*Report, error) {
	tm, err := space.TaskManager(ctx, TaskManagerName)
	if err != nil {
		return nil, fmt.Errorf("last reaper report: %w", err)
	}
	opts := space.Config().Block
	b, err := datablock.Load(ctx, space.DataSource(), tm, tm.LastGeneration, &opts)
	if err != nil {
		return nil, fmt.Errorf("last reaper report: %w", err)
	}
	rep, err := datablock.Get[Report](ctx, b, ReportKey)
	if err != nil {
		return nil, fmt.Errorf("last reaper report: %w", err)
	}
	return &rep, nil
}
