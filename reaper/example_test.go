package reaper_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/reaper"
)

// A reaper with a retention of 7 days removes a task manager's old
// generations but keeps its newest one.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "reaper-example")
	defer os.RemoveAll(dir)
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(dir, "strata.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer space.Close()

	// Ten daily generations of the task manager "jobs", the first 40 days ago.
	now := time.Now()
	at := now.Add(-40 * 24 * time.Hour)
	b, _ := datablock.New(ctx, space.DataSource(), "jobs", &datablock.Options{Clock: func() time.Time { return at }})
	for g := 1; g <= 10; g++ {
		_ = b.Put(ctx, "queue", []int{g})
		if g < 10 {
			at = at.Add(24 * time.Hour)
			b, _ = b.Duplicate(ctx)
		}
	}

	r, err := reaper.New(space, &reaper.Config{Retention: 7 * 24 * time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := r.RunOnce(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generations removed:", rep.Generations.Rows)
	fmt.Println("product versions removed:", rep.ProductVersions.Rows)
	fmt.Println("state:", r.Status().State)

	latest, _ := space.DataBlock(ctx, "jobs")
	queue, _ := datablock.Get[[]int](ctx, latest, "queue")
	fmt.Println("newest generation:", latest.Generation(), queue)
	// Output:
	// generations removed: 9
	// product versions removed: 9
	// state: STEADY
	// newest generation: 10 [10]
}
