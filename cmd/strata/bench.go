package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/internal/bench"
	"github.com/strata-dataspace/strata/internal/output"
)

func newBenchCmd(g *globals) *cobra.Command {
	var (
		workloads []string
		scale     float64
		keep      bool
		runs      int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the BENCH.md workloads against --db and print one row per figure",
		Long: `Runs the workloads of BENCH.md (W1–W7 for products, E1–E5 for events) against
the datasource named by --db, together with the raw-SQL references measured in the
same run (workloads named RAW-…). Each workload creates its own task managers
(named ` + bench.NamePrefix + `…) and removes them at the end unless --keep.

--scale multiplies BENCH.md's sizes (1 = the real workloads; 0.01 for a smoke run).

--runs N runs the workloads N times, one round after another, and prints each
figure's median with its lowest and highest value: BENCH.md's figures are medians
of several runs, because a shared machine's speed drifts. Between rounds the
round's task managers are removed; --keep keeps the last round's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.openDataSpace(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			env, err := bench.NewEnv(s, scale)
			if err != nil {
				return err
			}
			if runs < 1 {
				return fmt.Errorf("--runs %d: want 1 or more", runs)
			}
			if isTerminal(g.stderr) {
				env.Progress = terminalProgress(g)
			}
			t := &output.Table{Columns: []string{"workload", "backend", "metric", "value"}}
			if runs > 1 {
				t.Columns = append(t.Columns, "min", "max", "runs")
			}
			sums, runErr := bench.Repeat(ctx, env, splitList(workloads), runs)
			for _, s := range sums {
				row := []any{s.Workload, s.Backend, s.Metric, s.Value}
				if runs > 1 {
					row = append(row, s.Min, s.Max, s.Runs)
				}
				t.Add(row...)
			}
			if env.Progress != nil {
				fmt.Fprint(g.stderr, "\r\033[K")
			}
			if !keep {
				if err := env.Cleanup(context.WithoutCancel(ctx)); err != nil && runErr == nil {
					runErr = err
				}
			}
			if err := g.print(t); err != nil {
				return err
			}
			return runErr
		},
	}
	cmd.Flags().StringSliceVar(&workloads, "workload", nil, "workloads to run, comma-separated (default: all), e.g. W1,W3")
	cmd.Flags().Float64Var(&scale, "scale", 1, "multiply BENCH.md's sizes by this factor")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the task managers the workloads created")
	cmd.Flags().IntVar(&runs, "runs", 1, "run the workloads this many times and print each figure's median, min and max")
	return cmd
}

// terminalProgress redraws one status line on the terminal.
func terminalProgress(g *globals) func(workload, step string, done, total int) {
	var last time.Time
	return func(workload, step string, done, total int) {
		now := time.Now()
		if done < total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		fmt.Fprintf(g.stderr, "\r\033[K%s %s %d/%d (%d%%)", workload, step, done, total, done*100/max(total, 1))
	}
}

// splitList flattens repeated and comma-separated flag values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
