// Package reaper enforces retention on a DataSpace: a goroutine that,
// after a start delay and then every interval, deletes the sealed
// generations older than the retention (the newest generation of every
// task manager always stays), the product versions only they used, task
// manager instances left with nothing, product versions that expired
// before the retention horizon and are no longer current, and whatever the
// configured Expirers (events) expire. Deletes run in bounded batches, one
// short transaction each. Every run yields a Report, which is also stored
// as the product "report" of the task manager "strata.reaper".
//
// The loop only ticks; the work is RunOnce, which tests and `strata reaper
// --once` call directly. A run holds a lock, so only one reaper works on a
// database at a time, whatever process or host it runs in: an advisory
// lock on PostgreSQL, an flock on the file beside a SQLite database (see
// LockFileSuffix). Another reaper's run is skipped and reported as such.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
)

// Defaults and safety floors. The floors are the original decision
// engine's: retention of at least 7 days and at least 2×59 minutes between
// runs.
const (
	// RetentionDefault is the retention when Config.Retention is zero.
	RetentionDefault = 365 * 24 * time.Hour
	// IntervalDefault is the time between runs when Config.Interval is zero.
	IntervalDefault = 24 * time.Hour
	// RetryDelayDefault is the wait after a first failed run when
	// Config.RetryDelay is zero; it doubles with each further failure, up
	// to the interval.
	RetryDelayDefault = time.Minute
	// RetentionFloor is the shortest retention allowed without
	// Config.AllowBelowFloor.
	RetentionFloor = 7 * 24 * time.Hour
	// IntervalFloor is the shortest interval allowed without
	// Config.AllowBelowFloor.
	IntervalFloor = 7080 * time.Second
)

// Sentinel errors.
var (
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("reaper: invalid configuration")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("reaper: already started")
	// ErrStopped is returned by Start after Stop.
	ErrStopped = errors.New("reaper: stopped")
)

// State is where a reaper is in its life, as in the original decision
// engine. It shares its names with taskmanager.State but not all their
// meanings: here ERROR is a failed run waiting for its retry, not a stop,
// and IDLE is the start delay; a reaper is never OFFLINE.
type State string

// The reaper's states.
const (
	// StateBoot: created, not started.
	StateBoot State = "BOOT"
	// StateIdle: started, waiting for the start delay.
	StateIdle State = "IDLE"
	// StateActive: a run is in progress.
	StateActive State = "ACTIVE"
	// StateSteady: the last run succeeded; waiting for the next.
	StateSteady State = "STEADY"
	// StateShuttingDown: Stop was called; the loop is ending.
	StateShuttingDown State = "SHUTTINGDOWN"
	// StateShutdown: the loop has ended.
	StateShutdown State = "SHUTDOWN"
	// StateError: the last run failed; waiting to retry with backoff.
	StateError State = "ERROR"
)

// Expirer removes expired data the reaper does not know about itself, such
// as events, in the same run. Expire deletes what expired at or before now,
// at most batch rows per transaction, or only counts it when dryRun is
// set, and returns the rows and value bytes removed.
type Expirer interface {
	// Name names the Expirer in reports and logs.
	Name() string
	// Expire removes (or counts) what expired at or before now.
	Expire(ctx context.Context, now time.Time, batch int, dryRun bool) (rows, bytes int64, err error)
}

// Config configures a Reaper. Zero values mean the defaults.
type Config struct {
	// Retention is how long generations are kept. Zero means
	// RetentionDefault; less than RetentionFloor is an error unless
	// AllowBelowFloor.
	Retention time.Duration
	// Interval is the time between runs. Zero means IntervalDefault; less
	// than IntervalFloor is an error unless AllowBelowFloor.
	Interval time.Duration
	// StartDelay is the delay a caller should pass to Start (the
	// original's reaper_start_delay_seconds). Zero means none.
	StartDelay time.Duration
	// RetryDelay is the wait after a failed run; it doubles with each
	// consecutive failure, up to Interval. Zero means RetryDelayDefault.
	RetryDelay time.Duration
	// BatchSize bounds the rows deleted per transaction. Zero means
	// datasource.DeleteBatchSizeDefault.
	BatchSize int
	// DryRun makes runs count what they would delete without deleting it
	// (or recording a report).
	DryRun bool
	// Clock tells the time and wakes the loop. Nil means SystemClock.
	Clock Clock
	// Logger gets the reaper's logs. Nil discards them.
	Logger hclog.Logger
	// AllowBelowFloor lifts the safety floors. For tests only.
	AllowBelowFloor bool
	// Expirers run after the reaper's own deletions, in order.
	Expirers []Expirer
	// OnRun, when set, is called after every run (from the loop or
	// RunOnce) with its report and error, e.g. to print or export it. It
	// must not call RunOnce.
	OnRun func(rep *Report, err error)
}

// ConfigFrom takes the reaper settings of a dataspace configuration (the
// original's retention_interval_in_days, reaper_run_interval and
// reaper_start_delay_seconds, or duration strings).
func ConfigFrom(c dataspace.Config) Config {
	return Config{Retention: c.Retention, Interval: c.ReaperInterval, StartDelay: c.ReaperStartDelay}
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Retention < 0 || c.Interval < 0 || c.StartDelay < 0 || c.RetryDelay < 0 || c.BatchSize < 0 {
		return c, fmt.Errorf("%w: retention, interval, start delay, retry delay and batch size must not be negative", ErrConfig)
	}
	if c.Retention == 0 {
		c.Retention = RetentionDefault
	}
	if c.Interval == 0 {
		c.Interval = IntervalDefault
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = RetryDelayDefault
	}
	if c.BatchSize == 0 {
		c.BatchSize = datasource.DeleteBatchSizeDefault
	}
	if !c.AllowBelowFloor {
		if c.Retention < RetentionFloor {
			return c, fmt.Errorf("%w: retention_interval_in_days (retention) is %s, below the floor of 7 days (%s): set it to at least 7",
				ErrConfig, c.Retention, RetentionFloor)
		}
		if c.Interval < IntervalFloor {
			return c, fmt.Errorf("%w: reaper_run_interval (interval) is %s, below the floor of 7080 seconds (%s): set it to at least 7080",
				ErrConfig, c.Interval, IntervalFloor)
		}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	for i, e := range c.Expirers {
		if e == nil {
			return c, fmt.Errorf("%w: expirer %d is nil", ErrConfig, i)
		}
	}
	return c, nil
}

// Status is a snapshot of a reaper.
type Status struct {
	// State is the reaper's state.
	State State `json:"state"`
	// Runs counts the runs finished since New.
	Runs int64 `json:"runs"`
	// Failures counts the consecutive failed runs.
	Failures int `json:"failures"`
	// NextRun is when the loop runs next; zero when it is not waiting.
	NextRun time.Time `json:"next_run,omitzero"`
	// LastReport is the last run's report, nil before the first.
	LastReport *Report `json:"last_report,omitempty"`
}

// Reaper deletes data past the retention of a DataSpace. Create it with
// New; it is safe for concurrent use.
type Reaper struct {
	space *dataspace.DataSpace
	cfg   Config
	log   hclog.Logger

	runMu sync.Mutex // one run at a time

	mu       sync.Mutex
	state    State
	started  bool
	stopped  bool
	cancel   context.CancelFunc
	done     chan struct{}
	runs     int64
	failures int
	nextRun  time.Time
	last     *Report
}

// New returns a reaper of space in state BOOT. A nil cfg means the
// defaults. Invalid settings, including values below the safety floors,
// are an error naming the setting.
func New(space *dataspace.DataSpace, cfg *Config) (*Reaper, error) {
	if space == nil {
		return nil, fmt.Errorf("%w: the dataspace is nil", ErrConfig)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Reaper{space: space, cfg: c, log: c.Logger.Named("reaper"), state: StateBoot}, nil
}

// Config returns the reaper's configuration, defaults filled in.
func (r *Reaper) Config() Config { return r.cfg }

// Start starts the loop and returns at once: the first run comes after
// delay, the next ones every Interval (after a failure, sooner, with
// backoff). The loop ends when ctx is cancelled or Stop is called. A second
// Start is an error, as is a Start after Stop.
func (r *Reaper) Start(ctx context.Context, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("start reaper: %w: start delay %s is negative", ErrConfig, delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return fmt.Errorf("start reaper: %w", ErrStopped)
	}
	if r.started {
		return fmt.Errorf("start reaper: %w", ErrStarted)
	}
	lctx, cancel := context.WithCancel(ctx)
	r.started, r.cancel, r.done = true, cancel, make(chan struct{})
	r.state = StateIdle
	r.nextRun = r.cfg.Clock.Now().Add(delay)
	go r.loop(lctx, delay)
	return nil
}

// Stop ends the loop, cancelling a run in progress, and waits for it. It
// is safe to call twice, and before Start.
func (r *Reaper) Stop() {
	r.mu.Lock()
	r.stopped = true
	if !r.started {
		r.state = StateShutdown
		r.mu.Unlock()
		return
	}
	if r.state != StateShutdown {
		r.state = StateShuttingDown
	}
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	cancel()
	<-done
}

// Status returns the reaper's state, counters and last report.
func (r *Reaper) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{State: r.state, Runs: r.runs, Failures: r.failures, NextRun: r.nextRun, LastReport: r.last}
}

func (r *Reaper) loop(ctx context.Context, delay time.Duration) {
	defer close(r.done)
	defer func() {
		r.mu.Lock()
		r.state, r.nextRun = StateShutdown, time.Time{}
		r.mu.Unlock()
		r.log.Debug("reaper loop stopped")
	}()
	r.log.Debug("reaper loop started", "delay", delay, "interval", r.cfg.Interval, "retention", r.cfg.Retention)
	wait := delay
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.Clock.After(wait):
		}
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.nextRun = time.Time{}
		r.mu.Unlock()
		_, err := r.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		if err != nil {
			wait = r.cfg.RetryDelay
			for i := 1; i < r.failures && wait < r.cfg.Interval; i++ {
				wait *= 2
			}
			wait = min(wait, r.cfg.Interval)
			r.log.Error("reaper run failed, retrying", "error", err, "failures", r.failures, "retry_in", wait)
		} else {
			wait = r.cfg.Interval
		}
		r.nextRun = r.cfg.Clock.Now().Add(wait)
		r.mu.Unlock()
	}
}

// RunOnce runs the reaper once, now: it deletes (or, in a dry run, counts)
// what retention no longer keeps, runs the Expirers and records the report
// (except in a dry run or when skipped). When ctx is cancelled the run
// stops between batches and reports what it did so far. The returned
// report is never nil; the error joins every part that failed.
func (r *Reaper) RunOnce(ctx context.Context) (*Report, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	r.setState(StateActive)

	now := r.cfg.Clock.Now()
	rep := &Report{
		Started:          now,
		DryRun:           r.cfg.DryRun,
		RetentionSeconds: r.cfg.Retention.Seconds(),
		Horizon:          now.Add(-r.cfg.Retention),
		BatchSize:        r.cfg.BatchSize,
	}
	// The lock covers the recording too, so that two reapers never add
	// report generations at once.
	unlock, locked, err := r.lock(ctx)
	if err == nil && !locked {
		rep.Skipped = true
		rep.SkipReason = "another reaper holds the lock on this database"
	}
	if locked {
		err = r.run(ctx, rep)
	}
	rep.Finished = r.cfg.Clock.Now()
	if err != nil {
		rep.LastError = err.Error()
	}
	rep.State = r.stateAfter(err)
	if !rep.Skipped && !rep.DryRun {
		// A cancelled run still records what it did.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if rerr := r.record(rctx, rep); rerr != nil {
			err = errors.Join(err, rerr)
			rep.LastError = err.Error()
			rep.State = r.stateAfter(err)
		}
		cancel()
	}
	if locked {
		unlock()
	}

	r.mu.Lock()
	r.runs++
	r.last = rep
	if err != nil {
		r.failures++
	} else {
		r.failures = 0
	}
	r.mu.Unlock()
	r.setState(rep.State)

	switch {
	case rep.Skipped:
		r.log.Info("reaper run skipped", "reason", rep.SkipReason)
	case err == nil && rep.Rows() > 0:
		r.log.Info("reaped", "dry_run", rep.DryRun, "rows", rep.Rows(), "bytes", rep.Bytes(),
			"generations", rep.Generations.Rows, "product_versions", rep.ProductVersions.Rows,
			"taskmanagers", rep.TaskManagers.Rows, "expired_products", rep.ExpiredProducts.Rows,
			"horizon", rep.Horizon, "seconds", rep.Duration().Seconds())
	}
	if r.cfg.OnRun != nil {
		r.cfg.OnRun(rep, err)
	}
	return rep, err
}

// stateAfter is the state a run that ended with err leaves the reaper in.
func (r *Reaper) stateAfter(err error) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.state == StateShuttingDown || r.state == StateShutdown:
		return r.state
	case err != nil:
		return StateError
	}
	return StateSteady
}

func (r *Reaper) setState(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateShuttingDown && r.state != StateShutdown {
		r.state = s
	}
}

// run does the work of one run into rep, under the lock.
func (r *Reaper) run(ctx context.Context, rep *Report) error {
	var errs []error
	res, err := r.space.DataSource().DataDeleteBefore(ctx, &datasource.DataDeleteParams{
		Horizon: rep.Horizon, BatchSize: rep.BatchSize, DryRun: rep.DryRun,
	})
	if res != nil {
		rep.Generations.Rows += res.Generations
		rep.ProductVersions.Rows += res.ProductVersions
		rep.ProductVersions.Bytes += res.ProductBytes
		rep.TaskManagers.Rows += res.TaskManagers
		rep.Batches += res.Batches
		rep.MaxBatchMS = max(rep.MaxBatchMS, float64(res.MaxBatch)/float64(time.Millisecond))
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("reap generations: %w", err))
	}
	if ctx.Err() == nil {
		if err := r.deleteExpired(ctx, rep); err != nil {
			errs = append(errs, fmt.Errorf("reap expired products: %w", err))
		}
	}
	for _, e := range r.cfg.Expirers {
		if ctx.Err() != nil {
			break
		}
		er := ExpirerReport{Name: e.Name()}
		er.Rows, er.Bytes, err = e.Expire(ctx, rep.Started, rep.BatchSize, rep.DryRun)
		if err != nil {
			er.Error = err.Error()
			errs = append(errs, fmt.Errorf("expirer %s: %w", er.Name, err))
		}
		rep.Expirers = append(rep.Expirers, er)
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("reaper run interrupted: %w", err))
	}
	return errors.Join(errs...)
}
