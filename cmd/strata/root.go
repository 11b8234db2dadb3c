package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dataspace/strata/datasource/sqlite"
	"github.com/strata-dataspace/strata/dataspace"
	"github.com/strata-dataspace/strata/internal/output"
)

// globals are the flags every command takes.
type globals struct {
	db     string
	config string
	format string
	stdout io.Writer
	stderr io.Writer
}

func newRootCmd() *cobra.Command { return newRootCmdIO(os.Stdout, os.Stderr) }

// newRootCmdIO returns the strata command writing to stdout and stderr.
func newRootCmdIO(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Generational data products: run channels, reap, inspect, serve",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return output.CheckFormat(g.format)
		},
	}
	root.PersistentFlags().StringVar(&g.db, "db", "", "datasource URL (default: $STRATA_DB, the --config file's, else "+dataspace.DefaultURL+")")
	root.PersistentFlags().StringVar(&g.config, "config", "", "configuration file (JSON) with a dataspace section")
	root.PersistentFlags().StringVar(&g.format, "format", "table", "output format: table, json, csv or vertical")
	root.AddCommand(
		newDBCmd(g),
		newBenchCmd(g),
		newServeCmd(g),
		newEventsCmd(g),
		newInspectCmd(g),
		newReaperCmd(g),
		newRunCmd(g),
	)
	return root
}

// dataspaceConfig resolves the configuration: --config, then --db (which
// wins over the file's URL), then $STRATA_DB, then the default.
func (g *globals) dataspaceConfig() (*dataspace.Config, error) {
	cfg := &dataspace.Config{}
	if g.config != "" {
		c, err := dataspace.LoadConfig(g.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	g.resolveURL(cfg)
	return cfg, nil
}

// resolveURL sets cfg.URL: --db wins over the configured URL, then
// $STRATA_DB, then the default.
func (g *globals) resolveURL(cfg *dataspace.Config) {
	switch {
	case g.db != "":
		cfg.URL = g.db
	case cfg.URL == "" && os.Getenv("STRATA_DB") != "":
		cfg.URL = os.Getenv("STRATA_DB")
	case cfg.URL == "":
		cfg.URL = dataspace.DefaultURL
	}
}

// openDataSpace opens (and migrates) the configured dataspace.
func (g *globals) openDataSpace(ctx context.Context) (*dataspace.DataSpace, error) {
	cfg, err := g.dataspaceConfig()
	if err != nil {
		return nil, err
	}
	return openConfig(ctx, cfg)
}

// openConfig opens the dataspace cfg describes (migrating it unless
// cfg.SkipMigrate), naming the redacted URL when that fails.
func openConfig(ctx context.Context, cfg *dataspace.Config) (*dataspace.DataSpace, error) {
	s, err := dataspace.OpenConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dataspace.Redact(cfg.URL), err)
	}
	return s, nil
}

// openExistingDataSpace is openDataSpace for commands that only look: a
// SQLite file that does not exist is an error (a mistyped --db would
// otherwise create an empty database and show nothing).
func (g *globals) openExistingDataSpace(ctx context.Context) (*dataspace.DataSpace, error) {
	cfg, err := g.dataspaceConfig()
	if err != nil {
		return nil, err
	}
	if err := checkExists(cfg.URL); err != nil {
		return nil, err
	}
	return openConfig(ctx, cfg)
}

// checkExists fails when url names a SQLite file that does not exist.
func checkExists(url string) error {
	if !strings.HasPrefix(url, "sqlite://") {
		return nil
	}
	path, _, err := sqlite.ParseURL(url)
	if err != nil || path == sqlite.MemoryPath {
		return nil // Open reports a bad URL
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite database %s does not exist: check --db (or $STRATA_DB), or create it with strata run or strata db migrate", path)
	}
	return nil
}

// print writes a table in the chosen --format.
func (g *globals) print(t *output.Table) error { return output.Write(g.stdout, g.format, t) }
