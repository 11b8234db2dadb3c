package inspect_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/strata-dataspace/strata/inspect"
	"github.com/strata-dataspace/strata/inspect/inspecttest"
	"github.com/strata-dataspace/strata/internal/output"
)

// peakHeap samples the heap while fn runs and returns the highest
// HeapInuse seen above the level before it (after a GC).
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			var s runtime.MemStats
			runtime.ReadMemStats(&s)
			peak = max(peak, s.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	return peak - base
}

// benchBackends runs b for each backend; PostgreSQL is skipped (or, under
// CI=true, failed) by pgtest when no server is installed.
func benchBackends(b *testing.B, fn func(b *testing.B, backend string)) {
	for _, backend := range inspecttest.Backends {
		b.Run(backend, func(b *testing.B) { fn(b, backend) })
	}
}

// BenchmarkListGenerations lists 10,000 generations (one product written
// in every tenth) as JSON, page by page.
func BenchmarkListGenerations(b *testing.B) {
	const gens = 10_000
	benchBackends(b, func(b *testing.B, backend string) {
		ctx := context.Background()
		space := inspecttest.Open(b, backend)
		blk, err := space.DataBlock(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for g := 1; g < gens; g++ {
			if g%10 == 1 {
				if err := blk.Put(ctx, fmt.Sprintf("p%d", g%50), map[string]int{"g": g}); err != nil {
					b.Fatal(err)
				}
			}
			if blk, err = blk.Duplicate(ctx); err != nil {
				b.Fatal(err)
			}
		}
		in := inspect.New(space.DataSource(), nil)
		var peak uint64
		b.ResetTimer()
		for b.Loop() {
			peak = max(peak, peakHeap(func() {
				rw, _ := output.NewRowWriter(io.Discard, "json", []string{"generation", "time", "written", "bytes", "sealed"})
				n := 0
				err := in.Generations(ctx, &inspect.GenerationsParams{Name: "bench"}, func(g *inspect.Generation) error {
					n++
					return rw.Write(g.Number, g.Time, g.Written, g.Bytes, g.Sealed)
				})
				if err == nil {
					err = rw.Close()
				}
				if err != nil || n != gens {
					b.Fatalf("listed %d generations: %v", n, err)
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	})
}

// BenchmarkProductRows prints a 100,000-row tabular product as JSON,
// decoding one row at a time from the compressed value, with and without
// a query.
func BenchmarkProductRows(b *testing.B) {
	const rows = 100_000
	type row struct {
		ID     int     `json:"id"`
		Site   string  `json:"site"`
		CPU    int     `json:"cpu"`
		Memory float64 `json:"memory"`
		Note   string  `json:"note"`
	}
	benchBackends(b, func(b *testing.B, backend string) {
		ctx := context.Background()
		space := inspecttest.Open(b, backend)
		blk, err := space.DataBlock(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		value := make([]row, rows)
		sites := []string{"FNAL", "CERN", "DESY", "KIT"}
		for i := range value {
			value[i] = row{ID: i, Site: sites[i%4], CPU: i % 64, Memory: float64(i%1000) / 7, Note: fmt.Sprintf("job %d of the benchmark", i)}
		}
		if err := blk.Put(ctx, "jobs", value); err != nil {
			b.Fatal(err)
		}
		value = nil
		h, err := blk.Products(ctx)
		if err != nil {
			b.Fatal(err)
		}
		raw := h[0].RawSize
		b.Logf("%s: %d rows, %.1f MB of JSON stored as %.1f MB", backend, rows, float64(raw)/(1<<20), float64(h[0].StoredSize)/(1<<20))
		in := inspect.New(space.DataSource(), nil)
		for _, q := range []string{"", `cpu > 32 && site == "CERN"`} {
			name := "all"
			if q != "" {
				name = "query"
			}
			b.Run(name, func(b *testing.B) {
				var peak uint64
				for b.Loop() {
					peak = max(peak, peakHeap(func() {
						v, err := in.Product(ctx, &inspect.ProductParams{Name: "bench", Key: "jobs", Query: q})
						if err != nil {
							b.Fatal(err)
						}
						rw, _ := output.NewRowWriter(io.Discard, "json", v.Columns)
						if err := v.Rows(func(r []any) error { return rw.Write(r...) }); err != nil {
							b.Fatal(err)
						}
						if err := rw.Close(); err != nil {
							b.Fatal(err)
						}
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(raw)/(1<<20), "value-MB")
			})
		}
	})
}
