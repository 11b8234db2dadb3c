package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/inspect"
	"github.com/strata-dataspace/strata/internal/output"
)

func newInspectCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show task managers, generations, products, their history and diffs",
		Long: `Inspect what pipelines decided and why: task managers, their generations,
the products of a generation (a tabular product, a JSON array of objects,
prints as a table), a product's header, metadata and history, the diff of
two generations and the status of every channel and of the reaper.

A task manager is named by its name; its newest instance is shown.
--generation defaults to the newest generation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newInspectTaskManagersCmd(g),
		newInspectGenerationsCmd(g),
		newInspectProductsCmd(g),
		newInspectProductCmd(g),
		newInspectHeaderCmd(g, "header"),
		newInspectHeaderCmd(g, "metadata"),
		newInspectHistoryCmd(g),
		newInspectDiffCmd(g),
		newInspectStatusCmd(g),
	)
	return cmd
}

// withInspector opens the dataspace and runs fn with an Inspector over it.
func withInspector(g *globals, cmd *cobra.Command, fn func(ctx context.Context, in *inspect.Inspector, w io.Writer) error) error {
	ctx := cmd.Context()
	s, err := g.openExistingDataSpace(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, inspect.New(s.DataSource(), nil), g.stdout)
}

// parseGeneration reads a generation number argument.
func parseGeneration(s, what string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q is not a generation number: want a whole number from 1", what, s)
	}
	return n, nil
}

func newInspectTaskManagersCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "taskmanagers",
		Aliases: []string{"tm"},
		Short:   "List task managers: name, id, started, last generation, last cycle, products",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				tms, err := in.TaskManagers(ctx)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"name", "id", "started", "last_generation", "last_cycle", "products", "instances"}}
				for _, tm := range tms {
					t.Add(tm.Name, tm.ID, tm.Started, tm.LastGeneration, tm.LastCycle, tm.Products, tm.Instances)
				}
				return output.Write(w, g.format, t)
			})
		},
	}
}

var generationColumns = []string{"generation", "time", "written", "bytes", "sealed", "sealed_at"}

func newInspectGenerationsCmd(g *globals) *cobra.Command {
	var (
		after    int64
		limit    int
		follow   bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "generations NAME",
		Short: "List a task manager's generations: number, time, products written, bytes, sealed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval %s: want a positive duration such as 2s", interval)
			}
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				rw, err := output.NewRowWriter(w, g.format, generationColumns)
				if err != nil {
					return err
				}
				row := func(gen *inspect.Generation) error {
					return rw.Write(gen.Number, gen.Time, gen.Written, gen.Bytes, gen.Sealed, gen.SealedAt)
				}
				p := &inspect.GenerationsParams{Name: args[0], After: after, Limit: limit}
				if follow {
					if limit != 0 {
						return fmt.Errorf("--limit and --follow do not go together: --follow lists every new generation")
					}
					ticker := time.NewTicker(interval)
					defer ticker.Stop()
					if err := in.Follow(ctx, p, ticker.C, row, rw.Flush); err != nil {
						return err
					}
					return rw.Close()
				}
				if err := in.Generations(ctx, p, row); err != nil {
					return err
				}
				return rw.Close()
			})
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "list generations after this number")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many generations (0: all)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep running and print new generations as they appear (Ctrl-C stops)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "with --follow, how often to look for new generations")
	return cmd
}

func newInspectProductsCmd(g *globals) *cobra.Command {
	var gen int64
	cmd := &cobra.Command{
		Use:   "products NAME",
		Short: "List the products of a generation: key, creator, created, expires, size, rows if tabular",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				_, ps, err := in.Products(ctx, args[0], gen)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"key", "creator", "created", "expires", "size", "raw_size", "rows", "generation", "state"}}
				for _, p := range ps {
					var rows any
					if p.Rows != nil {
						rows = *p.Rows
					}
					t.Add(p.Key, p.Creator, p.Created, p.Expires, p.Size, p.RawSize, rows, p.Generation, p.State)
				}
				return output.Write(w, g.format, t)
			})
		},
	}
	cmd.Flags().Int64VarP(&gen, "generation", "g", 0, "generation to list (default: the newest)")
	return cmd
}

func newInspectProductCmd(g *globals) *cobra.Command {
	var (
		gen     int64
		columns []string
		query   string
		types   bool
	)
	cmd := &cobra.Command{
		Use:   "product NAME KEY",
		Short: "Print a product: a table for a JSON array of objects, JSON otherwise",
		Long: `Print a product's value. A tabular product (a JSON array of objects)
prints as a table; --columns picks columns and --query keeps the rows for
which an expression is true, e.g.

  strata inspect product jobs jobs --query 'cpu > 4 && site in ["FNAL", "CERN"]'

The expression language is expr (https://expr-lang.org); a row's columns are
its variables ($env["odd-name"] reaches other names). Queries run in Strata,
never as SQL. --types prints each column's JSON types instead of the rows.
Other values print as JSON.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				v, err := in.Product(ctx, &inspect.ProductParams{Name: args[0], Key: args[1], Generation: gen, Columns: columns, Query: query})
				if err != nil {
					return err
				}
				if !v.Tabular {
					if types {
						return fmt.Errorf("--types needs a tabular product (a JSON array of objects) and %q is not one", args[1])
					}
					return printJSON(w, v.JSON)
				}
				if types {
					t := &output.Table{Columns: []string{"column", "types", "count"}}
					for _, c := range v.Types {
						t.Add(c.Column, c.Types, c.Count)
					}
					return output.Write(w, g.format, t)
				}
				rw, err := output.NewRowWriter(w, g.format, v.Columns)
				if err != nil {
					return err
				}
				if err := v.Rows(func(row []any) error { return rw.Write(row...) }); err != nil {
					return err
				}
				return rw.Close()
			})
		},
	}
	cmd.Flags().Int64VarP(&gen, "generation", "g", 0, "generation to read (default: the newest)")
	cmd.Flags().StringSliceVar(&columns, "columns", nil, "columns to print, in order (comma-separated)")
	cmd.Flags().StringVarP(&query, "query", "q", "", "keep the rows for which this expression is true")
	cmd.Flags().BoolVar(&types, "types", false, "print the columns and their JSON types instead of the rows")
	return cmd
}

// printJSON prints a JSON value indented.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func newInspectHeaderCmd(g *globals, which string) *cobra.Command {
	var gen int64
	cmd := &cobra.Command{
		Use:   which + " NAME KEY",
		Short: "Print a product's " + which,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				var t *output.Table
				if which == "header" {
					b, h, err := in.Header(ctx, args[0], args[1], gen)
					if err != nil {
						return err
					}
					t = &output.Table{Columns: []string{"taskmanager", "generation", "key", "create_time", "expiration_time", "scheduled_create_time", "creator", "schema_id"}}
					t.Add(b.TaskManager, b.Generation, args[1], h.CreateTime, h.ExpirationTime, h.ScheduledCreateTime, h.Creator, h.SchemaID)
				} else {
					b, m, err := in.Metadata(ctx, args[0], args[1], gen)
					if err != nil {
						return err
					}
					t = &output.Table{Columns: []string{"taskmanager", "generation", "key", "state", "generation_id", "generation_time", "missed_update_count"}}
					t.Add(b.TaskManager, b.Generation, args[1], string(m.State), m.GenerationID, m.GenerationTime, m.MissedUpdateCount)
				}
				return output.Write(w, g.format, t)
			})
		},
	}
	cmd.Flags().Int64VarP(&gen, "generation", "g", 0, "generation to read (default: the newest)")
	return cmd
}

// parseTime reads --since/--until: RFC 3339, a date, or a duration ago
// ("36h", "7d").
func parseTime(s, flag string, now time.Time) (time.Time, error) {
	t, err := dataspace.ParseTimeOrAgo(s, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return t, nil
}

func newInspectHistoryCmd(g *globals) *cobra.Command {
	var (
		since, until string
		limit        int
	)
	cmd := &cobra.Command{
		Use:   "history NAME KEY",
		Short: "List the versions of a product across generations, newest first",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			s, err := parseTime(since, "--since", now)
			if err != nil {
				return err
			}
			u, err := parseTime(until, "--until", now)
			if err != nil {
				return err
			}
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				vs, err := in.History(ctx, &inspect.HistoryParams{Name: args[0], Key: args[1], Since: s, Until: u, Limit: limit})
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"from_generation", "until_generation", "created", "expires", "creator", "state", "size", "raw_size"}}
				for _, v := range vs {
					var until any
					if v.Until != 0 {
						until = v.Until
					}
					t.Add(v.From, until, v.Created, v.Expires, v.Creator, v.State, v.Size, v.RawSize)
				}
				return output.Write(w, g.format, t)
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only versions created at or after this time (RFC 3339, a date, or a duration ago: 36h, 7d)")
	cmd.Flags().StringVar(&until, "until", "", "only versions created at or before this time")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many versions, newest first (0: all)")
	return cmd
}

func newInspectDiffCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff NAME G1 G2",
		Short: "Show the products added, removed and changed from generation G1 to G2, row by row for tabular ones",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseGeneration(args[1], "G1")
			if err != nil {
				return err
			}
			to, err := parseGeneration(args[2], "G2")
			if err != nil {
				return err
			}
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				rw, err := output.NewRowWriter(w, g.format, []string{"key", "change", "old_version", "new_version", "old_size", "new_size", "rows_added", "rows_removed", "row"})
				if err != nil {
					return err
				}
				opt := func(n int64) any {
					if n == 0 {
						return nil
					}
					return n
				}
				_, _, err = in.Diff(ctx, &inspect.DiffParams{Name: args[0], From: from, To: to}, func(c *inspect.Change) error {
					var row any
					if c.Row != nil {
						row = c.Row
					}
					return rw.Write(c.Key, c.Change, opt(c.OldVersion), opt(c.NewVersion), opt(c.OldSize), opt(c.NewSize), opt(c.RowsAdded), opt(c.RowsRemoved), row)
				})
				if err != nil {
					return err
				}
				return rw.Close()
			})
		},
	}
}

// age is how long ago t was, to the second, as text ("1h2m3s") in every
// format: a time.Duration would be nanoseconds in JSON and "17s" in a table.
func age(now, t time.Time) string {
	return now.Sub(t).Truncate(time.Second).String()
}

func newInspectStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show every task manager's last generation and cycle time, and the reaper's last report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(g, cmd, func(ctx context.Context, in *inspect.Inspector, w io.Writer) error {
				st, err := in.Status(ctx)
				if err != nil {
					return err
				}
				t := &output.Table{Columns: []string{"kind", "name", "last_generation", "last_cycle", "age", "products", "state", "detail"}}
				for _, tm := range st.TaskManagers {
					t.Add("taskmanager", tm.Name, tm.LastGeneration, tm.LastCycle, age(st.Now, tm.LastCycle), tm.Products, nil, nil)
				}
				r := st.Reaper
				if r.Found {
					var compact bytes.Buffer
					if json.Compact(&compact, r.Report) != nil {
						compact.Reset()
						compact.Write(r.Report)
					}
					t.Add("reaper", inspect.ReaperName, r.Generation, r.Time, age(st.Now, r.Time), nil, r.State, json.RawMessage(compact.Bytes()))
				} else {
					t.Add("reaper", inspect.ReaperName, nil, nil, nil, nil, "no report",
						strings.Join([]string{"the reaper has not recorded a run (product", inspect.ReaperReportKey, "of task manager", inspect.ReaperName + ")"}, " "))
				}
				return output.Write(w, g.format, t)
			})
		},
	}
}
