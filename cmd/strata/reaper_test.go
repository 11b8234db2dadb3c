package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/reaper"
)

// runReaperCmd runs `strata reaper ARGS…` against db with ctx.
func runReaperCmd(ctx context.Context, db, format string, stdout io.Writer, args ...string) (string, error) {
	var errOut bytes.Buffer
	g := &globals{db: db, format: format, stdout: stdout, stderr: &errOut}
	cmd := newReaperCmd(g)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	return errOut.String(), err
}

// seedOld writes a task manager with three daily generations 30 days old,
// one product rewritten at each.
func seedOld(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	s, err := dataspace.Open(ctx, db, nil)
	require.NoError(t, err)
	defer s.Close()
	at := time.Now().Add(-30 * 24 * time.Hour)
	b, err := datablock.New(ctx, s.DataSource(), "old", &datablock.Options{Clock: func() time.Time { return at }})
	require.NoError(t, err)
	for g := 1; g <= 3; g++ {
		if g > 1 {
			at = at.Add(24 * time.Hour)
			b, err = b.Duplicate(ctx)
			require.NoError(t, err)
		}
		require.NoError(t, b.Put(ctx, "p", g))
	}
}

func TestReaperCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			newDB := func(t *testing.T) string {
				if backend == "postgres" {
					return pgtest.NewDatabase(t)
				}
				return "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
			}

			t.Run("OnceDryRunThenOnceJSON", func(t *testing.T) {
				t.Parallel()
				db := newDB(t)
				seedOld(t, db)

				out := newSignalWriter()
				_, err := runReaperCmd(ctx, db, "table", out, "--once", "--dry-run", "--retention", "7d")
				require.NoError(t, err)
				require.Contains(t, out.String(), "reaper dry run (nothing deleted)")
				require.Regexp(t, `generations\s+2\s`, out.String())

				out = newSignalWriter()
				_, err = runReaperCmd(ctx, db, "json", out, "--once", "--retention", "7d", "--batch", "1")
				require.NoError(t, err)
				var rep reaper.Report
				require.NoError(t, json.Unmarshal([]byte(out.String()), &rep))
				require.False(t, rep.DryRun)
				require.Equal(t, int64(2), rep.Generations.Rows)
				require.Equal(t, int64(2), rep.ProductVersions.Rows)
				require.Equal(t, 1, rep.BatchSize)
				require.Equal(t, float64(7*24*3600), rep.RetentionSeconds)

				s, err := dataspace.Open(ctx, db, nil)
				require.NoError(t, err)
				defer s.Close()
				last, err := reaper.LastReport(ctx, s)
				require.NoError(t, err)
				require.Equal(t, rep.Rows(), last.Rows())
				b, err := s.DataBlock(ctx, "old")
				require.NoError(t, err)
				v, err := datablock.Get[int](ctx, b, "p")
				require.NoError(t, err)
				require.Equal(t, 3, v, "the newest generation stays")
			})

			t.Run("DaemonRunsUntilCancelled", func(t *testing.T) {
				t.Parallel()
				db := newDB(t)
				seedOld(t, db)
				cctx, cancel := context.WithCancel(ctx)
				defer cancel()
				out := newSignalWriter()
				go func() {
					select {
					case <-out.writes: // the first run's report
					case <-time.After(60 * time.Second):
					}
					cancel()
				}()
				stderr, err := runReaperCmd(cctx, db, "json", out, "--retention", "7d", "--interval", "2h")
				require.NoError(t, err)
				line, _, _ := strings.Cut(out.String(), "\n")
				var rep reaper.Report
				require.NoError(t, json.Unmarshal([]byte(line), &rep))
				require.Equal(t, int64(2), rep.Generations.Rows)
				require.Contains(t, stderr, "reaper stopped")
			})
		})
	}

	t.Run("ConfigFileWithTheOriginalKeys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db := "sqlite://" + filepath.Join(dir, "strata.db")
		seedOld(t, db)
		cfg := filepath.Join(dir, "config.json")
		require.NoError(t, os.WriteFile(cfg, []byte(`{"dataspace": {"retention_interval_in_days": 8,
			"reaper_run_interval": 7080, "reaper_start_delay_seconds": 1818,
			"datasource": {"config": {"url": "`+db+`"}}}}`), 0o600))
		var errOut bytes.Buffer
		out := newSignalWriter()
		g := &globals{config: cfg, format: "json", stdout: out, stderr: &errOut}
		cmd := newReaperCmd(g)
		cmd.SetArgs([]string{"--once"})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		require.NoError(t, cmd.ExecuteContext(ctx))
		var rep reaper.Report
		require.NoError(t, json.Unmarshal([]byte(out.String()), &rep))
		require.Equal(t, float64(8*24*3600), rep.RetentionSeconds)
		require.Equal(t, int64(2), rep.Generations.Rows)

		// A retention below the floor in the file is refused, naming the key.
		require.NoError(t, os.WriteFile(cfg, []byte(`{"dataspace": {"retention_interval_in_days": 2,
			"datasource": {"config": {"url": "`+db+`"}}}}`), 0o600))
		cmd = newReaperCmd(g)
		cmd.SetArgs([]string{"--once"})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		require.ErrorContains(t, cmd.ExecuteContext(ctx), "retention_interval_in_days")
	})

	t.Run("BadFlags", func(t *testing.T) {
		t.Parallel()
		db := "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"--once", "--retention", "3d"}, "retention_interval_in_days"},
			{[]string{"--once", "--interval", "1h"}, "reaper_run_interval"},
			{[]string{"--once", "--retention", "soon"}, "--retention"},
			{[]string{"--once", "--batch", "-5"}, "--batch -5"},
		}
		for _, tc := range cases {
			out := newSignalWriter()
			_, err := runReaperCmd(ctx, db, "table", out, tc.args...)
			require.ErrorContains(t, err, tc.want, tc.args)
		}
		_, err := runReaperCmd(ctx, db, "table", newSignalWriter(), "--once", "--retention", "3d")
		require.ErrorIs(t, err, reaper.ErrConfig)
	})
}
