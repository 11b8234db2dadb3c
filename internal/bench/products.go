package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
)

// The product workloads W1–W5 and W7 of BENCH.md. W6 (reaping) is
// registered by w6.go.

func init() {
	Register(Workload{ID: "W1", Description: "put 2000 products of ~1 KB one durable call each (W1) and as one batch (W1b)", Run: runW1})
	Register(Workload{ID: "W2", Description: "read 2000 products of ~1 KB back by key, decoded", Run: runW2})
	Register(Workload{ID: "W3", Description: "duplicate a 2000-product generation (W3) and a 200,000-product one (W3b)", Run: runW3})
	Register(Workload{ID: "W4", Description: "put 20 products of ~1 MB (10,000 typed records each), get their bytes back, and decoded", Run: runW4})
	Register(Workload{ID: "W5", Description: "look up the last generation by name among 50 task managers", Run: runW5})
	Register(Workload{ID: "W7", Description: "1000 cycles of a 2000-product block with 40 changes per cycle", Run: runW7})
}

// payload900 pads a ~1 KB product.
var payload900 = strings.Repeat("x", 900)

// kbValue is the "1 KB" product of BENCH.md.
func kbValue(i int) map[string]any {
	return map[string]any{"i": i, "name": fmt.Sprintf("product-%d", i), "payload": payload900}
}

func key(i int) string { return fmt.Sprintf("p%04d", i) }

// newBlock opens a fresh task manager for a workload.
func (e *Env) newBlock(ctx context.Context, workload string, clock func() time.Time) (*datablock.DataBlock, error) {
	name := fmt.Sprintf("%s%s.%d", NamePrefix, workload, time.Now().UnixNano())
	return datablock.New(ctx, e.Space.DataSource(), name, &datablock.Options{Clock: clock})
}

// putBatches puts n ~1 KB products into b in transactions of up to 5000.
func (e *Env) putBatches(ctx context.Context, b *datablock.DataBlock, workload string, n int) error {
	const chunk = 5000
	items := make([]datablock.Item, 0, min(n, chunk))
	for start := 0; start < n; start += chunk {
		items = items[:0]
		for i := start; i < min(n, start+chunk); i++ {
			items = append(items, datablock.Item{Key: fmt.Sprintf("p%06d", i), Value: kbValue(i)})
		}
		if err := b.PutItems(ctx, items...); err != nil {
			return err
		}
		e.progress(workload, "load", min(n, start+chunk), n)
	}
	return nil
}

func perSecond(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runW1(ctx context.Context, e *Env) ([]Result, error) {
	n := e.N(2000)
	b, err := e.newBlock(ctx, "W1", nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for i := range n {
		if err := b.Put(ctx, key(i), kbValue(i)); err != nil {
			return nil, err
		}
		if i%100 == 99 {
			e.progress("W1", "single puts", i+1, n)
		}
	}
	single := time.Since(start)

	bb, err := e.newBlock(ctx, "W1b", nil)
	if err != nil {
		return nil, err
	}
	items := make([]datablock.Item, n)
	for i := range n {
		items[i] = datablock.Item{Key: key(i), Value: kbValue(i)}
	}
	start = time.Now()
	if err := bb.PutItems(ctx, items...); err != nil {
		return nil, err
	}
	batch := time.Since(start)
	out := []Result{
		e.result("W1", "products_per_s", perSecond(n, single)),
		e.result("W1b", "products_per_s", perSecond(n, batch)),
	}
	raw, err := e.rawW1(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	return append(out, raw...), nil
}

func runW2(ctx context.Context, e *Env) ([]Result, error) {
	n := e.N(2000)
	b, err := e.newBlock(ctx, "W2", nil)
	if err != nil {
		return nil, err
	}
	if err := e.putBatches(ctx, b, "W2", n); err != nil {
		return nil, err
	}
	start := time.Now()
	for i := range n {
		var v map[string]any
		if err := b.Get(ctx, fmt.Sprintf("p%06d", i), &v); err != nil {
			return nil, err
		}
	}
	d := time.Since(start)
	out := []Result{e.result("W2", "products_per_s", perSecond(n, d))}
	raw, err := e.rawW2(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	return append(out, raw...), nil
}

// duplicates times five successive duplicates of b and returns the median.
func (e *Env) duplicates(ctx context.Context, b *datablock.DataBlock) (time.Duration, error) {
	var ds []time.Duration
	for range 5 {
		start := time.Now()
		next, err := b.Duplicate(ctx)
		if err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
		b = next
	}
	return median(ds), nil
}

func runW3(ctx context.Context, e *Env) ([]Result, error) {
	small, err := e.newBlock(ctx, "W3", nil)
	if err != nil {
		return nil, err
	}
	if err := e.putBatches(ctx, small, "W3", e.N(2000)); err != nil {
		return nil, err
	}
	w3, err := e.duplicates(ctx, small)
	if err != nil {
		return nil, err
	}
	big, err := e.newBlock(ctx, "W3b", nil)
	if err != nil {
		return nil, err
	}
	nb := e.N(200_000)
	if err := e.putBatches(ctx, big, "W3b", nb); err != nil {
		return nil, err
	}
	w3b, err := e.duplicates(ctx, big)
	if err != nil {
		return nil, err
	}
	out := []Result{
		e.result("W3", "ms_per_duplicate", ms(w3)),
		e.result("W3b", "ms_per_duplicate", ms(w3b)),
		e.result("W3b", "products", float64(nb)),
		e.result("W3b", "ratio_to_W3", ms(w3b)/max(ms(w3), 0.001)),
	}
	raw, err := e.rawW3(ctx, e.N(2000))
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	return append(out, raw...), nil
}

// record is one row of a W4 product, as a Go program would type it.
type record struct {
	ID    int     `json:"id"`
	Host  string  `json:"host"`
	CPUs  int     `json:"cpus"`
	MemGB float64 `json:"mem_gb"`
	State string  `json:"state"`
	Price float64 `json:"price"`
}

// mbValue is a ~1 MB product: a list of n small records from a seeded
// generator, so that it compresses like real tabular data.
func mbValue(seed uint64, n int) []record {
	r := rand.New(rand.NewPCG(seed, 42))
	states := []string{"idle", "busy", "draining", "offline"}
	rows := make([]record, n)
	for i := range rows {
		rows[i] = record{
			ID:    i,
			Host:  fmt.Sprintf("node-%05d.cluster.example", r.IntN(50_000)),
			CPUs:  1 << r.IntN(7),
			MemGB: float64(r.IntN(5120)) / 10,
			State: states[r.IntN(len(states))],
			Price: float64(r.IntN(100_000)) / 1000,
		}
	}
	return rows
}

func runW4(ctx context.Context, e *Env) ([]Result, error) {
	n := e.N(20)
	records := max(1, int(10_000*min(e.Scale, 1)))
	b, err := e.newBlock(ctx, "W4", nil)
	if err != nil {
		return nil, err
	}
	values := make([][]record, n)
	for i := range values {
		values[i] = mbValue(uint64(i), records)
	}
	start := time.Now()
	for i, v := range values {
		if err := b.Put(ctx, key(i), v); err != nil {
			return nil, err
		}
		e.progress("W4", "put", i+1, n)
	}
	put := time.Since(start)
	var rawBytes, stored int64
	prods, err := b.Products(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range prods {
		rawBytes += p.RawSize
		stored += p.StoredSize
	}
	mb := float64(rawBytes) / 1e6
	// get: the value's bytes, ready to serve; decoded: into []record.
	start = time.Now()
	for i := range n {
		if _, err := b.GetBytes(ctx, key(i)); err != nil {
			return nil, err
		}
		e.progress("W4", "get", i+1, n)
	}
	get := time.Since(start)
	start = time.Now()
	for i := range n {
		var v []record
		if err := b.Get(ctx, key(i), &v); err != nil {
			return nil, err
		}
		e.progress("W4", "get decoded", i+1, n)
	}
	decoded := time.Since(start)
	alloc, err := getAlloc(ctx, b, key(0))
	if err != nil {
		return nil, err
	}
	out := []Result{
		e.result("W4", "put_mb_per_s", mb/put.Seconds()),
		e.result("W4", "get_mb_per_s", mb/get.Seconds()),
		e.result("W4", "get_decoded_mb_per_s", mb/decoded.Seconds()),
		e.result("W4", "raw_bytes_per_product", float64(rawBytes)/float64(n)),
		e.result("W4", "stored_bytes_per_product", float64(stored)/float64(n)),
		e.result("W4", "get_alloc_per_value_size", float64(alloc)/(float64(rawBytes)/float64(n))),
	}
	raw, err := e.rawW4(ctx, n, int(rawBytes)/n)
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	zs, err := zlibSize(values[0])
	if err != nil {
		return nil, err
	}
	out = append(out, raw...)
	return append(out, e.result("RAW-W4", "zlib_bytes_per_product", float64(zs))), nil
}

func runW5(ctx context.Context, e *Env) ([]Result, error) {
	tms, gens, prods := e.N(50), max(2, e.N(20)), 10
	ds := e.Space.DataSource()
	names := make([]string, tms)
	for t := range tms {
		b, err := e.newBlock(ctx, fmt.Sprintf("W5.%02d", t), nil)
		if err != nil {
			return nil, err
		}
		names[t] = b.TaskManager().Name
		items := make([]datablock.Item, prods)
		for i := range items {
			items[i] = datablock.Item{Key: key(i), Value: kbValue(i)}
		}
		for g := 1; g <= gens; g++ {
			if err := b.PutItems(ctx, items...); err != nil {
				return nil, err
			}
			if g < gens {
				if b, err = b.Duplicate(ctx); err != nil {
					return nil, err
				}
			}
		}
		e.progress("W5", "load", t+1, tms)
	}
	lookups := e.N(20_000)
	start := time.Now()
	for i := range lookups {
		tm, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: names[i%tms]})
		if err != nil {
			return nil, err
		}
		if tm.LastGeneration != int64(gens) {
			return nil, fmt.Errorf("task manager %s: last generation %d, want %d", tm.Name, tm.LastGeneration, gens)
		}
	}
	d := time.Since(start)
	out := []Result{e.result("W5", "lookups_per_s", perSecond(lookups, d))}
	raw, err := e.rawW5(ctx, names, lookups)
	if err != nil {
		return nil, fmt.Errorf("raw reference: %w", err)
	}
	return append(out, raw...), nil
}

func runW7(ctx context.Context, e *Env) ([]Result, error) {
	n, cycles, changes := e.N(2000), max(2, e.N(1000)), max(1, e.N(40))
	b, err := e.newBlock(ctx, "W7", nil)
	if err != nil {
		return nil, err
	}
	if err := e.putBatches(ctx, b, "W7", n); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(7, 7))
	dup := make([]time.Duration, 0, cycles)
	items := make([]datablock.Item, changes)
	for c := 1; c <= cycles; c++ {
		for i := range items {
			k := r.IntN(n)
			v := kbValue(k)
			v["cycle"] = c
			items[i] = datablock.Item{Key: fmt.Sprintf("p%06d", k), Value: v}
		}
		if err := b.PutItems(ctx, items...); err != nil {
			return nil, err
		}
		start := time.Now()
		if b, err = b.Duplicate(ctx); err != nil {
			return nil, err
		}
		dup = append(dup, time.Since(start))
		if c%10 == 0 {
			e.progress("W7", "cycles", c, cycles)
		}
	}
	rows, bytes, err := e.storedBy(ctx, b.TaskManager().SequenceID)
	if err != nil {
		return nil, err
	}
	window := max(1, min(10, cycles/2))
	return []Result{
		e.result("W7", "rows_stored", float64(rows)),
		e.result("W7", "bytes_stored", float64(bytes)),
		e.result("W7", "rows_if_copied_per_cycle", float64(n*(cycles+1))),
		e.result("W7", "dup_ms_first_cycles", ms(median(dup[:window]))),
		e.result("W7", "dup_ms_last_cycles", ms(median(dup[len(dup)-window:]))),
	}, nil
}
