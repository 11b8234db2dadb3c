package inspect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/datasource"
	"github.com/strata-dataspace/strata/inspect"
	"github.com/strata-dataspace/strata/inspect/inspecttest"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func rowsOf(t *testing.T, v *inspect.Value) []string {
	t.Helper()
	var out []string
	require.NoError(t, v.Rows(func(r []any) error {
		b, err := json.Marshal(r)
		out = append(out, string(b))
		return err
	}))
	return out
}

func TestInspector(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			space := inspecttest.Seeded(t, backend)
			now := inspecttest.T0.Add(time.Hour)
			in := inspect.New(space.DataSource(), &inspect.Options{Clock: func() time.Time { return now }, PageSize: 2})

			t.Run("TaskManagers", func(t *testing.T) {
				tms, err := in.TaskManagers(ctx)
				require.NoError(t, err)
				require.Len(t, tms, 3)
				require.Equal(t, []string{"idle", "jobs", "strata.reaper"}, []string{tms[0].Name, tms[1].Name, tms[2].Name})
				jobs := tms[1]
				require.EqualValues(t, 3, jobs.LastGeneration)
				require.Equal(t, 5, jobs.Products)
				require.Equal(t, 1, jobs.Instances)
				require.True(t, jobs.LastCycle.Equal(inspecttest.T0.Add(2*time.Minute)), jobs.LastCycle)
				require.True(t, jobs.Started.Equal(inspecttest.T0))
				require.Equal(t, 0, tms[0].Products)

				one, err := in.TaskManagerNamed(ctx, "jobs")
				require.NoError(t, err)
				require.Equal(t, jobs, one, "the same summary as in the list")
				none, err := in.TaskManagerNamed(ctx, "nope")
				require.NoError(t, err)
				require.Nil(t, none)
			})

			t.Run("Generations", func(t *testing.T) {
				var got []*inspect.Generation
				err := in.Generations(ctx, &inspect.GenerationsParams{Name: "jobs"}, func(g *inspect.Generation) error {
					got = append(got, g)
					return nil
				})
				require.NoError(t, err)
				require.Len(t, got, 3, "pages of 2 are joined")
				require.Equal(t, []int64{4, 2, 2}, []int64{got[0].Written, got[1].Written, got[2].Written})
				require.Equal(t, []bool{true, true, false}, []bool{got[0].Sealed, got[1].Sealed, got[2].Sealed})
				require.Positive(t, got[0].Bytes)
				require.True(t, got[1].Time.Equal(inspecttest.T0.Add(time.Minute)))

				got = nil
				err = in.Generations(ctx, &inspect.GenerationsParams{Name: "jobs", After: 1, Limit: 1}, func(g *inspect.Generation) error {
					got = append(got, g)
					return nil
				})
				require.NoError(t, err)
				require.Len(t, got, 1)
				require.EqualValues(t, 2, got[0].Number)
			})

			t.Run("Products", func(t *testing.T) {
				b, ps, err := in.Products(ctx, "jobs", 0)
				require.NoError(t, err)
				require.EqualValues(t, 3, b.Generation)
				keys := []string{}
				for _, p := range ps {
					keys = append(keys, p.Key)
				}
				require.Equal(t, []string{"alerts", "config", "facts", "jobs", "publishers"}, keys)
				jobs := ps[3]
				require.True(t, jobs.Tabular)
				require.EqualValues(t, 3, *jobs.Rows)
				require.EqualValues(t, 2, jobs.Generation)
				require.Equal(t, "JobSource", jobs.Creator)
				require.Nil(t, ps[1].Rows)

				_, ps, err = in.Products(ctx, "jobs", 1)
				require.NoError(t, err)
				require.Len(t, ps, 4)
				require.EqualValues(t, 2, *ps[2].Rows)
			})

			t.Run("ProductTable", func(t *testing.T) {
				v, err := in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs"})
				require.NoError(t, err)
				require.True(t, v.Tabular)
				require.Equal(t, []string{"id", "site", "cpu"}, v.Columns, "columns in document order")
				require.Equal(t, []string{`[1,"FNAL",4]`, `[2,"CERN",16]`, `[3,"DESY",2]`}, rowsOf(t, v))
				require.Equal(t, "number", v.Types[0].Types)
				require.Equal(t, "string", v.Types[1].Types)
				require.EqualValues(t, 3, v.Types[2].Count)

				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Generation: 1, Columns: []string{"site", "cpu"}, Query: `cpu > 4 || site == "FNAL"`})
				require.NoError(t, err)
				require.Equal(t, []string{"site", "cpu"}, v.Columns)
				require.Equal(t, []string{`["FNAL",4]`, `["CERN",8]`}, rowsOf(t, v))

				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Columns: []string{"cpu", " site", "cpu", ""}})
				require.NoError(t, err)
				require.Equal(t, []string{"cpu", "site"}, v.Columns, "trimmed, each once")

				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `site in ["DESY", "CERN"] and cpu < 10`})
				require.NoError(t, err)
				require.Equal(t, []string{`[3,"DESY",2]`}, rowsOf(t, v))

				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `$env["site"] == "DESY" && memory == nil`})
				require.NoError(t, err, "columns reachable through $env; a missing column is nil")
				require.Equal(t, []string{`[3,"DESY",2]`}, rowsOf(t, v))
			})

			t.Run("QueryNeverRunsSQL", func(t *testing.T) {
				v, err := in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `site == "x'; DROP TABLE product; --"`})
				require.NoError(t, err)
				require.Empty(t, rowsOf(t, v))
				_, ps, err := in.Products(ctx, "jobs", 0)
				require.NoError(t, err)
				require.Len(t, ps, 5)
			})

			t.Run("ProductScalarAndMap", func(t *testing.T) {
				v, err := in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "alerts"})
				require.NoError(t, err)
				require.False(t, v.Tabular)
				require.JSONEq(t, `"disk almost full"`, string(v.JSON))
				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "facts", Generation: 1})
				require.NoError(t, err)
				require.JSONEq(t, `{"allow": true}`, string(v.JSON))
				require.ErrorIs(t, v.Rows(func([]any) error { return nil }), inspect.ErrInvalid)
			})

			t.Run("Errors", func(t *testing.T) {
				_, err := in.Product(ctx, &inspect.ProductParams{Name: "nope", Key: "jobs"})
				require.ErrorIs(t, err, inspect.ErrTaskManagerNotFound)
				require.ErrorIs(t, err, datasource.ErrNotFound)
				require.Equal(t, "unknown task manager \"nope\" (list them with `strata inspect taskmanagers`)", err.Error())

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "nothing"})
				require.ErrorIs(t, err, inspect.ErrProductNotFound)
				require.Contains(t, err.Error(), `unknown product "nothing" in generation 3 of task manager "jobs"`)

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Generation: 9})
				require.ErrorIs(t, err, inspect.ErrGenerationNotFound)

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `cpu >`})
				require.ErrorIs(t, err, inspect.ErrQuery)
				require.NotContains(t, err.Error(), "\n")

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `1 + 1`})
				require.ErrorIs(t, err, inspect.ErrQuery, "not a boolean")
				v, err := in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `cpu + 1`})
				require.NoError(t, err)
				err = v.Rows(func([]any) error { return nil })
				require.ErrorIs(t, err, inspect.ErrQuery, "not a boolean")
				require.Contains(t, err.Error(), "on row 1: the expression must be true or false, got number 5")

				// A name that is not a column is named in the error.
				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `memory > 2 && cpu > 1`})
				require.NoError(t, err)
				err = v.Rows(func([]any) error { return nil })
				require.ErrorIs(t, err, inspect.ErrQuery)
				require.Contains(t, err.Error(), "(memory: not a column of this product; its columns: id, site, cpu)")
				require.NotContains(t, err.Error(), "\n")
				// let-bound names, functions, closures and $env are not columns.
				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs",
					Query: `let m = cpu; m > 1 && len(site) == 4 && all([1], # > 0) && $env.id > 0 && nope(1)`})
				require.NoError(t, err)
				err = v.Rows(func([]any) error { return nil })
				require.ErrorIs(t, err, inspect.ErrQuery, "nope is not a function")
				require.NotContains(t, err.Error(), "not a column", "nope is called, not a column")
				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs",
					Query: `let m = cpu; m > 1 && len(site) == 4 && all([1], # > 0) && $env.id > 0`})
				require.NoError(t, err)
				require.Len(t, rowsOf(t, v), 3)

				v, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Query: `site > 3`})
				require.NoError(t, err)
				err = v.Rows(func([]any) error { return nil })
				require.ErrorIs(t, err, inspect.ErrQuery)
				require.Contains(t, err.Error(), "row 1")

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "jobs", Columns: []string{"memory"}})
				require.ErrorIs(t, err, inspect.ErrInvalid)
				require.Contains(t, err.Error(), "its columns: id, site, cpu")

				_, err = in.Product(ctx, &inspect.ProductParams{Name: "jobs", Key: "config", Query: "true"})
				require.ErrorIs(t, err, inspect.ErrInvalid)

				err = in.Generations(ctx, &inspect.GenerationsParams{Name: "nope"}, func(*inspect.Generation) error { return nil })
				require.ErrorIs(t, err, inspect.ErrTaskManagerNotFound)
				_, err = in.History(ctx, &inspect.HistoryParams{Name: "jobs", Key: "nothing"})
				require.ErrorIs(t, err, inspect.ErrProductNotFound)
				_, _, err = in.Diff(ctx, &inspect.DiffParams{Name: "jobs", From: 1, To: 7}, func(*inspect.Change) error { return nil })
				require.ErrorIs(t, err, inspect.ErrGenerationNotFound)
			})

			t.Run("HeaderAndMetadata", func(t *testing.T) {
				b, h, err := in.Header(ctx, "jobs", "jobs", 0)
				require.NoError(t, err)
				require.EqualValues(t, 3, b.Generation)
				require.Equal(t, "JobSource", h.Creator)
				require.True(t, h.CreateTime.Equal(inspecttest.T0.Add(time.Minute)))
				require.True(t, h.ExpirationTime.Equal(inspecttest.T0.Add(31*time.Minute)))
				_, m, err := in.Metadata(ctx, "jobs", "jobs", 1)
				require.NoError(t, err)
				require.EqualValues(t, 1, m.GenerationID)
				require.Equal(t, datablock.StateNew, m.State)
			})

			t.Run("History", func(t *testing.T) {
				vs, err := in.History(ctx, &inspect.HistoryParams{Name: "jobs", Key: "jobs"})
				require.NoError(t, err)
				require.Len(t, vs, 2)
				require.EqualValues(t, 2, vs[0].From)
				require.EqualValues(t, 0, vs[0].Until)
				require.EqualValues(t, 1, vs[1].From)
				require.EqualValues(t, 2, vs[1].Until)

				vs, err = in.History(ctx, &inspect.HistoryParams{Name: "jobs", Key: "jobs", Limit: 1})
				require.NoError(t, err)
				require.Len(t, vs, 1)
				vs, err = in.History(ctx, &inspect.HistoryParams{Name: "jobs", Key: "jobs", Until: inspecttest.T0.Add(30 * time.Second)})
				require.NoError(t, err)
				require.Len(t, vs, 1)
				require.EqualValues(t, 1, vs[0].From)
				vs, err = in.History(ctx, &inspect.HistoryParams{Name: "jobs", Key: "jobs", Since: inspecttest.T0.Add(time.Hour)})
				require.NoError(t, err)
				require.Empty(t, vs)
			})

			t.Run("Diff", func(t *testing.T) {
				var lines []string
				from, to, err := in.Diff(ctx, &inspect.DiffParams{Name: "jobs", From: 1, To: 3}, func(c *inspect.Change) error {
					lines = append(lines, fmt.Sprintf("%s %s %d %d +%d -%d %s", c.Key, c.Change, c.OldVersion, c.NewVersion, c.RowsAdded, c.RowsRemoved, c.Row))
					return nil
				})
				require.NoError(t, err)
				require.EqualValues(t, 1, from.Generation)
				require.EqualValues(t, 3, to.Generation)
				require.Equal(t, []string{
					`alerts added 0 3 +0 -0 `,
					`config rewritten 1 3 +0 -0 `,
					`facts changed 1 2 +0 -0 `,
					`facts -value 0 0 +0 -0 {"allow":true}`,
					`facts +value 0 0 +0 -0 {"allow":false}`,
					`jobs changed 1 2 +2 -1 `,
					`jobs -row 0 0 +0 -0 {"cpu":8,"id":2,"site":"CERN"}`,
					`jobs +row 0 0 +0 -0 {"cpu":16,"id":2,"site":"CERN"}`,
					`jobs +row 0 0 +0 -0 {"cpu":2,"id":3,"site":"DESY"}`,
				}, lines)

				lines = nil
				_, _, err = in.Diff(ctx, &inspect.DiffParams{Name: "jobs", From: 3, To: 2}, func(c *inspect.Change) error {
					lines = append(lines, c.Key+" "+c.Change)
					return nil
				})
				require.NoError(t, err)
				require.Equal(t, []string{"alerts removed", "config rewritten"}, lines)
			})

			t.Run("Status", func(t *testing.T) {
				st, err := in.Status(ctx)
				require.NoError(t, err)
				require.True(t, st.Now.Equal(now))
				require.Len(t, st.TaskManagers, 3)
				require.True(t, st.Reaper.Found)
				require.Equal(t, "IDLE", st.Reaper.State)
				require.Contains(t, string(st.Reaper.Report), `"generations_deleted":7`)
			})
		})
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			space := inspecttest.Seeded(t, backend)
			in := inspect.New(space.DataSource(), nil)

			tick := make(chan time.Time)
			flushed := make(chan struct{})
			var got []int64
			written := map[int64]int64{}
			done := make(chan error, 1)
			go func() {
				done <- in.Follow(ctx, &inspect.GenerationsParams{Name: "jobs", After: 1}, tick,
					func(g *inspect.Generation) error {
						got = append(got, g.Number)
						written[g.Number] = g.Written
						return nil
					},
					func() error { flushed <- struct{}{}; return nil })
			}()
			wait := func() {
				t.Helper()
				select {
				case <-flushed:
				case <-time.After(10 * time.Second):
					t.Fatal("follow did not list generations")
				}
			}
			wait()
			require.Equal(t, []int64{2, 3}, got)

			// A new generation is listed once its products are written (a
			// cycle opens it, runs its publishers, then writes), with its
			// final counts.
			b, err := space.DataBlock(ctx, "jobs")
			require.NoError(t, err)
			b4, err := b.Duplicate(ctx)
			require.NoError(t, err)
			tick <- time.Now()
			wait()
			require.Equal(t, []int64{2, 3}, got, "generation 4 is open and empty")
			require.NoError(t, b4.PutItems(ctx, datablock.Item{Key: "a", Value: 1}, datablock.Item{Key: "b", Value: 2}))
			tick <- time.Now()
			wait()
			require.Equal(t, []int64{2, 3, 4}, got)
			require.EqualValues(t, 2, written[4])

			// Generation 5, open and empty, waits.
			_, err = b4.Duplicate(ctx)
			require.NoError(t, err)
			tick <- time.Now()
			wait()
			require.Equal(t, []int64{2, 3, 4}, got)

			// A restarted task manager: what is left of the old instance,
			// then the new one from its generation 1.
			nb, err := space.NewDataBlock(ctx, "jobs")
			require.NoError(t, err)
			require.NoError(t, nb.Put(ctx, "a", 1))
			tick <- time.Now()
			wait()
			require.Equal(t, []int64{2, 3, 4, 5, 1}, got)

			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("follow did not stop")
			}
		})
	}
}

func TestEmptyDatabase(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			in := inspect.New(inspecttest.Open(t, backend).DataSource(), nil)
			tms, err := in.TaskManagers(ctx)
			require.NoError(t, err)
			require.Empty(t, tms)
			st, err := in.Status(ctx)
			require.NoError(t, err)
			require.False(t, st.Reaper.Found)
			_, _, err = in.Products(ctx, "jobs", 0)
			require.True(t, errors.Is(err, inspect.ErrTaskManagerNotFound))
		})
	}
}

func TestOddValues(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			space := inspecttest.Open(t, backend)
			b, err := space.DataBlock(ctx, "odd")
			require.NoError(t, err)
			require.NoError(t, b.PutItems(ctx,
				datablock.Item{Key: "bytes", Value: []byte("raw\x00bytes")},
				datablock.Item{Key: "mixed", Value: []any{map[string]any{"a": 1}, 2}},
				datablock.Item{Key: "empty", Value: []any{}},
				datablock.Item{Key: "ragged", Value: []map[string]any{{"b": 1, "a": "x"}, {"c": true, "a": nil}}},
				datablock.Item{Key: "big", Value: []map[string]any{{"n": json.Number("12345678901234567890"), "f": 0.1}}},
				// Rows are counted without decoding: brackets, braces, commas
				// and escaped quotes inside strings and nested values must
				// not count.
				datablock.Item{Key: "tricky", Value: []map[string]any{
					{"s": `}],{"[`, "t": `\"{`, "nested": []any{map[string]any{"x": []any{1, "]"}}, map[string]any{}}},
					{"s": "\\", "u": "é "},
					{},
				}},
				datablock.Item{Key: "arrays", Value: [][]int{{1}, {2}}},
				datablock.Item{Key: "lastnotobject", Value: []any{map[string]any{"a": 1}, map[string]any{"a": 2}, "x"}},
				datablock.Item{Key: "scalar", Value: 42},
			))
			in := inspect.New(space.DataSource(), nil)

			v, err := in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: "bytes"})
			require.NoError(t, err)
			require.False(t, v.Tabular)
			require.Equal(t, `"cmF3AGJ5dGVz"`, string(v.JSON), "raw bytes as base64")

			v, err = in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: "mixed"})
			require.NoError(t, err)
			require.False(t, v.Tabular, "an array with a non-object is not tabular")
			require.JSONEq(t, `[{"a":1},2]`, string(v.JSON))

			v, err = in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: "empty"})
			require.NoError(t, err)
			require.True(t, v.Tabular)
			require.Empty(t, v.Columns)
			require.Empty(t, rowsOf(t, v))

			v, err = in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: "ragged"})
			require.NoError(t, err)
			require.Equal(t, []string{"a", "b", "c"}, v.Columns)
			require.Equal(t, []string{`["x",1,null]`, `[null,null,true]`}, rowsOf(t, v))
			require.Equal(t, "string|null", v.Types[0].Types)
			require.EqualValues(t, 1, v.Types[0].Count)

			v, err = in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: "big", Query: "f < 1"})
			require.NoError(t, err)
			require.Equal(t, []string{`[0.1,12345678901234567890]`}, rowsOf(t, v), "numbers keep their digits")

			_, ps, err := in.Products(ctx, "odd", 0)
			require.NoError(t, err)
			rows := map[string]any{}
			for _, p := range ps {
				if p.Rows != nil {
					rows[p.Key] = *p.Rows
				} else {
					rows[p.Key] = nil
				}
			}
			require.Equal(t, map[string]any{
				"big": int64(1), "bytes": nil, "empty": int64(0), "mixed": nil, "ragged": int64(2),
				"tricky": int64(3), "arrays": nil, "lastnotobject": nil, "scalar": nil,
			}, rows)
			for _, p := range ps {
				v, err := in.Product(ctx, &inspect.ProductParams{Name: "odd", Key: p.Key})
				require.NoError(t, err, p.Key)
				require.Equal(t, p.Tabular, v.Tabular, "%s: listing and product agree", p.Key)
				if p.Tabular {
					require.Equal(t, *p.Rows, int64(len(rowsOf(t, v))), p.Key)
				}
			}
		})
	}
}

// TestAfterRetention inspects a task manager whose oldest generation the
// reaper deleted: errors name the generations that are left, and what
// is left still lists, reads and diffs.
func TestAfterRetention(t *testing.T) {
	t.Parallel()
	for _, backend := range inspecttest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			space := inspecttest.Seeded(t, backend)
			res, err := space.DataSource().DataDeleteBefore(ctx, &datasource.DataDeleteParams{Horizon: inspecttest.T0.Add(30 * time.Second)})
			require.NoError(t, err)
			require.EqualValues(t, 1, res.Generations, "generation 1 of jobs")
			in := inspect.New(space.DataSource(), nil)

			_, _, err = in.Products(ctx, "jobs", 1)
			require.ErrorIs(t, err, inspect.ErrGenerationNotFound)
			require.Contains(t, err.Error(), "unknown generation 1 of task manager \"jobs\" (it has generations 2 to 3;")

			var gens []int64
			require.NoError(t, in.Generations(ctx, &inspect.GenerationsParams{Name: "jobs"}, func(g *inspect.Generation) error {
				gens = append(gens, g.Number)
				return nil
			}))
			require.Equal(t, []int64{2, 3}, gens)
			_, ps, err := in.Products(ctx, "jobs", 2)
			require.NoError(t, err)
			require.Len(t, ps, 4, "config and publishers, written in generation 1, are still valid in 2")
			var changes []string
			_, _, err = in.Diff(ctx, &inspect.DiffParams{Name: "jobs", From: 2, To: 3}, func(c *inspect.Change) error {
				changes = append(changes, c.Key+" "+c.Change)
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, []string{"alerts added", "config rewritten"}, changes)
		})
	}
}

// TestListWhileWriting lists generations on SQLite while a write
// transaction holds the datasource's one writer connection: inspection
// reads through the reader pool, so it neither waits for the writer nor
// holds it up.
func TestListWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	space := inspecttest.Seeded(t, "sqlite")
	ds, ok := space.DataSource().(interface{ DB() *sqlx.DB })
	require.True(t, ok)
	tx, err := ds.DB().BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	var n int
	require.NoError(t, tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM generation"), "the writer connection is taken")

	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var gens []int64
	err = inspect.New(space.DataSource(), nil).Generations(lctx, &inspect.GenerationsParams{Name: "jobs"}, func(g *inspect.Generation) error {
		gens = append(gens, g.Number)
		return nil
	})
	require.NoError(t, err, "listing must not wait for the writer connection")
	require.Equal(t, []int64{1, 2, 3}, gens)
}
