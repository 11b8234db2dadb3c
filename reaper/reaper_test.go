package reaper_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/clock/clocktest"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/reaper"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const day = 24 * time.Hour

// t0 is when the test data begins.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// backends gives each test a fresh database URL per backend.
var backends = []struct {
	name string
	url  func(tb testing.TB) string
}{
	{"SQLite", func(tb testing.TB) string { return "sqlite://" + filepath.Join(tb.TempDir(), "strata.db") }},
	{"PostgreSQL", func(tb testing.TB) string { return pgtest.NewDatabase(tb) }},
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Debug})
}

func openSpace(t *testing.T, url string) *dataspace.DataSpace {
	t.Helper()
	s, err := dataspace.Open(context.Background(), url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// seed writes a task manager instance of gens generations, one day apart
// from the clock's time on: generation 1 holds p0..p(products-1), each later
// one rewrites p0. It leaves the clock at the newest generation's time.
func seed(t *testing.T, s *dataspace.DataSpace, clk *clocktest.Clock, name string, gens, products int) *datablock.DataBlock {
	t.Helper()
	ctx := context.Background()
	b, err := datablock.New(ctx, s.DataSource(), name, &datablock.Options{Clock: clk.Now})
	require.NoError(t, err)
	items := make([]datablock.Item, products)
	for i := range items {
		items[i] = datablock.Item{Key: fmt.Sprintf("p%d", i), Value: fmt.Sprintf("%s-g1-%d", name, i)}
	}
	require.NoError(t, b.PutItems(ctx, items...))
	for g := 2; g <= gens; g++ {
		clk.Advance(day)
		b, err = b.Duplicate(ctx)
		require.NoError(t, err)
		require.NoError(t, b.Put(ctx, "p0", fmt.Sprintf("%s-g%d-0", name, g)))
	}
	return b
}

// scenario is a dataspace at t0+30d holding:
//   - "a" instance 1, three generations from t0 (not the newest "a": goes whole);
//   - "a" instance 2, three generations from t0+3d (keeps only generation 3);
//   - "fresh", two generations from t0+25d (untouched).
//
// With a retention of 7 days a run removes 5 generations, 7 product
// versions and 1 instance.
type scenario struct {
	space *dataspace.DataSpace
	clk   *clocktest.Clock
	live  *datablock.DataBlock
	fresh *datablock.DataBlock
}

func newScenario(t *testing.T, url string) *scenario {
	t.Helper()
	s := openSpace(t, url)
	clk := clocktest.New(t0)
	seed(t, s, clk, "a", 3, 3)
	clk.Advance(day)
	live := seed(t, s, clk, "a", 3, 3)
	clk.Advance(t0.Add(25 * day).Sub(clk.Now()))
	fresh := seed(t, s, clk, "fresh", 2, 3)
	clk.Advance(t0.Add(30 * day).Sub(clk.Now()))
	return &scenario{space: s, clk: clk, live: live, fresh: fresh}
}

func (sc *scenario) reaper(t *testing.T, cfg reaper.Config) *reaper.Reaper {
	t.Helper()
	if cfg.Retention == 0 {
		cfg.Retention = 7 * day
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Hour
	}
	cfg.Clock = sc.clk
	cfg.Logger = testLogger(t)
	r, err := reaper.New(sc.space, &cfg)
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	return r
}

// waitFor waits for ch to close, failing after a generous safety timeout.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start", what)
	}
}

func stats(t *testing.T, s *dataspace.DataSpace) *datasource.Stats {
	t.Helper()
	st, err := s.DataSource().Stats(context.Background())
	require.NoError(t, err)
	return st
}

// funcExpirer is an Expirer running a function.
type funcExpirer struct {
	name string
	fn   func(ctx context.Context, now time.Time, dryRun bool) (int64, int64, error)
}

func (e *funcExpirer) Name() string { return e.name }

func (e *funcExpirer) Expire(ctx context.Context, now time.Time, batch int, dryRun bool) (int64, int64, error) {
	return e.fn(ctx, now, dryRun)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	s := openSpace(t, "sqlite://"+filepath.Join(t.TempDir(), "strata.db"))

	cases := []struct {
		name    string
		cfg     reaper.Config
		wantErr string
	}{
		{"DefaultsAreValid", reaper.Config{}, ""},
		{"RetentionBelowFloor", reaper.Config{Retention: 6 * day}, "retention_interval_in_days"},
		{"IntervalBelowFloor", reaper.Config{Interval: 7079 * time.Second}, "reaper_run_interval"},
		{"AtTheFloors", reaper.Config{Retention: 7 * day, Interval: 7080 * time.Second}, ""},
		{"BelowFloorsForTests", reaper.Config{Retention: time.Minute, Interval: time.Second, AllowBelowFloor: true}, ""},
		{"NegativeBatch", reaper.Config{BatchSize: -1}, "must not be negative"},
		{"NilExpirer", reaper.Config{Expirers: []reaper.Expirer{nil}}, "expirer 0 is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := reaper.New(s, &tc.cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, reaper.StateBoot, r.Status().State)
				return
			}
			require.ErrorIs(t, err, reaper.ErrConfig)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		r, err := reaper.New(s, nil)
		require.NoError(t, err)
		c := r.Config()
		require.Equal(t, reaper.RetentionDefault, c.Retention)
		require.Equal(t, reaper.IntervalDefault, c.Interval)
		require.Equal(t, datasource.DeleteBatchSizeDefault, c.BatchSize)
	})

	t.Run("FromTheOriginalKeys", func(t *testing.T) {
		t.Parallel()
		dc, err := dataspace.ParseConfig([]byte(`{"dataspace": {"retention_interval_in_days": 30,
			"reaper_run_interval": "36h", "reaper_start_delay_seconds": 1818,
			"datasource": {"config": {"url": "sqlite://:memory:"}}}}`))
		require.NoError(t, err)
		c := reaper.ConfigFrom(*dc)
		require.Equal(t, 30*day, c.Retention)
		require.Equal(t, 36*time.Hour, c.Interval)
		require.Equal(t, 1818*time.Second, c.StartDelay)
	})
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()

			t.Run("KeepsTheNewestGenerationAndFreshData", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				r := sc.reaper(t, reaper.Config{})
				rep, err := r.RunOnce(ctx)
				require.NoError(t, err)
				require.False(t, rep.Skipped)
				require.Equal(t, int64(5), rep.Generations.Rows)
				require.Equal(t, int64(7), rep.ProductVersions.Rows)
				require.Positive(t, rep.ProductVersions.Bytes)
				require.Equal(t, int64(1), rep.TaskManagers.Rows)
				require.Equal(t, int64(0), rep.ExpiredProducts.Rows)
				require.Equal(t, int64(13), rep.Rows())
				require.Equal(t, t0.Add(23*day), rep.Horizon)
				require.Empty(t, rep.LastError)

				// The live instance keeps its newest generation, whole.
				ds := sc.space.DataSource()
				tmA := sc.live.TaskManager()
				_, err = ds.GenerationGet(ctx, tmA.SequenceID, 2)
				require.ErrorIs(t, err, datasource.ErrNotFound)
				b, err := datablock.Load(ctx, ds, &tmA, 3, nil)
				require.NoError(t, err)
				for k, want := range map[string]string{"p0": "a-g3-0", "p1": "a-g1-1", "p2": "a-g1-2"} {
					got, err := datablock.Get[string](ctx, b, k)
					require.NoError(t, err)
					require.Equal(t, want, got)
				}
				// The fresh instance is intact.
				tmF := sc.fresh.TaskManager()
				gens, err := ds.GenerationList(ctx, &datasource.GenerationListParams{TaskManagerSeq: tmF.SequenceID})
				require.NoError(t, err)
				require.Len(t, gens, 2)
				b, err = datablock.Load(ctx, ds, &tmF, 1, nil)
				require.NoError(t, err)
				got, err := datablock.Get[string](ctx, b, "p0")
				require.NoError(t, err)
				require.Equal(t, "fresh-g1-0", got)
				// The old instance of "a" is gone.
				tms, err := ds.TaskManagerList(ctx, &datasource.TaskManagerListParams{Name: "a"})
				require.NoError(t, err)
				require.Len(t, tms, 1)

				// The report is stored; a second run removes nothing and
				// records a second generation.
				last, err := reaper.LastReport(ctx, sc.space)
				require.NoError(t, err)
				require.Equal(t, rep.Rows(), last.Rows())
				require.True(t, rep.Started.Equal(last.Started))
				rep2, err := r.RunOnce(ctx)
				require.NoError(t, err)
				require.Zero(t, rep2.Rows())
				tm, err := sc.space.TaskManager(ctx, reaper.TaskManagerName)
				require.NoError(t, err)
				require.Equal(t, int64(2), tm.LastGeneration)
				last, err = reaper.LastReport(ctx, sc.space)
				require.NoError(t, err)
				require.Zero(t, last.Rows())
				require.Equal(t, reaper.StateSteady, r.Status().State)
				require.Equal(t, int64(2), r.Status().Runs)
				require.Equal(t, reaper.StateSteady, last.State)
			})

			t.Run("DryRunDeletesNothing", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				before := stats(t, sc.space)
				r := sc.reaper(t, reaper.Config{DryRun: true})
				rep, err := r.RunOnce(ctx)
				require.NoError(t, err)
				require.True(t, rep.DryRun)
				require.Equal(t, int64(5), rep.Generations.Rows)
				require.Equal(t, int64(7), rep.ProductVersions.Rows)
				require.Equal(t, int64(1), rep.TaskManagers.Rows)
				require.Equal(t, before, stats(t, sc.space))
				_, err = reaper.LastReport(ctx, sc.space)
				require.ErrorIs(t, err, datasource.ErrNotFound)
			})

			t.Run("CancelledRunDeletesNothingAndIsReported", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				before := stats(t, sc.space)
				r := sc.reaper(t, reaper.Config{})
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				rep, err := r.RunOnce(cctx)
				require.ErrorIs(t, err, context.Canceled)
				require.Zero(t, rep.Rows())
				require.Equal(t, reaper.StateError, r.Status().State)
				after := stats(t, sc.space)
				// Only the report's own task manager was added.
				require.Equal(t, before.ProductVersions+1, after.ProductVersions)
				require.Equal(t, before.Generations+1, after.Generations)
				last, err := reaper.LastReport(ctx, sc.space)
				require.NoError(t, err)
				require.Contains(t, last.LastError, "context canceled")
			})

			t.Run("DeletesInBatches", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				r := sc.reaper(t, reaper.Config{BatchSize: 2})
				rep, err := r.RunOnce(ctx)
				require.NoError(t, err)
				require.Equal(t, 2, rep.BatchSize)
				require.Equal(t, int64(5), rep.Generations.Rows)
				require.Equal(t, int64(7), rep.ProductVersions.Rows)
				require.Equal(t, int64(1), rep.TaskManagers.Rows)
				// At least ⌈7/2⌉ product batches and ⌈5/2⌉ generation batches.
				require.GreaterOrEqual(t, rep.Batches, 7)
				require.Positive(t, rep.MaxBatchMS)
			})

			t.Run("ExpiredProductsGoUnlessCurrent", func(t *testing.T) {
				t.Parallel()
				s := openSpace(t, be.url(t))
				clk := clocktest.New(t0.Add(24 * day)) // after the horizon
				b, err := datablock.New(ctx, s.DataSource(), "e", &datablock.Options{Clock: clk.Now})
				require.NoError(t, err)
				stale := &datablock.Header{ExpirationTime: t0.Add(day)} // before the horizon
				require.NoError(t, b.PutItems(ctx,
					datablock.Item{Key: "rewritten", Value: 1, Header: stale},
					datablock.Item{Key: "current", Value: 1, Header: stale},
					datablock.Item{Key: "fresh", Value: 1}))
				b, err = b.Duplicate(ctx)
				require.NoError(t, err)
				require.NoError(t, b.Put(ctx, "rewritten", 2))
				b, err = b.Duplicate(ctx)
				require.NoError(t, err)
				require.NoError(t, b.Put(ctx, "fresh", 2))
				clk.Advance(6 * day)

				r, err := reaper.New(s, &reaper.Config{Retention: 7 * day, Clock: clk, Logger: testLogger(t)})
				require.NoError(t, err)
				dry, err := reaper.New(s, &reaper.Config{Retention: 7 * day, Clock: clk, DryRun: true})
				require.NoError(t, err)
				rep, err := dry.RunOnce(ctx)
				require.NoError(t, err)
				require.Equal(t, int64(1), rep.ExpiredProducts.Rows)

				rep, err = r.RunOnce(ctx)
				require.NoError(t, err)
				require.Equal(t, int64(1), rep.ExpiredProducts.Rows)
				require.Positive(t, rep.ExpiredProducts.Bytes)
				require.Zero(t, rep.Generations.Rows)
				hist, err := b.History(ctx, "rewritten")
				require.NoError(t, err)
				require.Len(t, hist, 1)
				for k, want := range map[string]int{"rewritten": 2, "current": 1, "fresh": 2} {
					got, err := datablock.Get[int](ctx, b, k)
					require.NoError(t, err)
					require.Equal(t, want, got, k)
				}
				hist, err = b.History(ctx, "fresh")
				require.NoError(t, err)
				require.Len(t, hist, 2, "a version that expired after the horizon stays")
			})

			t.Run("ExpirersRunInTheSameRun", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				var gotNow time.Time
				var gotDry bool
				ev := &funcExpirer{name: "events", fn: func(_ context.Context, now time.Time, dryRun bool) (int64, int64, error) {
					gotNow, gotDry = now, dryRun
					return 3, 300, nil
				}}
				broken := &funcExpirer{name: "broken", fn: func(context.Context, time.Time, bool) (int64, int64, error) {
					return 0, 0, errors.New("boom")
				}}
				r := sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{broken, ev}})
				rep, err := r.RunOnce(ctx)
				require.ErrorContains(t, err, "expirer broken: boom")
				require.Equal(t, t0.Add(30*day), gotNow)
				require.False(t, gotDry)
				require.Equal(t, []reaper.ExpirerReport{
					{Name: "broken", Error: "boom"},
					{Name: "events", Removed: reaper.Removed{Rows: 3, Bytes: 300}},
				}, rep.Expirers)
				require.Equal(t, int64(16), rep.Rows())
				require.Contains(t, rep.LastError, "boom")
				require.Equal(t, reaper.StateError, r.Status().State)
				last, err := reaper.LastReport(ctx, sc.space)
				require.NoError(t, err)
				require.Equal(t, rep.LastError, last.LastError)
				require.Equal(t, reaper.StateError, last.State)
				require.Equal(t, "expirer:events", last.Kinds()[5].Kind)
			})
		})
	}
}

func TestLoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()

			t.Run("StartDelayIntervalAndStates", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				var r *reaper.Reaper
				var during atomic.Value
				probe := &funcExpirer{name: "probe", fn: func(context.Context, time.Time, bool) (int64, int64, error) {
					during.Store(r.Status().State)
					return 0, 0, nil
				}}
				r = sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{probe}})
				require.Equal(t, reaper.StateBoot, r.Status().State)

				require.NoError(t, r.Start(ctx, 30*time.Minute))
				require.ErrorIs(t, r.Start(ctx, 0), reaper.ErrStarted)
				sc.clk.WaitAfterCalls(t, 1)
				st := r.Status()
				require.Equal(t, reaper.StateIdle, st.State)
				require.Equal(t, t0.Add(30*day+30*time.Minute), st.NextRun)

				sc.clk.Advance(29 * time.Minute)
				require.Equal(t, int64(0), r.Status().Runs, "no run before the start delay")

				sc.clk.Advance(time.Minute)
				sc.clk.WaitAfterCalls(t, 2)
				st = r.Status()
				require.Equal(t, reaper.StateActive, during.Load())
				require.Equal(t, reaper.StateSteady, st.State)
				require.Equal(t, int64(1), st.Runs)
				require.Equal(t, int64(13), st.LastReport.Rows())
				require.Equal(t, sc.clk.Now().Add(2*time.Hour), st.NextRun)

				sc.clk.Advance(2*time.Hour - time.Second)
				require.Equal(t, int64(1), r.Status().Runs, "no run before the interval")
				sc.clk.Advance(time.Second)
				sc.clk.WaitAfterCalls(t, 3)
				require.Equal(t, int64(2), r.Status().Runs)
				require.Zero(t, r.Status().LastReport.Rows())

				r.Stop()
				st = r.Status()
				require.Equal(t, reaper.StateShutdown, st.State)
				require.Zero(t, st.NextRun)
				r.Stop() // idempotent
				require.ErrorIs(t, r.Start(ctx, 0), reaper.ErrStopped)
			})

			t.Run("StopDuringARun", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				var r *reaper.Reaper
				entered := make(chan struct{})
				var seen atomic.Value
				block := &funcExpirer{name: "block", fn: func(ctx context.Context, _ time.Time, _ bool) (int64, int64, error) {
					close(entered)
					<-ctx.Done()
					seen.Store(r.Status().State)
					return 1, 0, ctx.Err()
				}}
				r = sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{block}})
				require.NoError(t, r.Start(ctx, 0))
				waitFor(t, entered, "the run")
				st := r.Status()
				require.Equal(t, reaper.StateActive, st.State)
				require.Zero(t, st.NextRun)
				r.Stop()
				require.Equal(t, reaper.StateShuttingDown, seen.Load())
				st = r.Status()
				require.Equal(t, reaper.StateShutdown, st.State)
				require.Contains(t, st.LastReport.LastError, context.Canceled.Error())
				// What was done before the stop is kept and reported.
				require.Equal(t, int64(5), st.LastReport.Generations.Rows)
				last, err := reaper.LastReport(ctx, sc.space)
				require.NoError(t, err)
				require.Equal(t, st.LastReport.LastError, last.LastError)
				require.Equal(t, reaper.StateShuttingDown, last.State)
				r.Stop()
			})

			t.Run("StopBeforeStart", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				r := sc.reaper(t, reaper.Config{})
				r.Stop()
				r.Stop()
				require.Equal(t, reaper.StateShutdown, r.Status().State)
				require.ErrorIs(t, r.Start(ctx, 0), reaper.ErrStopped)
			})

			t.Run("ParentContextEndsTheLoop", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				r := sc.reaper(t, reaper.Config{})
				cctx, cancel := context.WithCancel(ctx)
				require.NoError(t, r.Start(cctx, time.Hour))
				sc.clk.WaitAfterCalls(t, 1)
				cancel()
				r.Stop()
				require.Equal(t, reaper.StateShutdown, r.Status().State)
				require.Zero(t, r.Status().Runs)
			})

			t.Run("FailureBacksOffAndKeepsTheLoopAlive", func(t *testing.T) {
				t.Parallel()
				sc := newScenario(t, be.url(t))
				var calls atomic.Int64
				flaky := &funcExpirer{name: "flaky", fn: func(context.Context, time.Time, bool) (int64, int64, error) {
					if calls.Add(1) <= 3 {
						return 0, 0, errors.New("database away")
					}
					return 0, 0, nil
				}}
				r := sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{flaky}})
				require.NoError(t, r.Start(ctx, 0))
				after := 1
				for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
					after++
					sc.clk.WaitAfterCalls(t, after)
					st := r.Status()
					require.Equal(t, reaper.StateError, st.State)
					require.Equal(t, i+1, st.Failures)
					require.Contains(t, st.LastReport.LastError, "database away")
					require.Equal(t, sc.clk.Now().Add(wait), st.NextRun)
					sc.clk.Advance(wait)
				}
				sc.clk.WaitAfterCalls(t, after+1)
				st := r.Status()
				require.Equal(t, reaper.StateSteady, st.State)
				require.Zero(t, st.Failures)
				require.Equal(t, int64(4), st.Runs)
				require.Equal(t, sc.clk.Now().Add(2*time.Hour), st.NextRun)
			})
		})
	}
}

func TestLastReportNotFound(t *testing.T) {
	t.Parallel()
	s := openSpace(t, "sqlite://"+filepath.Join(t.TempDir(), "strata.db"))
	_, err := reaper.LastReport(context.Background(), s)
	require.ErrorIs(t, err, datasource.ErrNotFound)
}

func TestOneReaperAtATime(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			testOneReaperAtATime(t, be.url(t))
		})
	}
}

// testOneReaperAtATime runs a reaper while another one, on a dataspace of
// its own (as in another process), holds the lock of the same database.
func testOneReaperAtATime(t *testing.T, url string) {
	ctx := context.Background()
	sc := newScenario(t, url)
	other := openSpace(t, sc.space.Config().URL)

	entered, release := make(chan struct{}), make(chan struct{})
	hold := &funcExpirer{name: "hold", fn: func(context.Context, time.Time, bool) (int64, int64, error) {
		close(entered)
		<-release
		return 0, 0, nil
	}}
	a := sc.reaper(t, reaper.Config{Expirers: []reaper.Expirer{hold}})
	b, err := reaper.New(other, &reaper.Config{Retention: 7 * day, Clock: sc.clk, Logger: testLogger(t)})
	require.NoError(t, err)

	type result struct {
		rep *reaper.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := a.RunOnce(ctx)
		done <- result{rep, err}
	}()
	waitFor(t, entered, "the first reaper's run")

	rep, err := b.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, rep.Skipped)
	require.Contains(t, rep.SkipReason, "another reaper")
	require.Zero(t, rep.Rows())

	close(release)
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the first reaper's run did not end")
	}
	require.NoError(t, res.err)
	require.False(t, res.rep.Skipped)
	require.Equal(t, int64(13), res.rep.Rows())

	// The lock is free again once the first run has finished.
	rep, err = b.RunOnce(ctx)
	require.NoError(t, err)
	require.False(t, rep.Skipped)
	last, err := reaper.LastReport(ctx, sc.space)
	require.NoError(t, err)
	require.False(t, last.Skipped)
}

// The reaper deletes through the backend's DataDeleteBefore on every
// backend: its report must count exactly what that method removes, for
// any batch size.
func TestReportMatchesTheBackend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, be := range backends {
		for _, batch := range []int{1, 3, 5000} {
			t.Run(fmt.Sprintf("%s/Batch%d", be.name, batch), func(t *testing.T) {
				t.Parallel()
				build := func(t *testing.T) *scenario {
					sc := newScenario(t, be.url(t))
					// A live instance whose generations are all past the horizon.
					clk := clocktest.New(t0.Add(10 * day))
					seed(t, sc.space, clk, "b", 3, 4)
					return sc
				}
				viaBackend, viaReaper := build(t), build(t)
				res, err := viaBackend.space.DataSource().DataDeleteBefore(ctx, &datasource.DataDeleteParams{
					Horizon: t0.Add(23 * day), BatchSize: batch,
				})
				require.NoError(t, err)
				rep, err := viaReaper.reaper(t, reaper.Config{BatchSize: batch}).RunOnce(ctx)
				require.NoError(t, err)
				require.Equal(t, res.Generations, rep.Generations.Rows)
				require.Equal(t, res.ProductVersions, rep.ProductVersions.Rows)
				require.Equal(t, res.ProductBytes, rep.ProductVersions.Bytes)
				require.Equal(t, res.TaskManagers, rep.TaskManagers.Rows)
				require.Equal(t, int64(7), rep.Generations.Rows)
				require.Equal(t, int64(9), rep.ProductVersions.Rows)
				require.GreaterOrEqual(t, rep.Batches, res.Batches)

				// Same rows left, apart from the reaper's own report.
				a, b := stats(t, viaBackend.space), stats(t, viaReaper.space)
				require.Equal(t, a.TaskManagers+1, b.TaskManagers)
				require.Equal(t, a.Generations+1, b.Generations)
				require.Equal(t, a.ProductVersions+1, b.ProductVersions)
				for _, sc := range []*scenario{viaBackend, viaReaper} {
					blk, err := sc.space.DataBlock(ctx, "b")
					require.NoError(t, err)
					require.Equal(t, int64(3), blk.Generation())
					keys, err := blk.Keys(ctx)
					require.NoError(t, err)
					require.Equal(t, []string{"p0", "p1", "p2", "p3"}, keys)
				}
			})
		}
	}
}
