package inspect_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/inspect"
)

// Example filters the rows of a tabular product with a query and prints two
// of its columns.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "inspect-example")
	defer os.RemoveAll(dir)
	space, err := dataspace.Open(ctx, "sqlite://"+filepath.Join(dir, "strata.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer space.Close()

	b, _ := space.DataBlock(ctx, "jobs")
	_ = b.Put(ctx, "jobs", []map[string]any{
		{"id": 1, "site": "FNAL", "cpu": 4},
		{"id": 2, "site": "CERN", "cpu": 16},
	})

	in := inspect.New(space.DataSource(), nil)
	v, err := in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Columns: []string{"site", "cpu"}, Query: "cpu > 8"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Columns, *v.Product.Rows, "rows")
	_ = v.Rows(func(row []any) error {
		fmt.Println(row...)
		return nil
	})
	_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: "cpu >"})
	fmt.Println(err != nil)
	// Output:
	// [site cpu] 2 rows
	// CERN 16
	// true
}
