package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
)

// runStrata runs the whole strata command line with args and returns its
// stdout, stderr and error (main prints the error and exits 1).
func runStrata(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmdIO(&out, &errOut)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
}

func TestDBStatusAndMigrate(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"SQLite": sqliteURL, "Postgres": pgtest.NewDatabase} {
		t.Run(name, func(t *testing.T) {
			db := url(t)
			var rows []map[string]any
			if name == "SQLite" {
				// Looking at a file that does not exist does not create it.
				_, _, err := runStrata(t, "db", "status", "--db", db)
				require.ErrorContains(t, err, "does not exist")
				_, _, err = runStrata(t, "inspect", "taskmanagers", "--db", db)
				require.ErrorContains(t, err, "does not exist")
				path := strings.TrimPrefix(db, "sqlite://")
				_, statErr := os.Stat(path)
				require.ErrorIs(t, statErr, fs.ErrNotExist)
			} else {
				// Before any migration: version 0 and a hint.
				out, stderr, err := runStrata(t, "db", "status", "--db", db, "--format", "json")
				require.NoError(t, err)
				require.Contains(t, stderr, "strata db migrate")
				require.NoError(t, json.Unmarshal([]byte(out), &rows))
				require.Len(t, rows, 1)
				require.EqualValues(t, 0, rows[0]["schema_version"])
			}

			out, _, err := runStrata(t, "db", "migrate", "--db", db)
			require.NoError(t, err)
			require.Contains(t, out, "schema at version")

			ctx := context.Background()
			space, err := dataspace.Open(ctx, db, nil)
			require.NoError(t, err)
			b, err := space.NewDataBlock(ctx, "channel")
			require.NoError(t, err)
			require.NoError(t, b.Put(ctx, "jobs", []int{1, 2, 3}))
			_, err = b.Duplicate(ctx)
			require.NoError(t, err)
			require.NoError(t, space.Close())

			out, _, err = runStrata(t, "db", "status", "--db", db, "--format", "json")
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal([]byte(out), &rows))
			require.Positive(t, rows[0]["schema_version"])
			require.EqualValues(t, 1, rows[0]["taskmanagers"])
			require.EqualValues(t, 2, rows[0]["generations"])
			require.EqualValues(t, 1, rows[0]["product_versions"])
			require.Positive(t, rows[0]["value_bytes"])
		})
	}
}

func TestBenchJSON(t *testing.T) {
	db := sqliteURL(t)
	out, _, err := runStrata(t, "bench", "--db", db, "--scale", "0.002", "--workload", "W3,W5", "--format", "json")
	require.NoError(t, err)
	var figures []struct {
		Workload string   `json:"workload"`
		Backend  string   `json:"backend"`
		Metric   string   `json:"metric"`
		Value    *float64 `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &figures), out)
	seen := map[string]bool{}
	for _, f := range figures {
		require.Equal(t, "sqlite", f.Backend)
		require.NotNil(t, f.Value, "%s %s has no value", f.Workload, f.Metric)
		seen[f.Workload+" "+f.Metric] = true
	}
	for _, want := range []string{"W3 ms_per_duplicate", "W3b ms_per_duplicate", "RAW-W3 ms_per_copy", "W5 lookups_per_s", "RAW-W5 lookups_per_s"} {
		require.True(t, seen[want], "missing %s in %s", want, out)
	}
	// The run cleaned up after itself.
	out, _, err = runStrata(t, "db", "status", "--db", db, "--format", "json")
	require.NoError(t, err)
	require.Contains(t, out, `"taskmanagers": 0`)
}

// TestBenchRuns checks that --runs prints each figure's median with its
// lowest and highest value over the rounds.
func TestBenchRuns(t *testing.T) {
	db := sqliteURL(t)
	out, _, err := runStrata(t, "bench", "--db", db, "--scale", "0.01", "--workload", "E4", "--runs", "3", "--format", "json")
	require.NoError(t, err)
	var figures []struct {
		Workload string  `json:"workload"`
		Metric   string  `json:"metric"`
		Value    float64 `json:"value"`
		Min      float64 `json:"min"`
		Max      float64 `json:"max"`
		Runs     int     `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &figures), out)
	seen := map[string]bool{}
	for _, f := range figures {
		seen[f.Workload+" "+f.Metric] = true
		require.Equal(t, 3, f.Runs, "%s %s", f.Workload, f.Metric)
		require.Positive(t, f.Min, "%s %s", f.Workload, f.Metric)
		require.LessOrEqual(t, f.Min, f.Value, "%s %s", f.Workload, f.Metric)
		require.LessOrEqual(t, f.Value, f.Max, "%s %s", f.Workload, f.Metric)
	}
	require.Len(t, figures, 3, out)
	for _, want := range []string{"E4 event_types_queries_per_s", "E4 trait_types_queries_per_s", "RAW-E4 select_1_queries_per_s"} {
		require.True(t, seen[want], "missing %s in %s", want, out)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badConfig, []byte(`{"dataspace": {"retention_interval_in_days": "often", "datasource": {"config": {"url": "sqlite://:memory:"}}}}`), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownFormat", []string{"db", "status", "--format", "xml"}, `unknown output format "xml"`},
		{"UnknownScheme", []string{"db", "status", "--db", "mysql://db/x"}, "mysql"},
		{"MissingDirectory", []string{"db", "migrate", "--db", "sqlite://" + filepath.Join(dir, "no", "such", "x.db")}, "no"},
		{"MalformedConfig", []string{"db", "status", "--config", badConfig}, "retention_interval_in_days"},
		{"MissingConfig", []string{"db", "status", "--config", filepath.Join(dir, "none.json")}, "none.json"},
		{"UnknownWorkload", []string{"bench", "--db", sqliteURL(t), "--workload", "W42"}, `unknown workload "W42"`},
		{"BadScale", []string{"bench", "--db", sqliteURL(t), "--scale", "-1"}, "scale"},
		{"BadRuns", []string{"bench", "--db", sqliteURL(t), "--runs", "0"}, "--runs 0: want 1 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runStrata(t, tc.args...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
