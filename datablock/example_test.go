package datablock_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "strata-example")
	defer os.RemoveAll(dir)
	ds, err := sqlite.Open(ctx, filepath.Join(dir, "strata.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ds.Close()
	if err := ds.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	gen1, _ := datablock.Open(ctx, ds, "provisioner", nil)
	_ = gen1.Put(ctx, "jobs", map[string]int{"idle": 40})
	_ = gen1.Put(ctx, "offers", []string{"site-a", "site-b"})

	gen2, _ := gen1.Duplicate(ctx) // no product is copied
	_ = gen2.Put(ctx, "jobs", map[string]int{"idle": 12})

	old, _ := datablock.Get[map[string]int](ctx, gen1, "jobs")
	cur, _ := datablock.Get[map[string]int](ctx, gen2, "jobs")
	offers, _ := datablock.Get[[]string](ctx, gen2, "offers")
	fmt.Println("gen", gen1.Generation(), "jobs:", old)
	fmt.Println("gen", gen2.Generation(), "jobs:", cur, "offers:", offers)
	fmt.Println("write to sealed gen 1:", gen1.Put(ctx, "jobs", 0) != nil)
	// Output:
	// gen 1 jobs: map[idle:40]
	// gen 2 jobs: map[idle:12] offers: [site-a site-b]
	// write to sealed gen 1: true
}
