package bench_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/bench"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// productFigures are the figures BENCH.md asks of the product workloads
// this package defines, raw references included.
var productFigures = map[string][]string{
	"W1":      {"products_per_s"},
	"W1b":     {"products_per_s"},
	"RAW-W1":  {"rows_per_s"},
	"RAW-W1b": {"rows_per_s"},
	"W2":      {"products_per_s"},
	"RAW-W2":  {"rows_per_s"},
	"W3":      {"ms_per_duplicate"},
	"W3b":     {"ms_per_duplicate", "products"},
	"RAW-W3":  {"ms_per_copy"},
	"W4":      {"put_mb_per_s", "get_mb_per_s", "stored_bytes_per_product", "get_alloc_per_value_size"},
	"RAW-W4":  {"put_mb_per_s", "get_mb_per_s"},
	"W5":      {"lookups_per_s"},
	"RAW-W5":  {"lookups_per_s"},
	"W7":      {"rows_stored", "bytes_stored", "dup_ms_first_cycles", "dup_ms_last_cycles"},
}

func runProducts(t *testing.T, url string) {
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	require.NoError(t, err)
	defer space.Close()
	env, err := bench.NewEnv(space, 0.005)
	require.NoError(t, err)
	var steps int
	env.Progress = func(string, string, int, int) { steps++ }

	got := map[string][]string{}
	err = bench.Run(ctx, env, []string{"W1", "W2", "W3", "W4", "W5", "W7"}, func(r bench.Result) {
		require.Equal(t, space.Backend(), r.Backend)
		require.Positive(t, r.Value, "%s %s", r.Workload, r.Metric)
		got[r.Workload] = append(got[r.Workload], r.Metric)
	})
	require.NoError(t, err)
	for w, metrics := range productFigures {
		for _, m := range metrics {
			require.Contains(t, got[w], m, "workload %s", w)
		}
	}
	if space.Backend() == "postgres" {
		require.Contains(t, got["RAW-W1b-copy"], "rows_per_s")
	}
	require.Positive(t, steps, "no progress reported")

	// Nothing of the run is left behind.
	require.NoError(t, env.Cleanup(ctx))
	tms, err := space.DataSource().TaskManagerList(ctx, &datasource.TaskManagerListParams{})
	require.NoError(t, err)
	require.Empty(t, tms)
}

func TestProductWorkloadsSQLite(t *testing.T) {
	runProducts(t, "sqlite://"+filepath.Join(t.TempDir(), "bench.db"))
}

func TestProductWorkloadsPostgres(t *testing.T) {
	runProducts(t, pgtest.NewDatabase(t))
}

// memoryEnv returns an Env at scale 1 over a private in-memory SQLite
// dataspace, closed when t ends.
func memoryEnv(t *testing.T) (*bench.Env, *dataspace.DataSpace) {
	t.Helper()
	space, err := dataspace.Open(context.Background(), "sqlite://:memory:", nil)
	require.NoError(t, err)
	t.Cleanup(func() { space.Close() })
	env, err := bench.NewEnv(space, 1)
	require.NoError(t, err)
	return env, space
}

func TestUnknownWorkload(t *testing.T) {
	ctx := context.Background()
	env, space := memoryEnv(t)
	err := bench.Run(ctx, env, []string{"W99"}, func(bench.Result) { t.Fatal("no figure expected") })
	require.ErrorContains(t, err, `unknown workload "W99"`)
	_, err = bench.NewEnv(space, 0)
	require.ErrorContains(t, err, "scale")
}

func TestWorkloadsListed(t *testing.T) {
	var ids []string
	for _, w := range bench.Workloads() {
		ids = append(ids, w.ID)
	}
	for _, id := range []string{"W1", "W2", "W3", "W4", "W5", "W7"} {
		require.True(t, slices.Contains(ids, id), "workload %s not registered", id)
	}
}

// TestRepeat checks that Repeat reports each figure's median, lowest and
// highest value over its rounds, in the first round's order, and on an
// error the rounds done so far.
func TestRepeat(t *testing.T) {
	ctx := context.Background()
	env, _ := memoryEnv(t)

	round, failAt := 0, 0
	bench.Register(bench.Workload{ID: "T-repeat", Description: "figures of the test", Run: func(ctx context.Context, env *bench.Env) ([]bench.Result, error) {
		round++
		if round == failAt {
			return nil, errors.New("broken")
		}
		values := []float64{4, 1, 3, 2, 9}
		return []bench.Result{
			{Workload: "T-repeat", Backend: "sqlite", Metric: "b_per_s", Value: values[round-1]},
			{Workload: "T-repeat", Backend: "sqlite", Metric: "a_ms", Value: 10 * values[round-1]},
		}, nil
	}})

	got, err := bench.Repeat(ctx, env, []string{"T-repeat"}, 4)
	require.NoError(t, err)
	require.Equal(t, []bench.Summary{
		{Result: bench.Result{Workload: "T-repeat", Backend: "sqlite", Metric: "b_per_s", Value: 2.5}, Min: 1, Max: 4, Runs: 4},
		{Result: bench.Result{Workload: "T-repeat", Backend: "sqlite", Metric: "a_ms", Value: 25}, Min: 10, Max: 40, Runs: 4},
	}, got)

	round, failAt = 0, 4
	got, err = bench.Repeat(ctx, env, []string{"T-repeat"}, 5)
	require.ErrorContains(t, err, "round 4 of 5")
	require.ErrorContains(t, err, "broken")
	require.Len(t, got, 2)
	require.Equal(t, 3.0, got[0].Value, "the median of the rounds done")
	require.Equal(t, 3, got[0].Runs)

	_, err = bench.Repeat(ctx, env, []string{"T-repeat"}, 0)
	require.ErrorContains(t, err, "rounds")
}
