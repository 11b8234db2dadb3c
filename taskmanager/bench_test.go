package taskmanager_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/taskmanager"
	"github.com/strata-dataspace/strata/taskmanager/logic"
)

type noopSource struct{}

func (noopSource) Produces() []string { return []string{"tick"} }
func (noopSource) Acquire(context.Context) (map[string]any, error) {
	return map[string]any{"tick": 1}, nil
}

type noopTransform struct{}

func (noopTransform) Consumes() []string { return []string{"tick"} }
func (noopTransform) Produces() []string { return []string{"tock"} }
func (noopTransform) Transform(context.Context, *taskmanager.Products) (map[string]any, error) {
	return map[string]any{"tock": 1}, nil
}

type noopPublisher struct{}

func (noopPublisher) Consumes() []string                                   { return []string{"tock"} }
func (noopPublisher) Publish(context.Context, *taskmanager.Products) error { return nil }

// BenchmarkCycleOverhead measures what the framework itself costs per
// decision cycle (duplicate, one atomic write of the cycle's products, the
// facts, the publisher status, module bookkeeping) with no-op modules, on a
// block of 2000 products of ~1 KB. Target: ≤ 2 ms per cycle on SQLite.
func BenchmarkCycleOverhead(b *testing.B) {
	for _, bk := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"SQLite", func(b *testing.B) string { return "sqlite://" + filepath.Join(b.TempDir(), "strata.db") }},
		{"SQLiteSyncNormal", func(b *testing.B) string {
			return "sqlite://" + filepath.Join(b.TempDir(), "strata.db") + "?synchronous=NORMAL"
		}},
		{"PostgreSQL", func(b *testing.B) string { return pgtest.NewDatabase(b) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			ctx := context.Background()
			space, err := dataspace.Open(ctx, bk.url(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer space.Close()
			block, err := space.DataBlock(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			items := make([]datablock.Item, 2000)
			for i := range items {
				items[i] = datablock.Item{Key: fmt.Sprintf("p%04d", i), Value: map[string]any{
					"i": i, "name": fmt.Sprintf("product-%d", i), "payload": strings.Repeat("x", 900),
				}}
			}
			if err := block.PutItems(ctx, items...); err != nil {
				b.Fatal(err)
			}
			reg := taskmanager.NewRegistry()
			if err := logic.Register(reg); err != nil {
				b.Fatal(err)
			}
			_ = reg.RegisterSource("noop", func(taskmanager.Params) (taskmanager.Source, error) { return noopSource{}, nil })
			_ = reg.RegisterTransform("noop", func(taskmanager.Params) (taskmanager.Transform, error) { return noopTransform{}, nil })
			_ = reg.RegisterPublisher("noop", func(taskmanager.Params) (taskmanager.Publisher, error) { return noopPublisher{}, nil })
			f, err := taskmanager.ParseFile("bench", []byte(`{
				"sources": {"src": {"module": "noop"}},
				"transforms": {"t": {"module": "noop"}},
				"logicengines": {"le": {"module": "logicengine", "parameters": {
					"facts": {"ticked": "tick > 0"},
					"rules": {"go": {"expression": "ticked", "actions": ["pub"]}}}}},
				"publishers": {"pub": {"module": "noop"}}
			}`))
			if err != nil {
				b.Fatal(err)
			}
			c, err := taskmanager.NewChannel(ctx, space, f.Channels[0], &taskmanager.Config{Registry: reg, Logger: hclog.NewNullLogger()})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				res, err := c.RunCycle(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Publishers) != 1 {
					b.Fatalf("publishers run: %v", res.Publishers)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/cycle")
		})
	}
}
