package taskmanager_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/taskmanager"
)

func TestModuleContract(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		cases := []struct {
			name   string
			module string
			build  func(f *fixture)
			want   string
		}{
			{"SourceReturnsUndeclaredProduct", "src", func(f *fixture) {
				f.source("src", "", &funcSource{produces: []string{"a"}, fn: func(context.Context) (map[string]any, error) {
					return map[string]any{"a": 1, "b": 2}, nil
				}})
			}, `it returned "b", which it does not declare`},
			{"TransformMissesDeclaredProduct", "t", func(f *fixture) {
				f.source("src", "", counterSource("a")).
					transform("t", &funcTransform{consumes: []string{"a"}, produces: []string{"b", "c"}, fn: func(context.Context, *taskmanager.Products) (map[string]any, error) {
						return map[string]any{"b": 1}, nil
					}})
			}, `it declares "c" but did not return it`},
			{"TransformPanics", "t", func(f *fixture) {
				f.source("src", "", counterSource("a")).
					transform("t", &funcTransform{consumes: []string{"a"}, produces: []string{"b"}, fn: func(context.Context, *taskmanager.Products) (map[string]any, error) {
						var m map[string]int
						m["boom"]++
						return nil, nil
					}})
			}, "panic: assignment to entry in nil map"},
			{"ValueNotJSON", "src", func(f *fixture) {
				f.source("src", "", &funcSource{produces: []string{"a"}, fn: func(context.Context) (map[string]any, error) {
					return map[string]any{"a": func() {}}, nil
				}})
			}, `encode product "a" as JSON`},
			{"UndeclaredRead", "t", func(f *fixture) {
				f.source("src", "", counterSource("a", "z")).
					transform("t", &funcTransform{consumes: []string{"a"}, produces: []string{"b"}, fn: func(_ context.Context, in *taskmanager.Products) (map[string]any, error) {
						_, err := taskmanager.Get[int](in, "z")
						return map[string]any{"b": 1}, err
					}})
			}, `product "z": taskmanager: product not declared`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, "contract_"+tc.name)
				tc.build(f)
				c := f.channel(space, nil)
				res, err := c.RunCycle(context.Background())
				require.Nil(t, res)
				require.ErrorIs(t, err, taskmanager.ErrModule)
				var me *taskmanager.ModuleError
				require.ErrorAs(t, err, &me)
				require.Equal(t, tc.module, me.Module)
				require.ErrorContains(t, err, tc.want)
				require.NotEqual(t, taskmanager.StateActive, c.State())
			})
		}
	})
}

func TestSourceFailureSkipsTheCycle(t *testing.T) {
	t.Parallel()

	forEachBackend(t, func(t *testing.T, space *dataspace.DataSpace) {
		ctx := context.Background()
		clock := newClock()
		calls := 0
		flaky := &funcSource{produces: []string{"b"}, fn: func(context.Context) (map[string]any, error) {
			calls++
			if calls == 1 {
				return nil, errors.New("queue service unreachable")
			}
			return map[string]any{"b": calls}, nil
		}}
		f := newFixture(t, "flaky").source("good", "5s", counterSource("a")).source("flaky", "5s", flaky)
		cfg := f.config(clock)
		cfg.MaxCycles = 1
		w := watch(cfg)
		c := f.channel(space, cfg)
		done := runAsync(ctx, c)
		clock.WaitPending(t, 2) // both sources had their first turn
		require.Equal(t, taskmanager.StateIdle, c.State(), "no cycle before every source delivered")
		clock.Advance(5 * time.Second)
		require.NoError(t, waitDone(t, done))
		results := w.all()
		require.Len(t, results, 1)
		require.Equal(t, int64(1), results[0].Generation)
		require.Equal(t, []string{"flaky", "good"}, results[0].Sources)
	})
}

func TestDatasourceFailureIsAnError(t *testing.T) {
	t.Parallel()

	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			space, err := dataspace.Open(ctx, b.url(t), nil)
			require.NoError(t, err)
			// The publisher closes the datasource, so the cycle's write fails.
			closer := &funcPublisher{fn: func(context.Context, *taskmanager.Products) error { return space.Close() }}
			f := newFixture(t, "doomed").source("src", "", counterSource("n")).publisher("closer", closer)
			states := make(chan taskmanager.State, 20)
			cfg := f.config(newClock())
			cfg.OnState = func(_ string, s taskmanager.State) { states <- s }
			c := f.channel(space, cfg)
			err = c.Run(ctx)
			require.Error(t, err)
			require.NotErrorIs(t, err, taskmanager.ErrModule)
			require.ErrorContains(t, err, `channel "doomed"`)
			require.Equal(t, taskmanager.StateError, c.State())
			close(states)
			var seen []taskmanager.State
			for s := range states {
				seen = append(seen, s)
			}
			require.Equal(t, []taskmanager.State{taskmanager.StateIdle, taskmanager.StateActive, taskmanager.StateError}, seen)
		})
	}
}
