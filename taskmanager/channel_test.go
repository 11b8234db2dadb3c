package taskmanager_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/taskmanager"
)

const provisionRules = `{
	"facts": {"busy": "demand > 2", "huge": "demand > 100"},
	"rules": {
		"want": {"expression": "busy", "facts": ["need"]},
		"order": {"expression": "need && !huge", "actions": ["orders"], "false_actions": ["idle"]}
	}
}`

func TestCycle(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		orders, idle := &recorder{}, &recorder{}
		f := newFixture(t, "provision").
			source("jobs", "", counterSource("jobs")).
			source("offers", "", counterSource("offers")).
			transform("demand", sumTransform("demand", "jobs", "offers")).
			logic("le", provisionRules).
			publisher("orders", orders.publisher("demand", "facts")).
			publisher("idle", idle.publisher())
		c := f.channel(space, nil)
		require.Equal(t, taskmanager.StateBoot, c.State())

		res, err := c.RunCycle(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), res.Generation)
		require.Equal(t, []string{"jobs", "offers"}, res.Sources)
		require.Equal(t, []string{"idle"}, res.Publishers) // demand 2: not busy
		require.Equal(t, 5, res.ProductsWritten)           // jobs offers demand facts publishers

		res, err = c.RunCycle(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Generation)
		require.Equal(t, []string{"orders"}, res.Publishers) // demand 4
		require.Equal(t, []int64{2}, orders.seen())
		require.Equal(t, []int64{1}, idle.seen())
		require.Equal(t, taskmanager.StateSteady, c.State())

		b, err := space.DataBlock(ctx, "provision")
		require.NoError(t, err)
		require.Equal(t, int64(2), b.Generation())
		keys, err := b.Keys(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"demand", "facts", "jobs", "offers", "publishers"}, keys)
		demand, err := datablock.Get[int](ctx, b, "demand")
		require.NoError(t, err)
		require.Equal(t, 4, demand)

		facts, err := datablock.Get[taskmanager.Decision](ctx, b, taskmanager.FactsKey)
		require.NoError(t, err)
		require.Equal(t, map[string]bool{"busy": true, "huge": false, "need": true}, facts.Facts)
		require.Equal(t, map[string]bool{"want": true, "order": true}, facts.Rules)
		require.Equal(t, []string{"orders"}, facts.Actions)

		status, err := datablock.Get[map[string]taskmanager.PublisherStatus](ctx, b, taskmanager.PublishersKey)
		require.NoError(t, err)
		require.True(t, status["orders"].Ran)
		require.True(t, status["orders"].OK)
		require.False(t, status["idle"].Ran)

		md, err := b.Metadata(ctx, "demand")
		require.NoError(t, err)
		require.Equal(t, datablock.StateEndCycle, md.State)

		first, err := b.At(ctx, 1)
		require.NoError(t, err)
		status, err = datablock.Get[map[string]taskmanager.PublisherStatus](ctx, first, taskmanager.PublishersKey)
		require.NoError(t, err)
		require.True(t, status["idle"].Ran)

		t.Run("ContinuesTheNewestInstance", func(t *testing.T) {
			again := newFixture(t, "provision").
				source("jobs", "", counterSource("jobs")).
				source("offers", "", counterSource("offers")).
				publisher("orders", orders.publisher()).
				channel(space, nil)
			res, err := again.RunCycle(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(3), res.Generation)
			tm, err := space.TaskManager(ctx, "provision")
			require.NoError(t, err)
			require.Equal(t, b.TaskManager().TaskManagerID, tm.TaskManagerID)
		})
	})
}

func TestTransformOrder(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		// left and right consume only the source, so they run in parallel:
		// each waits until the other has started. total needs both.
		started := map[string]chan struct{}{"left": make(chan struct{}), "right": make(chan struct{})}
		other := map[string]string{"left": "right", "right": "left"}
		parallel := func(name string) *funcTransform {
			return &funcTransform{consumes: []string{"n"}, produces: []string{name}, fn: func(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
				close(started[name])
				select {
				case <-started[other[name]]:
				case <-time.After(10 * time.Second):
					return nil, errors.New("the other transform never started: transforms ran one after the other")
				}
				n, err := taskmanager.Get[int](in, "n")
				return map[string]any{name: n * 10}, err
			}}
		}
		var mu sync.Mutex
		var keysSeen []string
		total := &funcTransform{consumes: []string{"left", "right"}, produces: []string{"total"}, fn: func(ctx context.Context, in *taskmanager.Products) (map[string]any, error) {
			mu.Lock()
			keysSeen = in.Keys()
			mu.Unlock()
			l, err := taskmanager.Get[int](in, "left")
			if err != nil {
				return nil, err
			}
			r, err := taskmanager.Get[int](in, "right")
			return map[string]any{"total": l + r}, err
		}}
		c := newFixture(t, "order").
			source("src", "", counterSource("n")).
			transform("total", total).
			transform("left", parallel("left")).
			transform("right", parallel("right")).
			channel(space, nil)
		res, err := c.RunCycle(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"left", "right"}, keysSeen, "a transform sees only what it consumes")
		b, err := space.DataBlock(context.Background(), "order")
		require.NoError(t, err)
		got, err := datablock.Get[int](context.Background(), b, "total")
		require.NoError(t, err)
		require.Equal(t, 20, got)
		require.Equal(t, 5, res.ProductsWritten) // n left right total publishers
	})
}

func TestGraphErrors(t *testing.T) {
	t.Parallel()

	space, err := dataspace.Open(context.Background(), backends[0].url(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })

	cases := []struct {
		name  string
		build func(f *fixture)
		want  []string
	}{
		{"MissingProducer", func(f *fixture) {
			f.source("s", "", counterSource("a")).transform("t", sumTransform("b", "a", "zzz"))
		}, []string{`product "zzz" consumed by transform "t" is produced by no module`}},
		{"TwoProducers", func(f *fixture) {
			f.source("s1", "", counterSource("a")).source("s2", "", counterSource("a"))
		}, []string{`product "a" has 2 producers (source "s1", source "s2")`}},
		{"Cycle", func(f *fixture) {
			f.source("s", "", counterSource("a")).
				transform("t1", sumTransform("b", "a", "c")).
				transform("t2", sumTransform("c", "b"))
		}, []string{`transforms "t1", "t2" depend on each other in a cycle`}},
		{"ReservedName", func(f *fixture) {
			f.source("s", "", counterSource("facts"))
		}, []string{`source "s" produces "facts"`}},
		{"FactsBeforeTheEngine", func(f *fixture) {
			f.source("s", "", counterSource("a")).transform("t", sumTransform("b", "facts")).logic("le", `{"facts": {"x": "a > 1"}}`)
		}, []string{`transform "t" consumes "facts"`}},
		{"SeveralProblemsInOneError", func(f *fixture) {
			f.source("s", "", counterSource("a")).transform("t", sumTransform("a", "x")).publisher("p", (&recorder{}).publisher("y"))
		}, []string{`product "a" has 2 producers`, `"x" consumed by transform "t"`, `"y" consumed by publisher "p"`}},
		{"UnknownPublisherAction", func(f *fixture) {
			f.source("s", "", counterSource("a")).logic("le", `{"facts": {"x": "a > 1"}, "rules": {"r": {"expression": "x", "actions": ["nope"]}}}`)
		}, []string{`chooses publishers "nope"`}},
		{"UnknownFactProduct", func(f *fixture) {
			f.source("s", "", counterSource("a")).logic("le", `{"facts": {"x": "b > 1"}}`)
		}, []string{`product "b" consumed by logic engine "le" is produced by no module`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			f := newFixture(t, "graph")
			tc.build(f)
			_, err := taskmanager.NewChannel(context.Background(), space, f.cc, f.config(nil))
			require.ErrorIs(t, err, taskmanager.ErrGraph)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}

	t.Run("UnknownModule", func(t *testing.T) {
		t.Parallel()

		f := newFixture(t, "graph")
		f.cc.Sources["s"] = &taskmanager.ModuleConfig{Module: "no.such.module"}
		_, err := taskmanager.NewChannel(context.Background(), space, f.cc, f.config(nil))
		require.ErrorIs(t, err, taskmanager.ErrUnknownModule)
		require.ErrorContains(t, err, `source "s" (module "no.such.module")`)
	})
}

// failingTransform fails while fail() says so.
func failingTransform(fail func() bool) *funcTransform {
	return &funcTransform{consumes: []string{"n"}, produces: []string{"m"}, fn: func(_ context.Context, in *taskmanager.Products) (map[string]any, error) {
		if fail() {
			return nil, errors.New("upstream quota service said no")
		}
		n, err := taskmanager.Get[int](in, "n")
		return map[string]any{"m": n}, err
	}}
}

func TestFailurePolicies(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		t.Run("SkipGoesOnWithTheNextCycle", func(t *testing.T) {
			ctx := context.Background()
			clock := newClock()
			calls := 0
			f := newFixture(t, "skipper").
				source("src", "10s", counterSource("n")).
				transform("flaky", failingTransform(func() bool { calls++; return calls == 1 }))
			cfg := f.config(clock)
			cfg.MaxCycles = 2
			w := watch(cfg)
			c := f.channel(space, cfg)
			done := runAsync(ctx, c)
			w.state(t, taskmanager.StateActive)
			w.state(t, taskmanager.StateIdle) // cycle 1 failed, skipped
			clock.WaitPending(t, 1)
			require.Equal(t, []time.Duration{10 * time.Second}, clock.Timers(), "the source's next turn")
			require.Equal(t, taskmanager.StateIdle, c.State())
			clock.Advance(10 * time.Second)
			w.state(t, taskmanager.StateSteady)
			clock.WaitPending(t, 1)
			clock.Advance(10 * time.Second)
			require.NoError(t, waitDone(t, done))
			require.Equal(t, taskmanager.StateShutdown, c.State())
			results := w.all()
			require.Len(t, results, 2)
			require.Equal(t, []int64{1, 2}, []int64{results[0].Generation, results[1].Generation})
			b, err := space.DataBlock(ctx, "skipper")
			require.NoError(t, err)
			m, err := datablock.Get[int](ctx, b, "m")
			require.NoError(t, err)
			require.Equal(t, 3, m, "the skipped cycle wrote nothing; the next ones ran on fresh products")
		})

		t.Run("OfflineStopsOnlyThatChannel", func(t *testing.T) {
			ctx := context.Background()
			clock := newClock()
			bad := newFixture(t, "bad").policy(taskmanager.FailurePolicyOffline).
				source("src", "10s", counterSource("n")).
				transform("broken", failingTransform(func() bool { return true }))
			good := newFixture(t, "good").source("src", "10s", counterSource("n"))
			reg := bad.reg
			require.NoError(t, reg.RegisterSource("good.src", func(taskmanager.Params) (taskmanager.Source, error) { return counterSource("n"), nil }))
			cfg := bad.config(clock)
			cfg.MaxCycles = 2
			tm, err := taskmanager.New(ctx, space, []*taskmanager.ChannelConfig{bad.cc, good.cc}, cfg)
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- tm.Run(ctx) }()
			// Each channel's source hands its first products over, then
			// waits for its next turn: good's and bad's (bad goes offline
			// meanwhile, and its timer never fires into anything).
			clock.WaitPending(t, 2)
			clock.Advance(10 * time.Second)
			err = waitDone(t, done)
			require.ErrorIs(t, err, taskmanager.ErrModule)
			require.ErrorContains(t, err, `channel "bad": transform "broken" failed: upstream quota service said no`)
			states := map[string]taskmanager.State{}
			for _, c := range tm.Channels() {
				states[c.Name()] = c.State()
			}
			require.Equal(t, map[string]taskmanager.State{"bad": taskmanager.StateOffline, "good": taskmanager.StateShutdown}, states)
			_, err = space.TaskManager(ctx, "bad")
			require.NoError(t, err)
			b, err := space.DataBlock(ctx, "bad")
			require.NoError(t, err)
			keys, err := b.Keys(ctx)
			require.NoError(t, err)
			require.Empty(t, keys, "the failed cycle wrote nothing")
		})

		t.Run("PublisherFailureIsRecorded", func(t *testing.T) {
			ctx := context.Background()
			c := newFixture(t, "pubfail").
				source("src", "", counterSource("n")).
				publisher("ok", (&recorder{}).publisher("n")).
				publisher("broken", &funcPublisher{fn: func(context.Context, *taskmanager.Products) error {
					return errors.New("disk full")
				}}).
				channel(space, nil)
			res, err := c.RunCycle(ctx)
			require.ErrorIs(t, err, taskmanager.ErrModule)
			var me *taskmanager.ModuleError
			require.ErrorAs(t, err, &me)
			require.Equal(t, "broken", me.Module)
			require.Equal(t, []string{"broken", "ok"}, res.Publishers)
			b, err := space.DataBlock(ctx, "pubfail")
			require.NoError(t, err)
			status, err := datablock.Get[map[string]taskmanager.PublisherStatus](ctx, b, taskmanager.PublishersKey)
			require.NoError(t, err)
			require.Equal(t, taskmanager.PublisherStatus{Ran: true, OK: false, Error: "disk full"}, status["broken"])
			require.True(t, status["ok"].OK)
		})
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		t.Run("AbandonsACycleBeforeItWrites", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			entered := make(chan struct{})
			slow := &funcTransform{consumes: []string{"n"}, produces: []string{"m"}, fn: func(ctx context.Context, _ *taskmanager.Products) (map[string]any, error) {
				close(entered)
				<-ctx.Done()
				return nil, ctx.Err()
			}}
			c := newFixture(t, "abandon").source("src", "", counterSource("n")).transform("slow", slow).channel(space, nil)
			done := runAsync(ctx, c)
			<-entered
			require.Equal(t, taskmanager.StateActive, c.State())
			cancel()
			require.NoError(t, waitDone(t, done))
			require.Equal(t, taskmanager.StateShutdown, c.State())
			require.Equal(t, 0, c.Cycles())
			b, err := space.DataBlock(context.Background(), "abandon")
			require.NoError(t, err)
			require.Equal(t, int64(1), b.Generation())
			keys, err := b.Keys(context.Background())
			require.NoError(t, err)
			require.Empty(t, keys)
		})

		t.Run("FinishesACycleThatIsWriting", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			entered, release := make(chan struct{}), make(chan struct{})
			pub := &funcPublisher{fn: func(ctx context.Context, _ *taskmanager.Products) error {
				close(entered)
				<-release
				return ctx.Err() // the publisher's context is not cancelled
			}}
			var results []*taskmanager.CycleResult
			f := newFixture(t, "finish").source("src", "", counterSource("n")).publisher("pub", pub)
			cfg := f.config(newClock())
			cfg.OnCycle = func(r *taskmanager.CycleResult) { results = append(results, r) }
			states := make(chan taskmanager.State, 20)
			cfg.OnState = func(_ string, s taskmanager.State) { states <- s }
			c := f.channel(space, cfg)
			done := runAsync(ctx, c)
			<-entered
			cancel()
			for s := range states {
				if s == taskmanager.StateShuttingDown {
					break
				}
			}
			close(release)
			require.NoError(t, waitDone(t, done))
			require.Equal(t, taskmanager.StateShutdown, c.State())
			require.Len(t, results, 1)
			b, err := space.DataBlock(context.Background(), "finish")
			require.NoError(t, err)
			status, err := datablock.Get[map[string]taskmanager.PublisherStatus](context.Background(), b, taskmanager.PublishersKey)
			require.NoError(t, err)
			require.True(t, status["pub"].OK)
		})
	})
}

func TestSchedules(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		clock := newClock()
		f := newFixture(t, "sched").
			source("fast", "1s", counterSource("f")).
			source("slow", "3s", counterSource("s"))
		cfg := f.config(clock)
		cfg.MaxCycles = 4
		w := watch(cfg)
		c := f.channel(space, cfg)
		done := runAsync(ctx, c)
		w.cycle(t)
		clock.WaitPending(t, 2)
		require.Equal(t, []time.Duration{time.Second, 3 * time.Second}, clock.Timers())
		for range 3 {
			clock.WaitPending(t, 2) // both sources wait for their next turn
			clock.Advance(time.Second)
			w.cycle(t)
		}
		require.NoError(t, waitDone(t, done))
		// At 3 s both sources are due: the cycle waits for both.
		require.Equal(t, []string{"fast+slow", "fast", "fast", "fast+slow"}, w.sources())

		// Generation 3 inherits the slow product of generation 1 without a copy.
		b, err := space.DataBlock(ctx, "sched")
		require.NoError(t, err)
		g3, err := b.At(ctx, 3)
		require.NoError(t, err)
		s, err := datablock.Get[int](ctx, g3, "s")
		require.NoError(t, err)
		require.Equal(t, 1, s)
		hist, err := b.History(ctx, "s")
		require.NoError(t, err)
		require.Len(t, hist, 2)
	})
}

func TestSlowSourceDelaysNoOtherSource(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clock := newClock()
		// slow's second turn blocks until released.
		entered, release := make(chan struct{}), make(chan struct{})
		turns := 0
		slow := &funcSource{produces: []string{"s"}, fn: func(context.Context) (map[string]any, error) {
			turns++
			if turns == 2 {
				close(entered)
				<-release
			}
			return map[string]any{"s": turns}, nil
		}}
		rec := &recorder{}
		f := newFixture(t, "stuck").
			source("fast", "2s", counterSource("f")).
			source("slow", "3s", slow).
			transform("sum", sumTransform("sum", "f", "s")).
			publisher("pub", rec.publisher("sum"))
		cfg := f.config(clock)
		w := watch(cfg)
		c := f.channel(space, cfg)
		done := runAsync(ctx, c)

		w.cycle(t) // at 0 s: fast+slow
		clock.WaitPending(t, 2)
		clock.Advance(2 * time.Second)
		w.cycle(t) // at 2 s: fast
		clock.WaitPending(t, 2)
		clock.Advance(time.Second) // at 3 s slow's turn starts and hangs
		<-entered
		require.Equal(t, []time.Duration{time.Second}, clock.Timers(), "fast still waits for its turn at 4 s")
		clock.Advance(time.Second)
		r := w.cycle(t) // at 4 s: fast, with slow's last products
		require.Equal(t, []string{"fast"}, r.Sources)
		clock.WaitPending(t, 1)
		require.Equal(t, []time.Duration{2 * time.Second}, clock.Timers())
		clock.Advance(2 * time.Second)
		w.cycle(t) // at 6 s: fast; slow is still in its turn of 3 s
		close(release)
		r = w.cycle(t) // slow's late products feed a cycle of their own
		require.Equal(t, []string{"slow"}, r.Sources)
		cancel()
		require.NoError(t, waitDone(t, done))

		require.Equal(t, []string{"fast+slow", "fast", "fast", "fast", "slow"}, w.sources())
		b, err := space.DataBlock(context.Background(), "stuck")
		require.NoError(t, err)
		require.Equal(t, int64(5), b.Generation())
		var sums []int
		for gen := int64(1); gen <= 5; gen++ {
			g, err := b.At(context.Background(), gen)
			require.NoError(t, err)
			sum, err := datablock.Get[int](context.Background(), g, "sum")
			require.NoError(t, err)
			sums = append(sums, sum)
		}
		// f counts 1, 2, 3, 4; s is 1 until slow's second turn delivers 2.
		require.Equal(t, []int{2, 3, 4, 5, 6}, sums)
	})
}

func TestRunTwice(t *testing.T) {
	t.Parallel()

	space, err := dataspace.Open(context.Background(), backends[0].url(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })
	c := newFixture(t, "twice").source("src", "", counterSource("n")).channel(space, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, c.Run(ctx))
	require.ErrorIs(t, c.Run(ctx), taskmanager.ErrRunning)
}

func TestMetrics(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		reg := prometheus.NewRegistry()
		m, err := taskmanager.NewMetrics(reg)
		require.NoError(t, err)
		f := newFixture(t, "metered").source("src", "", counterSource("n")).transform("t", sumTransform("m", "n")).
			logic("le", `{"facts": {"big": "m > 0"}}`)
		cfg := f.config(newClock())
		cfg.Metrics = m
		c := f.channel(space, cfg)
		_, err = c.RunCycle(context.Background())
		require.NoError(t, err)

		got := gather(t, reg)
		require.Equal(t, 1.0, got[`strata_channel_state{channel="metered",state="STEADY"}`])
		require.Equal(t, 0.0, got[`strata_channel_state{channel="metered",state="BOOT"}`])
		require.Equal(t, 1.0, got[`strata_channel_cycles_total{channel="metered",result="ok"}`])
		require.Equal(t, 1.0, got[`strata_channel_generation{channel="metered"}`])
		require.Equal(t, 1.0, got[`strata_module_state{channel="metered",kind="transform",module="t",state="OK"}`])
		require.Equal(t, 1.0, got[`strata_module_run_seconds_count{channel="metered",kind="source",module="src"}`])
		require.Contains(t, got, `strata_module_last_run_timestamp_seconds{channel="metered",kind="transform",module="t"}`)
		require.Equal(t, 1.0, got[`strata_module_state{channel="metered",kind="logicengine",module="le",state="OK"}`])
	})
}

// gather flattens a registry's metrics into "name{labels}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[mf.GetName()+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
