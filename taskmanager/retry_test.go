package taskmanager_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/taskmanager"
)

// failProductWrites makes every product insert of space fail with an error
// that maps to no datasource sentinel (as a lost connection or a full disk
// would), until the returned function is called.
func failProductWrites(t *testing.T, space *dataspace.DataSpace) (heal func()) {
	t.Helper()
	ctx := context.Background()
	db := space.DataSource().(interface{ DB() *sqlx.DB }).DB()
	var create, drop []string
	if space.Backend() == "postgres" {
		create = []string{
			`CREATE FUNCTION strata_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'disk hiccup (test)'; END $$`,
			`CREATE TRIGGER strata_test_fail BEFORE INSERT ON product FOR EACH ROW EXECUTE FUNCTION strata_test_fail()`,
		}
		drop = []string{`DROP TRIGGER strata_test_fail ON product`, `DROP FUNCTION strata_test_fail()`}
	} else {
		create = []string{`CREATE TRIGGER strata_test_fail BEFORE INSERT ON product
			BEGIN SELECT RAISE(ABORT, 'disk hiccup (test)'); END`}
		drop = []string{`DROP TRIGGER strata_test_fail`}
	}
	for _, q := range create {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	return func() {
		for _, q := range drop {
			_, err := db.ExecContext(ctx, q)
			require.NoError(t, err)
		}
	}
}

func TestTransientWriteFailureIsRetried(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		clock := newClock()
		rec := &recorder{}
		f := newFixture(t, "retried").source("src", "1m", counterSource("n")).publisher("pub", rec.publisher("n"))
		cfg := f.config(clock)
		cfg.MaxCycles = 2
		w := watch(cfg)
		c := f.channel(space, cfg)
		const delay = taskmanager.WriteRetryDelayDefault

		// Cycle 1 is a new instance's first generation: its one write fails
		// and is retried after WriteRetryDelayDefault, by the channel's clock.
		// Two timers wait: the retry's and the source's next turn.
		heal := failProductWrites(t, space)
		done := runAsync(ctx, c)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{delay, time.Minute}, clock.Timers())
		require.Equal(t, taskmanager.StateActive, c.State())
		heal()
		clock.Advance(delay)
		w.cycle(t)
		require.Equal(t, []time.Duration{time.Minute - delay}, clock.Timers(), "the source's next turn")

		// Cycle 2 duplicates first: the duplicate succeeds, the product
		// write fails twice (waits of 1 s, then 2 s) and then succeeds.
		heal = failProductWrites(t, space)
		clock.Advance(time.Minute - delay)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{delay, time.Minute}, clock.Timers())
		clock.Advance(delay)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{2 * delay, time.Minute - delay}, clock.Timers())
		heal()
		clock.Advance(2 * delay)
		require.NoError(t, waitDone(t, done))

		results := w.all()
		require.Len(t, results, 2)
		require.Equal(t, []int64{1, 2}, []int64{results[0].Generation, results[1].Generation})
		require.Equal(t, []int64{1, 2}, rec.seen(), "each publisher ran once per cycle")
		b, err := space.DataBlock(ctx, "retried")
		require.NoError(t, err)
		require.Equal(t, int64(2), b.Generation())
		n, err := datablock.Get[int](ctx, b, "n")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, taskmanager.StateShutdown, c.State())
	})
}

func TestPersistentWriteFailureIsAnErrorAfterTheRetries(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		clock := newClock()
		f := newFixture(t, "doomed").source("src", "", counterSource("n"))
		cfg := f.config(clock)
		cfg.WriteRetries = 2
		cfg.WriteRetryDelay = time.Second
		c := f.channel(space, cfg)
		failProductWrites(t, space)
		done := runAsync(ctx, c)
		// The retry's timer and the source's next turn (a minute, the
		// default schedule).
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{time.Second, taskmanager.DefaultSchedule}, clock.Timers())
		clock.Advance(time.Second)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{2 * time.Second, taskmanager.DefaultSchedule - time.Second}, clock.Timers())
		clock.Advance(2 * time.Second)
		err := waitDone(t, done)
		require.ErrorContains(t, err, "disk hiccup (test)")
		require.ErrorContains(t, err, "after 3 attempts")
		require.NotErrorIs(t, err, taskmanager.ErrModule)
		require.Equal(t, taskmanager.StateError, c.State())
		_, err = space.TaskManager(ctx, "doomed")
		require.NoError(t, err)
		b, err := space.DataBlock(ctx, "doomed")
		require.NoError(t, err)
		keys, err := b.Keys(ctx)
		require.NoError(t, err)
		require.Empty(t, keys, "no product of the failed cycle was written")
	})
}

// lostReply is a datasource whose next GenerationDuplicate commits but
// fails as if the connection dropped before the reply came back. With
// other set, another writer then duplicates once more before the retry.
type lostReply struct {
	datasource.DataSource
	lose  atomic.Int32
	other bool
}

func (d *lostReply) GenerationDuplicate(ctx context.Context, p *datasource.GenerationDuplicateParams) (*datasource.Generation, error) {
	g, err := d.DataSource.GenerationDuplicate(ctx, p)
	if err != nil || d.lose.Add(-1) < 0 {
		return g, err
	}
	if d.other {
		next := *p
		next.Generation = g.Number
		if _, err := d.DataSource.GenerationDuplicate(ctx, &next); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("read tcp 127.0.0.1:5432: connection reset by peer (test)")
}

func TestDuplicateWhoseReplyWasLostGoesOn(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		ds := &lostReply{DataSource: space.DataSource()}
		clock := newClock()
		rec := &recorder{}
		f := newFixture(t, "lost").source("src", "1m", counterSource("n")).publisher("pub", rec.publisher("n"))
		cfg := f.config(clock)
		cfg.MaxCycles = 2
		w := watch(cfg)
		c := f.channel(space.WithDataSource(ds), cfg)
		const delay = taskmanager.WriteRetryDelayDefault

		done := runAsync(ctx, c)
		w.cycle(t)
		// Cycle 2's duplicate commits generation 2 but reports a dropped
		// connection; the retry finds generation 1 sealed and goes on in 2.
		ds.lose.Store(1)
		clock.Advance(time.Minute)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{delay, time.Minute}, clock.Timers())
		clock.Advance(delay)
		require.NoError(t, waitDone(t, done))

		results := w.all()
		require.Len(t, results, 2)
		require.Equal(t, []int64{1, 2}, []int64{results[0].Generation, results[1].Generation})
		require.Equal(t, []int64{1, 2}, rec.seen(), "each publisher ran once per cycle")
		require.Equal(t, taskmanager.StateShutdown, c.State())
		b, err := space.DataBlock(ctx, "lost")
		require.NoError(t, err)
		require.Equal(t, int64(2), b.Generation(), "no generation was opened twice")
		n, err := datablock.Get[int](ctx, b, "n")
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}

func TestDuplicateAfterAnotherWriterIsAnError(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		ds := &lostReply{DataSource: space.DataSource(), other: true}
		clock := newClock()
		f := newFixture(t, "shared").source("src", "1m", counterSource("n"))
		cfg := f.config(clock)
		w := watch(cfg)
		c := f.channel(space.WithDataSource(ds), cfg)

		done := runAsync(ctx, c)
		w.cycle(t)
		ds.lose.Store(1)
		clock.Advance(time.Minute)
		clock.WaitPending(t, 2)
		clock.Advance(taskmanager.WriteRetryDelayDefault)
		err := waitDone(t, done)
		require.ErrorIs(t, err, datasource.ErrSealed)
		require.ErrorContains(t, err, "another process writes this task manager")
		require.Equal(t, taskmanager.StateError, c.State())
	})
}
