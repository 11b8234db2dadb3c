package inspect_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/inspect"
	"github.com/strata-dataspace/strata/inspect/inspecttest"
)

// FuzzQuery runs a fuzzed --query over a small tabular product of mixed
// column types: the query either compiles and filters the rows or fails
// with ErrQuery, at compile time or on a row; it never panics, and the
// rows it keeps are rows of the product, in Columns order.
//
// expr bounds a program to 10,000 AST nodes and a run to a memory budget
// (which also bounds its loops: every element a loop visits counts), so
// a short query cannot run long; queries are still capped at 1 KiB here to
// keep the fuzzer on short, meaningful inputs.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		`cpu > 2 && site == "FNAL"`,
		`cpu > 2`,
		`site in ["FNAL", "CERN"]`,
		`$env["odd-name"]`,
		`$env["odd-name"] == true`,
		`ratio * 2 > 1`,
		`meta.k == 1 and len(tags) > 0`,
		`all(tags, # != "")`,
		`any(tags, {# startsWith "x"})`,
		`none == nil`,
		`missing == nil`,
		`nope > 1`,
		`cpu + 1`,
		`1 + 1`,
		`let x = cpu; x > 1`,
		`filter(1..10, # > cpu) != []`,
		`len(toJSON(meta)) > 2`,
		`now() > date("2020-01-01")`,
		`cpu / 0 > 1`,
		`tags[99] == "x"`,
		`int(site) > 0`,
		`sum(1..1000000) > 0`,
		`len(1..100000000) > 0`,
		`all(1..1000, {all(1..1000, {all(1..1000, true)})})`,
		`repeat("x", 1000000) != ""`,
		`true`,
		`(`,
		`"unterminated`,
		`cpu >`,
		` `,
		``,
		"\xff",
	} {
		f.Add(q)
	}
	ctx := context.Background()
	space := inspecttest.Open(f, "sqlite")
	b, err := datablock.New(ctx, space.DataSource(), "fuzz", nil)
	require.NoError(f, err)
	rows := []map[string]any{
		{"id": 1, "site": "FNAL", "cpu": 4, "ratio": 0.5, "tags": []string{"x", "y"}, "meta": map[string]any{"k": 1}, "none": nil, "odd-name": true},
		{"id": 2, "site": "CERN", "cpu": 16, "ratio": 2.25, "tags": []string{}, "meta": map[string]any{"k": "one"}, "none": nil},
		{"id": 3, "site": "", "cpu": -1, "ratio": 1e300, "tags": nil, "meta": nil, "odd-name": false, "late": "only here"},
	}
	require.NoError(f, b.Put(ctx, "rows", rows))
	in := inspect.New(space.DataSource(), nil)

	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 1<<10 {
			return
		}
		v, err := in.Product(ctx, &inspect.ProductParams{Name: "fuzz", Key: "rows", Query: q})
		_, compileErr := inspect.CompileQuery(q)
		if err != nil {
			require.Nil(t, v)
			require.ErrorIs(t, err, inspect.ErrQuery)
			require.Error(t, compileErr, "Product rejects %q, CompileQuery does not", q)
			return
		}
		require.NotNil(t, v)
		if strings.TrimSpace(q) != "" {
			require.NoError(t, compileErr, "Product accepts %q, CompileQuery does not", q)
		}
		require.True(t, v.Tabular)
		require.Len(t, v.Columns, 9)
		id := slices.Index(v.Columns, "id")
		require.GreaterOrEqual(t, id, 0)
		var kept []string
		err = v.Rows(func(r []any) error {
			require.Len(t, r, len(v.Columns))
			kept = append(kept, fmt.Sprint(r[id]))
			return nil
		})
		if err != nil {
			require.ErrorIs(t, err, inspect.ErrQuery, "query %q", q)
			require.ErrorContains(t, err, "on row", "a query that fails on a row says which")
			return
		}
		// The rows kept are rows of the product, in order.
		want := []string{"1", "2", "3"}
		for _, k := range kept {
			i := slices.Index(want, k)
			require.GreaterOrEqual(t, i, 0, "query %q keeps rows %v", q, kept)
			want = want[i+1:]
		}
	})
}
