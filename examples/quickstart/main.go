// Quickstart embeds Strata in a few lines: it opens a dataspace on SQLite,
// writes products over three decision cycles, and reads an old generation
// back.
//
//	go run ./examples/quickstart [-db sqlite:///tmp/quickstart.db]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

type offer struct {
	Site  string  `json:"site"`
	Slots int     `json:"slots"`
	Price float64 `json:"price"`
}

func run(ctx context.Context) error {
	url := flag.String("db", "sqlite://./quickstart.db", "datasource URL")
	flag.Parse()

	space, err := dataspace.Open(ctx, *url, nil)
	if err != nil {
		return err
	}
	defer space.Close()

	// A fresh instance of the task manager "quickstart" starts at generation 1.
	block, err := space.NewDataBlock(ctx, "quickstart")
	if err != nil {
		return err
	}
	fmt.Println("opened", block)

	offers := []offer{{"site-a", 100, 0.12}, {"site-b", 40, 0.08}}
	for cycle := 1; cycle <= 3; cycle++ {
		idle := 50 * cycle
		// One transaction per cycle: all products or none.
		err := block.PutItems(ctx,
			datablock.Item{Key: "idle_jobs", Value: idle, Header: &datablock.Header{Creator: "job-queue"}},
			datablock.Item{Key: "decision", Value: map[string]any{"provision": idle > 120, "cycle": cycle}},
		)
		if err != nil {
			return err
		}
		if cycle == 1 {
			// Written once, inherited by every later generation without a copy.
			if err := block.Put(ctx, "offers", offers); err != nil {
				return err
			}
		}
		keys, err := block.Keys(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("cycle %d: generation %d holds %v (idle_jobs=%d)\n", cycle, block.Generation(), keys, idle)
		if cycle < 3 {
			// Seal this generation and open the next: constant time.
			if block, err = block.Duplicate(ctx); err != nil {
				return err
			}
		}
	}

	first, err := block.At(ctx, 1)
	if err != nil {
		return err
	}
	oldIdle, err := datablock.Get[int](ctx, first, "idle_jobs")
	if err != nil {
		return err
	}
	inherited, err := datablock.Get[[]offer](ctx, block, "offers")
	if err != nil {
		return err
	}
	fmt.Printf("generation 1 still says idle_jobs=%d; generation %d still has %d offers from generation 1\n",
		oldIdle, block.Generation(), len(inherited))

	history, err := block.History(ctx, "idle_jobs")
	if err != nil {
		return err
	}
	for _, v := range history {
		fmt.Printf("idle_jobs version written in generation %d, %d bytes stored\n", v.FirstGeneration, v.StoredSize)
	}
	if err := block.Put(ctx, "idle_jobs", 0); err != nil {
		return err
	}
	err = first.Put(ctx, "idle_jobs", 0)
	fmt.Println("writing to sealed generation 1 fails:", err)

	st, err := space.DataSource().Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s holds %d task manager instances, %d generations, %d product versions\n",
		dataspace.Redact(*url), st.TaskManagers, st.Generations, st.ProductVersions)
	return nil
}
