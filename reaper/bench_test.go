package reaper_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/bench"
)

// runW6 runs BENCH.md's W6 (registered by internal/bench) on a fresh
// database of each backend and returns its figures by metric.
func runW6(tb testing.TB, url string, scale float64) map[string]float64 {
	tb.Helper()
	ctx := context.Background()
	space, err := dataspace.Open(ctx, url, nil)
	require.NoError(tb, err)
	defer space.Close()
	env, err := bench.NewEnv(space, scale)
	require.NoError(tb, err)
	got := map[string]float64{}
	err = bench.Run(ctx, env, []string{"W6"}, func(r bench.Result) {
		require.Equal(tb, space.Backend(), r.Backend)
		switch r.Workload {
		case "W6":
			got[r.Metric] = r.Value
		case "RAW-W6":
			got["raw_"+r.Metric] = r.Value
		default:
			tb.Fatalf("unexpected workload %s", r.Workload)
		}
	})
	require.NoError(tb, err)
	return got
}

// TestW6 checks the W6 workload at a small scale: it deletes the old
// instances and leaves the fresh ones intact. (Speed is for the benchmark.)
func TestW6(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			got := runW6(t, be.url(t), 0.1) // 20 old instances of 5 names, 5 products each
			require.Equal(t, 1.0, got["fresh_intact"])
			// 20 instances, their 20 generations and 100 product versions.
			require.Equal(t, 140.0, got["rows_deleted"])
			require.Positive(t, got["rows_per_s"])
			require.Positive(t, got["batches"])
			require.Positive(t, got["raw_rows_per_s"])
		})
	}
}

// BenchmarkW6 is BENCH.md's W6 at full scale (STRATA_BENCH_SCALE to
// change it): go test -run '^$' -bench W6 -benchtime 1x ./reaper/
func BenchmarkW6(b *testing.B) {
	scale := 1.0
	if s := os.Getenv("STRATA_BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(b, err)
		scale = v
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var got map[string]float64
			for b.Loop() {
				b.StopTimer()
				url := be.url(b)
				b.StartTimer()
				got = runW6(b, url, scale)
			}
			for _, m := range []string{"seconds", "rows_deleted", "rows_per_s", "max_batch_ms", "batches", "fresh_intact", "raw_rows_per_s"} {
				b.ReportMetric(got[m], m)
			}
		})
	}
}
