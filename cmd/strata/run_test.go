package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-dataspace/strata/datablock"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/pgtest"
	"github.com/strata-dataspace/strata/taskmanager"
)

// exampleChannelConfig writes examples/channel/channel.json into dir with
// its publishers writing into dir and its sources on a schedule of 1 ms,
// plus extra top-level sections.
func exampleChannelConfig(t *testing.T, dir string, extra map[string]any) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/channel/channel.json")
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(data, &cfg))
	for _, s := range cfg["sources"].(map[string]any) {
		s.(map[string]any)["schedule"] = "1ms"
	}
	for name, p := range cfg["publishers"].(map[string]any) {
		p.(map[string]any)["parameters"].(map[string]any)["path"] = filepath.Join(dir, name+".jsonl")
	}
	for k, v := range extra {
		cfg[k] = v
	}
	out, err := json.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(dir, "channel.json")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	return path
}

func TestRunCommand(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"SQLite": sqliteURL, "PostgreSQL": pgtest.NewDatabase} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			dir := t.TempDir()
			db := url(t)
			cfg := exampleChannelConfig(t, dir, nil)
			out, errOut, err := runStrata(t, "run", "--config", cfg, "--db", db, "--cycles", "3", "--addr", "127.0.0.1:0")
			require.NoError(t, err, errOut)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 3, out)
			require.Regexp(t, `^channel provisioning: generation 1, 8 products written, publishers run: `, lines[0])
			require.Regexp(t, `^channel provisioning: generation 3, \d+ products written, publishers run: `, lines[2])
			require.Contains(t, errOut, "listening")

			ctx := context.Background()
			space, err := dataspace.Open(ctx, db, nil)
			require.NoError(t, err)
			defer space.Close()
			b, err := space.DataBlock(ctx, "provisioning")
			require.NoError(t, err)
			require.Equal(t, int64(3), b.Generation())
			for g := int64(1); g <= 3; g++ {
				gb, err := b.At(ctx, g)
				require.NoError(t, err)
				keys, err := gb.Keys(ctx)
				require.NoError(t, err)
				require.Equal(t, []string{"capacity", "demand", "facts", "jobs", "offer_fom", "offers", "publishers", "requests"}, keys)
				facts, err := datablock.Get[taskmanager.Decision](ctx, gb, taskmanager.FactsKey)
				require.NoError(t, err)
				require.Contains(t, facts.Rules, "provision")
			}

			// A second run continues the same task manager instance.
			out, errOut, err = runStrata(t, "run", "--config", cfg, "--db", db, "--cycles", "2", "--addr", "", "--format", "json")
			require.NoError(t, err, errOut)
			var last taskmanager.CycleResult
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				require.NoError(t, json.Unmarshal([]byte(l), &last))
			}
			require.Equal(t, int64(5), last.Generation)
			require.NotNil(t, last.Decision)
		})
	}
}

func TestRunDataspaceSection(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "from-config.db")
	cfg := exampleChannelConfig(t, dir, map[string]any{"dataspace": map[string]any{
		"retention_interval_in_days": 30,
		"datasource":                 map[string]any{"config": map[string]any{"url": db}},
	}})
	_, errOut, err := runStrata(t, "run", "--config", cfg, "--cycles", "1", "--addr", "")
	require.NoError(t, err, errOut)
	require.FileExists(t, filepath.Join(dir, "from-config.db"))

	cfg = exampleChannelConfig(t, dir, map[string]any{"dataspace": map[string]any{
		"retention_interval_in_days": 1,
		"datasource":                 map[string]any{"config": map[string]any{"url": db}},
	}})
	_, _, err = runStrata(t, "run", "--config", cfg, "--cycles", "1", "--addr", "")
	require.ErrorContains(t, err, "below the floor of 7 days")
}

func TestRunErrors(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"sources": {"q": {"module": "jobqueue"}},
		"transforms": {"d": {"module": "demand"}, "c": {"module": "chooser"}}}`), 0o600))
	unknown := filepath.Join(dir, "unknown.json")
	require.NoError(t, os.WriteFile(unknown, []byte(`{"sources": {"q": {"module": "nosuch"}}}`), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"NoConfig", []string{"run"}, "--config FILE is required"},
		{"MissingFile", []string{"run", "--config", filepath.Join(dir, "nope.json")}, "nope.json"},
		{"GraphError", []string{"run", "--config", bad}, `product "offer_fom" consumed by transform "c" is produced by no module`},
		{"UnknownModule", []string{"run", "--config", unknown}, `no source module "nosuch" is registered`},
		{"NegativeCycles", []string{"run", "--config", bad, "--cycles", "-1"}, "--cycles -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runStrata(t, append(tc.args, "--db", sqliteURL(t), "--addr", "")...)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRunAddressBusy(t *testing.T) {
	t.Parallel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	cfg := exampleChannelConfig(t, dir, nil)
	_, _, err = runStrata(t, "run", "--config", cfg, "--db", sqliteURL(t), "--cycles", "1", "--addr", ln.Addr().String())
	require.ErrorContains(t, err, "listen on "+ln.Addr().String())
}
