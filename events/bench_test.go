package events_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/bench"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// TestBenchWorkloads runs the E workloads of internal/bench at a small
// scale on both backends and checks every figure is there. Set
// STRATA_EVENTS_BENCH_SCALE (e.g. 1) to run them at another scale and log
// the figures.
func TestBenchWorkloads(t *testing.T) {
	t.Parallel()
	scale := 0.01
	if s := os.Getenv("STRATA_EVENTS_BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		scale = v
	}
	want := map[string][]string{
		"E1": {"events_per_s"}, "RAW-E1": {"events_per_s"},
		"E1b": {"events_per_s"}, "E2b": {"queries_per_s"}, "E3b": {"queries_per_s"},
		"E2": {"queries_per_s"}, "RAW-E2": {"queries_per_s"},
		"E3": {"queries_per_s"}, "RAW-E3": {"queries_per_s"},
		"E4": {"event_types_queries_per_s", "trait_types_queries_per_s"}, "RAW-E4": {"select_1_queries_per_s"},
		"E5": {"seconds", "events_expired", "ms_per_10000_events"},
	}
	ids := []string{"E1", "E1b", "E2", "E3", "E4", "E5"}
	if w := os.Getenv("STRATA_EVENTS_BENCH_WORKLOADS"); w != "" {
		ids = []string{w}
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url := "sqlite://" + filepath.Join(t.TempDir(), "bench.db")
			if backend == "postgres" {
				url = pgtest.NewDatabase(t)
			}
			ctx := context.Background()
			space, err := dataspace.Open(ctx, url, nil)
			require.NoError(t, err)
			defer space.Close()
			env, err := bench.NewEnv(space, scale)
			require.NoError(t, err)
			got := map[string][]string{}
			err = bench.Run(ctx, env, ids, func(r bench.Result) {
				t.Logf("%-12s %-10s %-28s %12.1f", r.Workload, r.Backend, r.Metric, r.Value)
				require.Positive(t, r.Value, "%s %s", r.Workload, r.Metric)
				got[r.Workload] = append(got[r.Workload], r.Metric)
			})
			require.NoError(t, err)
			if len(ids) > 1 {
				for w, metrics := range want {
					for _, m := range metrics {
						require.Contains(t, got[w], m, "workload %s", w)
					}
				}
			}
			var left int
			require.NoError(t, env.Raw.Get(&left, `SELECT COUNT(*) FROM event`))
			require.Zero(t, left, "the workloads remove their events")
		})
	}
}
