package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/events"
	"github.com/strata-dataspace/strata/internal/output"
	"github.com/strata-dataspace/strata/reaper"
)

// reaperFlags are the flags of `strata reaper`.
type reaperFlags struct {
	once      bool
	dryRun    bool
	retention string
	interval  string
	delay     string
	batch     int
}

func newReaperCmd(g *globals) *cobra.Command {
	f := &reaperFlags{}
	cmd := &cobra.Command{
		Use:   "reaper",
		Short: "Run the reaper alone: delete data past the retention, as a daemon or --once",
		Long: `Deletes the generations older than the retention (the newest generation of every
task manager stays), the product versions only they used, task manager instances left
with nothing, product versions that expired before the retention horizon and are no
longer current, and expired events, in short batched transactions.

Settings come from the --config file's dataspace section (retention_interval_in_days,
reaper_run_interval, reaper_start_delay_seconds), overridden by the flags. Durations
take Go syntax ("36h", "90m") or whole days ("30d"). Safety floors: retention of at
least 7 days and at least 7080 s between runs.

Without --once it runs until SIGINT or SIGTERM and prints the report of every run;
with --format json each report is one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReaper(cmd.Context(), g, f, cmd)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.once, "once", false, "run once, print the report and exit")
	fl.BoolVar(&f.dryRun, "dry-run", false, "count what would be deleted without deleting anything")
	fl.StringVar(&f.retention, "retention", "", `how long generations are kept, e.g. "30d" (default: the config's, else 365d)`)
	fl.StringVar(&f.interval, "interval", "", `time between runs, e.g. "24h" (default: the config's, else 24h)`)
	fl.StringVar(&f.delay, "delay", "", `wait before the first run, e.g. "30m" (default: the config's reaper_start_delay_seconds, else none)`)
	fl.IntVar(&f.batch, "batch", 0, "rows deleted per transaction (default 5000)")
	return cmd
}

// reaperConfig builds the reaper's configuration from the dataspace
// configuration and the flags; it returns the start delay too.
func (f *reaperFlags) reaperConfig(dc *dataspace.Config, cmd *cobra.Command) (reaper.Config, time.Duration, error) {
	cfg := reaper.ConfigFrom(*dc)
	for _, d := range []struct {
		flag string
		val  string
		dst  *time.Duration
	}{
		{"retention", f.retention, &cfg.Retention},
		{"interval", f.interval, &cfg.Interval},
		{"delay", f.delay, &cfg.StartDelay},
	} {
		if !cmd.Flags().Changed(d.flag) {
			continue
		}
		v, err := dataspace.ParseDurationString(d.val)
		if err != nil {
			return cfg, 0, fmt.Errorf("--%s: %w", d.flag, err)
		}
		*d.dst = v
	}
	if f.batch < 0 {
		return cfg, 0, fmt.Errorf("--batch %d: want a positive number of rows", f.batch)
	}
	cfg.BatchSize = f.batch
	cfg.DryRun = f.dryRun
	return cfg, cfg.StartDelay, nil
}

func runReaper(ctx context.Context, g *globals, f *reaperFlags, cmd *cobra.Command) error {
	dc, err := g.dataspaceConfig()
	if err != nil {
		return err
	}
	cfg, delay, err := f.reaperConfig(dc, cmd)
	if err != nil {
		return err
	}
	space, err := openConfig(ctx, dc)
	if err != nil {
		return err
	}
	defer space.Close()

	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "strata", Output: g.stderr, Level: hclog.Info})
	addEventExpirer(ctx, space, &cfg, cfg.Logger)
	var printMu sync.Mutex
	var printErr error
	if !f.once {
		cfg.OnRun = func(rep *reaper.Report, _ error) {
			printMu.Lock()
			defer printMu.Unlock()
			if err := printReport(g, rep, false); err != nil && printErr == nil {
				printErr = err
			}
		}
	}
	r, err := reaper.New(space, &cfg)
	if err != nil {
		return err
	}

	if f.once {
		rep, runErr := r.RunOnce(ctx)
		if err := printReport(g, rep, true); err != nil {
			return err
		}
		if runErr != nil {
			return fmt.Errorf("reaper run: %w", runErr)
		}
		return nil
	}

	if err := r.Start(ctx, delay); err != nil {
		return err
	}
	cfg.Logger.Info("reaper started", "delay", delay, "interval", r.Config().Interval,
		"retention", r.Config().Retention, "dry_run", cfg.DryRun, "db", dataspace.Redact(space.Config().URL))
	<-ctx.Done()
	r.Stop()
	cfg.Logger.Info("reaper stopped", "runs", r.Status().Runs)
	printMu.Lock()
	defer printMu.Unlock()
	return printErr
}

// printReport prints a run report: JSON (indented when alone, else one
// line per run), or a summary line and one row per kind.
func printReport(g *globals, rep *reaper.Report, alone bool) error {
	if g.format == "json" {
		var b []byte
		var err error
		if alone {
			b, err = json.MarshalIndent(rep, "", "  ")
		} else {
			b, err = json.Marshal(rep)
		}
		if err != nil {
			return fmt.Errorf("print reaper report: %w", err)
		}
		_, err = fmt.Fprintf(g.stdout, "%s\n", b)
		return err
	}
	if g.format == "table" {
		if _, err := fmt.Fprintln(g.stdout, reportSummary(rep)); err != nil {
			return err
		}
	}
	t := &output.Table{Columns: []string{"kind", "rows", "bytes"}}
	for _, k := range rep.Kinds() {
		t.Add(k.Kind, k.Rows, k.Bytes)
	}
	return g.print(t)
}

// reportSummary is one line saying what a run did.
func reportSummary(rep *reaper.Report) string {
	what := "reaper run"
	if rep.DryRun {
		what = "reaper dry run (nothing deleted)"
	}
	s := fmt.Sprintf("%s at %s: horizon %s, %d rows, %d bytes in %.3f s (%d batches, longest %.1f ms)",
		what, rep.Started.UTC().Format(time.RFC3339), rep.Horizon.UTC().Format(time.RFC3339),
		rep.Rows(), rep.Bytes(), rep.Duration().Seconds(), rep.Batches, rep.MaxBatchMS)
	if rep.Skipped {
		s = fmt.Sprintf("%s at %s skipped: %s", what, rep.Started.UTC().Format(time.RFC3339), rep.SkipReason)
	}
	if rep.LastError != "" {
		s += "; error: " + rep.LastError
	}
	return s
}

// addEventExpirer makes the reaper's runs also remove expired events (the
// event store of space); without one they are left alone, with a warning.
func addEventExpirer(ctx context.Context, space *dataspace.DataSpace, cfg *reaper.Config, log hclog.Logger) {
	store, err := events.Open(ctx, space, nil)
	if err != nil {
		log.Warn("the reaper leaves expired events alone", "error", err)
		return
	}
	cfg.Expirers = append(cfg.Expirers, store)
}
